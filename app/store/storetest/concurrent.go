package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"securechat/app/store"
)

// Several server nodes share one database, each through its own handle. These
// cases run that: nodes writing at once, and a node following what the others
// wrote the way the hub and the revocation watcher do, by polling for what
// lies past the last id or seq it has seen. Such a follower only works if
// nothing ever becomes visible behind a position it has already passed.

const (
	nodes      = 4
	perNode    = 50 // messages each node sends to the shared room
	concurrent = time.Minute
)

var concurrentCases = []scenario{
	{"appends from several nodes", concurrentAppends},
	{"revocations from several nodes", concurrentRevocations},
}

func concurrentAppends(t *testing.T, e *env) {
	handles := make([]Store, nodes)
	for n := range handles {
		handles[n] = e.handle(t)
	}
	follower := e.handle(t)
	ctx, cancel := context.WithTimeout(e.ctx, concurrent)
	defer cancel()

	// Each node sends its messages in small batches, and each batch also
	// carries one message for a second room, first or last: batches that
	// share rooms in different orders must neither deadlock nor interleave.
	sent := make([][]store.Message, nodes) // each node's lobby messages as AppendMessages numbered them
	errs := make(chan error, nodes)
	var wg sync.WaitGroup
	for n, s := range handles {
		wg.Go(func() {
			user := fmt.Sprint("node", n)
			for i, k := 0, 0; i < perNode; k++ {
				batch := []store.NewMessage{}
				for range min(1+(n+k)%4, perNode-i) {
					batch = append(batch, msg("lobby", user, fmt.Sprintf("%d-%d", n, i), i))
					i++
				}
				side := msg("side", user, fmt.Sprintf("side %d-%d", n, k), i)
				if k%2 == 0 {
					batch = append([]store.NewMessage{side}, batch...)
				} else {
					batch = append(batch, side)
				}
				got, err := s.AppendMessages(ctx, batch)
				if err != nil {
					errs <- fmt.Errorf("node %d, batch %d: %w", n, k, err)
					return
				}
				for _, m := range got {
					if m.Room == "lobby" {
						sent[n] = append(sent[n], m)
					}
				}
			}
		})
	}

	// The follower reads the room as a node's hub does, MessagesAfter the
	// last id it has; every message it gets must be the next seq.
	const total = nodes * perNode
	followed := make(chan error, 1)
	go func() {
		var lastID, lastSeq int64
		for lastSeq < total {
			msgs, err := follower.MessagesAfter(ctx, "lobby", lastID, 1000)
			if err != nil {
				followed <- fmt.Errorf("follower at seq %d: %w", lastSeq, err)
				return
			}
			for _, m := range msgs {
				if m.Seq != lastSeq+1 {
					followed <- fmt.Errorf("follower read seq %d (id %d) right after seq %d (id %d): "+
						"a message became visible below an id already read, or seqs have a gap", m.Seq, m.ID, lastSeq, lastID)
					return
				}
				lastID, lastSeq = m.ID, m.Seq
			}
			if len(msgs) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		followed <- nil
	}()

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		cancel() // the follower would wait for messages that will not come
	}
	if err := <-followed; err != nil && !(t.Failed() && errors.Is(err, context.Canceled)) {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	// Afterwards, in id order: exactly seqs 1..total, so id order is seq order.
	all, err := e.MessagesAfter(e.ctx, "lobby", 0, 10*total)
	must(t, err, "read lobby")
	if len(all) != total {
		t.Fatalf("lobby has %d messages; sent %d", len(all), total)
	}
	bySeq := map[int64]store.Message{}
	for i, m := range all {
		if m.Seq != int64(i+1) {
			t.Fatalf("in id order, message %d (id %d) has seq %d", i+1, m.ID, m.Seq)
		}
		bySeq[m.Seq] = m
	}
	// What each node was told matches what was stored, and each node's
	// messages kept the order it sent them in.
	for n, msgs := range sent {
		for i, m := range msgs {
			if stored := bySeq[m.Seq]; stored.ID != m.ID || stored.Text != m.Text {
				t.Errorf("node %d was told %+v; stored %+v", n, m, stored)
			}
			if want := fmt.Sprintf("%d-%d", n, i); m.Text != want {
				t.Errorf("node %d's message %d is %q; want %q", n, i, m.Text, want)
			}
			if i > 0 && m.Seq <= msgs[i-1].Seq {
				t.Errorf("node %d's messages out of order: seq %d after %d", n, m.Seq, msgs[i-1].Seq)
			}
		}
	}
	id, seq, err := e.RoomHead(e.ctx, "lobby")
	must(t, err, "read head of lobby")
	if last := all[len(all)-1]; id != last.ID || seq != total {
		t.Errorf("RoomHead(lobby) = %d, %d; want %d, %d", id, seq, last.ID, total)
	}

	side, err := e.MessagesAfter(e.ctx, "side", 0, 10*total)
	must(t, err, "read side")
	for i, m := range side {
		if m.Seq != int64(i+1) {
			t.Fatalf("in id order, side message %d (id %d) has seq %d", i+1, m.ID, m.Seq)
		}
	}
}

func concurrentRevocations(t *testing.T, e *env) {
	const perUser = 25 // sessions; the last five end with a password change
	users := make([]store.User, nodes)
	for n := range users {
		for i := range perUser {
			users[n] = e.withSession(t, fmt.Sprint("user", n), fmt.Sprintf("s%d-%d", n, i), time.Hour)
		}
	}
	handles := make([]Store, nodes)
	for n := range handles {
		handles[n] = e.handle(t)
	}
	watcher := e.handle(t)
	ctx, cancel := context.WithTimeout(e.ctx, concurrent)
	defer cancel()
	start, err := watcher.LastRevocation(ctx)
	must(t, err, "read last revocation")

	errs := make(chan error, nodes)
	var wg sync.WaitGroup
	for n, s := range handles {
		wg.Go(func() {
			for i := range perUser - 5 {
				if err := s.RevokeSession(ctx, fmt.Sprintf("s%d-%d", n, i), at(time.Minute)); err != nil {
					errs <- fmt.Errorf("node %d: revoke: %w", n, err)
					return
				}
			}
			if err := s.SetPasswordHash(ctx, users[n].ID, "new", at(time.Minute)); err != nil {
				errs <- fmt.Errorf("node %d: change password: %w", n, err)
			}
		})
	}
	done := make(chan struct{})

	// The watcher polls as auth.WatchRevocations does. Once the writers are
	// done everything has committed, so one more poll must find the rest;
	// a revocation that became visible below the watcher's seq is lost.
	type watched struct {
		seen map[string]int
		err  error
	}
	result := make(chan watched, 1)
	go func() {
		w := watched{seen: map[string]int{}}
		seq := start
		poll := func() bool {
			revs, err := watcher.RevocationsAfter(ctx, seq)
			if err != nil {
				w.err = err
				return false
			}
			for _, r := range revs {
				if r.Seq <= seq {
					w.err = fmt.Errorf("RevocationsAfter(%d) returned seq %d", seq, r.Seq)
					return false
				}
				seq = r.Seq
				w.seen[r.SessionID]++
			}
			return true
		}
		for {
			select {
			case <-done:
				poll()
				result <- w
				return
			default:
			}
			if !poll() {
				result <- w
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()

	wg.Wait()
	close(done)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	w := <-result
	if w.err != nil {
		t.Fatalf("watcher: %v", w.err)
	}
	var missed []string
	for n := range nodes {
		for i := range perUser {
			id := fmt.Sprintf("s%d-%d", n, i)
			if w.seen[id] != 1 {
				missed = append(missed, fmt.Sprintf("%s seen %d times", id, w.seen[id]))
			}
			e.checkLive(t, id, at(2*time.Minute), false)
		}
	}
	if len(missed) > 0 {
		t.Errorf("the watcher did not see each revocation once: %v", missed)
	}
	if all := e.revocations(t, start); len(all) != nodes*perUser {
		t.Errorf("RevocationsAfter(%d) has %d; want %d", start, len(all), nodes*perUser)
	}
}
