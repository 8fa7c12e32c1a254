package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"securechat/app/store"
)

// TestOpenConcurrently opens one fresh folder from several handles at once,
// as a server and `securechat user add` started together do.
func TestOpenConcurrently(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(context.Background(), dir)
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestDatabaseFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, _ := e.Info()
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v: others may read password hashes", e.Name(), info.Mode().Perm())
		}
	}
}

// TestMigrateAuthorIDs opens a database written before messages recorded
// their author's id: old messages get the id of the account of their name if
// it existed when they were written, and names of accounts deleted before the
// upgrade become reserved unless someone holds them again.
func TestMigrateAuthorIDs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(migrations[:2:2], `PRAGMA user_version = 2`,
		`INSERT INTO users(id, name, password_hash, created_at) VALUES(1, 'alice', 'h', 1000), (7, 'carol', 'h', 5000)`,
		`INSERT INTO messages(room, seq, user, text, ts) VALUES
			('lobby', 1, 'alice', 'by alice', 2000),
			('lobby', 2, 'gone', 'by a user deleted before the upgrade', 2500),
			('lobby', 3, 'carol', 'by an earlier carol', 3000),
			('lobby', 4, 'carol', 'by the carol of today', 6000)`,
		`INSERT INTO rooms(name, last_id, last_seq, last_activity) VALUES('lobby', 4, 4, 6000)`,
	) {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("old schema: %v", err)
		}
	}
	raw.Close()

	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	msgs, err := db.MessagesAfter(ctx, "lobby", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"by alice": 1, "by a user deleted before the upgrade": 0, "by an earlier carol": 0, "by the carol of today": 7}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages after the upgrade; want %d", len(msgs), len(want))
	}
	for _, m := range msgs {
		if m.UserID != want[m.Text] {
			t.Errorf("%q has user id %d; want %d", m.Text, m.UserID, want[m.Text])
		}
	}
	for name, free := range map[string]bool{"gone": false, "dave": true} {
		_, err := db.CreateUser(ctx, name, "h", time.UnixMilli(9000))
		if free != (err == nil) || !free && !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateUser(%s) after the upgrade = %v; want free %v", name, err, free)
		}
	}
}

// TestMigratePrivateRooms opens a database written before rooms had kinds
// and messages could be changed: its rooms are public, its messages plain
// messages, never edited nor deleted, and they can be edited now.
func TestMigratePrivateRooms(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	const before = 8 // the migrations before room kinds
	for _, q := range append(migrations[:before:before], fmt.Sprintf(`PRAGMA user_version = %d`, before),
		`INSERT INTO messages(room, seq, user_id, user, text, ts) VALUES('lobby', 1, 1, 'alice', 'old', 2000)`,
		`INSERT INTO rooms(name, last_id, last_seq, last_activity) VALUES('lobby', 1, 1, 2000)`,
	) {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("old schema: %v", err)
		}
	}
	raw.Close()

	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if a, err := db.RoomAccess(ctx, "lobby", 2); err != nil || a != (store.Access{Kind: store.RoomPublic}) {
		t.Errorf("RoomAccess(lobby) after the upgrade = %+v, %v; want public", a, err)
	}
	m, err := db.Message(ctx, "lobby", 1)
	if err != nil || m.Kind != store.KindMessage || m.Deleted || !m.EditedAt.IsZero() || m.Text != "old" {
		t.Errorf("the old message after the upgrade = %+v, %v", m, err)
	}
	got, err := db.AppendMessages(ctx, []store.NewMessage{{Room: "lobby", UserID: 1, User: "alice", Text: "new", TS: time.UnixMilli(3000), Kind: store.KindEdit, Target: 1}})
	if err != nil || got[0].ID == 0 || got[0].Seq != 2 {
		t.Errorf("edit of the old message = %+v, %v; want stored as seq 2", got, err)
	}
}
