package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"securechat/app/datadir"
	"securechat/app/store"
	"securechat/app/store/sqlite"
	"securechat/app/tokens"
)

// live is a data folder with a database of n messages and a key file.
func live(t *testing.T, n int) (dir string, db *sqlite.DB, keys string) {
	t.Helper()
	ctx := t.Context()
	dir = t.TempDir()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for i := range n {
		if _, err := db.AppendMessages(ctx, []store.NewMessage{{Room: "dev", UserID: 1, User: "alice", Text: "m", TS: time.Now()}}); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	k, err := tokens.LoadKeys("", dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, db, k[0].String()
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCreate(t *testing.T) {
	ctx := t.Context()
	dir, db, key := live(t, 3)
	out := filepath.Join(t.TempDir(), "chat.db")
	res, err := Create(ctx, db, dir, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 3 || res.Keys != "" {
		t.Errorf("result = %+v; want 3 messages, no keys", res)
	}
	if m := mode(t, out); m != 0o600 {
		t.Errorf("backup mode %04o; want 0600", m)
	}
	b, _ := os.ReadFile(out)
	if _, err := os.Stat(out + KeysSuffix); !errors.Is(err, os.ErrNotExist) || strings.Contains(string(b), key) {
		t.Errorf("keys in or beside a backup made without --with-keys (stat: %v)", err)
	}
	if left, _ := filepath.Glob(out + ".tmp-*"); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}

	// An existing file is refused, and left as it was.
	os.WriteFile(out, []byte("precious"), 0o600)
	if _, err := Create(ctx, db, dir, out, Options{WithKeys: true}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("over an existing file: %v; want a refusal naming --force", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "precious" {
		t.Errorf("the refused backup changed the file")
	}
	if _, err := os.Stat(out + KeysSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused backup wrote keys")
	}

	// --force --with-keys replaces it and writes the keys beside it.
	res, err = Create(ctx, db, dir, out, Options{Force: true, WithKeys: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys != out+KeysSuffix || mode(t, res.Keys) != 0o600 {
		t.Errorf("keys %q; want %s, mode 0600", res.Keys, out+KeysSuffix)
	}
	if b, _ := os.ReadFile(res.Keys); !strings.Contains(string(b), key) {
		t.Errorf("keys file lacks the key")
	}
	// Replaced again without keys: the old keys go, so a restore cannot
	// take them for this backup's.
	if _, err := Create(ctx, db, dir, out, Options{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out + KeysSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("keys of the replaced backup still beside it")
	}
}

func TestRestore(t *testing.T) {
	ctx := context.Background()
	dir, db, key := live(t, 5)
	file := filepath.Join(t.TempDir(), "chat.db")
	if _, err := Create(ctx, db, dir, file, Options{WithKeys: true}); err != nil {
		t.Fatal(err)
	}

	// Into a new folder: the database and the keys.
	fresh := filepath.Join(t.TempDir(), "new")
	res, err := Restore(ctx, file, fresh, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 5 || res.Keys != file+KeysSuffix {
		t.Errorf("result = %+v; want 5 messages and the keys", res)
	}
	if m := mode(t, filepath.Join(fresh, sqlite.FileName)); m != 0o600 {
		t.Errorf("restored database mode %04o", m)
	}
	if b, _ := os.ReadFile(filepath.Join(fresh, tokens.KeyFile)); !strings.Contains(string(b), key) {
		t.Errorf("keys not restored")
	}
	got, err := sqlite.Open(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := got.MessagesAfter(ctx, "dev", 0, 100)
	got.Close()
	if err != nil || len(msgs) != 5 {
		t.Fatalf("restored history: %d messages, %v; want 5", len(msgs), err)
	}

	// A folder with a database: refused without --force.
	if _, err := Restore(ctx, file, fresh, Options{}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("over a database: %v; want a refusal naming --force", err)
	}
	// With --force, but a server holding the folder: refused.
	server, err := datadir.Lock(fresh, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, file, fresh, Options{Force: true}); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Errorf("under a running server: %v; want a refusal", err)
	}
	server()
	if _, err := Restore(ctx, file, fresh, Options{Force: true}); err != nil {
		t.Errorf("--force with no server: %v", err)
	}

	// A damaged backup is refused before anything is touched.
	bad := filepath.Join(t.TempDir(), "bad.db")
	b, _ := os.ReadFile(file)
	os.WriteFile(bad, b[:len(b)/2], 0o600)
	empty := filepath.Join(t.TempDir(), "empty")
	if _, err := Restore(ctx, bad, empty, Options{}); err == nil {
		t.Errorf("a truncated backup was restored")
	}
	if _, err := os.Stat(empty); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused restore created the data folder")
	}
}
