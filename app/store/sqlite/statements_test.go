package sqlite

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

// openTemp opens a store in a new temporary folder, closed when the test ends.
func openTemp(t *testing.T) *DB {
	t.Helper()
	s, err := Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A statement already kept is given at once even while another query waits
// for a pooled connection to be prepared on: a caller holding a connection
// (a transaction, rows being read) may need a kept statement to finish and
// give its connection back. When the cache was locked across preparing,
// every query of a reconnect storm's first second stalled until its deadline.
func TestKeptStatementWhilePreparing(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if err := s.queryRow(ctx, `SELECT 1`).Scan(new(int)); err != nil {
		t.Fatal(err)
	}
	// Every pooled connection taken, as by callers in the middle of their work.
	var held []*sql.Conn
	for range s.db.Stats().MaxOpenConnections {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	release := func() {
		for _, c := range held {
			c.Close()
		}
		held = nil
	}
	defer release()

	preparing := make(chan error, 1)
	go func() {
		err := s.queryRow(ctx, `SELECT 2`).Scan(new(int)) // waits for a connection to prepare on
		preparing <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.db.Stats().WaitCount == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the new query never waited for a connection")
		}
		time.Sleep(time.Millisecond)
	}
	got := make(chan error, 1)
	go func() {
		_, err := s.stmts.get(ctx, `SELECT 1`)
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the kept statement: %v", err)
		}
	case <-time.After(5 * time.Second): // not a timing assertion: it must not wait at all
		t.Fatal("the kept statement waited for another query's preparation")
	}
	release()
	if err := <-preparing; err != nil {
		t.Fatalf("the query that waited: %v", err)
	}
}

// Writers waiting for their turn hold no pooled connection: with one write
// under way and more writers than connections queued behind it, a read still
// gets a connection at once. When writers waited in SQLite's busy handler
// instead, each held a connection while it slept, and reads stalled until the
// writers' busy timeout.
func TestWritersWaitWithoutConnections(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	inWrite, endWrite := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.inTx(ctx, "a long write", func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET role = role`); err != nil {
				return err
			}
			close(inWrite)
			<-endWrite
			return nil
		})
	}()
	<-inWrite
	writers := 2 * s.db.Stats().MaxOpenConnections
	done := make(chan error, writers)
	for range writers {
		go func() {
			_, err := s.exec(ctx, `DELETE FROM audit WHERE at < 0`)
			done <- err
		}()
	}
	time.Sleep(100 * time.Millisecond) // let the writers line up (a missed one weakens the test, never fails it)
	read := make(chan error, 1)
	go func() { read <- s.queryRow(ctx, `SELECT count(*) FROM users`).Scan(new(int)) }()
	select {
	case err := <-read:
		if err != nil {
			t.Fatalf("the read: %v", err)
		}
	case <-time.After(5 * time.Second): // not a timing assertion: it must not wait for the writers at all
		t.Fatal("a read waited behind writers waiting for their turn")
	}
	close(endWrite)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range writers {
		if err := <-done; err != nil {
			t.Errorf("a queued writer: %v", err)
		}
	}
}

// Joining a room the user already belongs to (every join of every socket
// records its room) does not wait for the writer; a new membership does.
func TestJoinRoomKnownSkipsTheWriter(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	now := time.Unix(1_000_000, 0)
	u, err := s.CreateUser(ctx, "alice", "hash", now)
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID
	if err := s.JoinRoom(ctx, id, "general", 0, now); err != nil {
		t.Fatal(err)
	}
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second) // not a timing assertion: it must not wait at all
	defer cancel()
	if err := s.JoinRoom(short, id, "general", 0, now); err != nil {
		t.Fatalf("joining a room already the user's, the writer busy: %v", err)
	}
	// A new membership is a write: it waits for the writer (here, until its deadline).
	quick, cancelQuick := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelQuick()
	if err := s.JoinRoom(quick, id, "random", 0, now); err == nil {
		t.Fatal("a new membership was written while another writer held the store")
	}
	unlock()
	if err := s.JoinRoom(ctx, id, "random", 0, now); err != nil {
		t.Fatal(err)
	}
}

// Connections taken in a burst are kept when it ends, so the next burst
// does not open them again (each new connection reads the schema and
// prepares every statement it runs). database/sql keeps two by default.
func TestPoolKeepsItsConnections(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for round := range 3 {
		// Every connection taken at once, then all given back.
		var held []*sql.Conn
		for range maxConns {
			c, err := s.db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		for _, c := range held {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
		st := s.db.Stats()
		if st.MaxIdleClosed != 0 || st.Idle != maxConns {
			t.Fatalf("after burst %d: %d idle, %d closed for the idle limit; want %d idle, none closed", round, st.Idle, st.MaxIdleClosed, maxConns)
		}
	}
}
