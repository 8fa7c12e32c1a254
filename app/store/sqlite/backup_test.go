package sqlite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"securechat/app/store"
)

func TestBackupToAndCheck(t *testing.T) {
	ctx := t.Context()
	db := openTemp(t)
	if _, err := db.CreateUser(ctx, "alice", "hash", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AppendMessages(ctx, []store.NewMessage{{Room: "dev", UserID: 1, User: "alice", Text: "one", TS: time.Now()}, {Room: "dev", UserID: 1, User: "alice", Text: "two", TS: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := db.BackupTo(ctx, out); err != nil {
		t.Fatal(err)
	}
	sum, err := Check(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Users != 1 || sum.Messages != 2 || sum.Version != len(migrations) {
		t.Errorf("summary = %+v; want 1 user, 2 messages, version %d", sum, len(migrations))
	}
	// Check only reads: no -wal or -shm appears beside the copy.
	if left, _ := filepath.Glob(out + "-*"); len(left) != 0 {
		t.Errorf("check left %v", left)
	}

	// A copy that is not complete, and a file that is not a database.
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, want string
		data       []byte
	}{
		{"truncated", "", b[:len(b)/2]},
		{"not sqlite", "", []byte(strings.Repeat("not a database ", 1000))},
		{"empty", "not a securechat database", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.db")
			if err := os.WriteFile(p, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Check(ctx, p)
			t.Logf("Check: %v", err)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Check = %v; want an error containing %q", err, c.want)
			}
		})
	}
}
