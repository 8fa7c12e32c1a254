package sqlite

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"securechat/app/store"
)

// filesContaining names the files in dir whose bytes contain marker.
func filesContaining(t *testing.T, dir, marker string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(marker)) {
			out = append(out, e.Name())
		}
	}
	return out
}

// marker is the first word of a text: unique, so finding it finds the text.
func marker(text string) string { return strings.Fields(text)[0] }

// TestRealDelete stores messages with unique texts, lets a checkpoint copy
// them into the database file, changes them, scrubs, and searches the bytes
// of every file in the data folder (while the store is open, as a running
// server's folder is, and after it is closed) for each text. Texts that were
// kept must be found, so the search can fail.
func TestRealDelete(t *testing.T) {
	long := strings.Repeat("overflowing text ", 1000) // beyond one page: overflow pages
	for _, tc := range []struct {
		name    string
		texts   []string // the message, then its edits
		delete  bool
		gone    []string // texts (their first word, the marker) in no file at the end
		present []string // texts still in a file
	}{
		{"deleted", []string{"marker-deleted-7f3a"}, true, []string{"marker-deleted-7f3a"}, nil},
		{"kept", []string{"marker-kept-19c2"}, false, nil, []string{"marker-kept-19c2"}},
		{"edited then deleted", []string{"marker-original-a41e", "marker-edited-b93d"}, true,
			[]string{"marker-original-a41e", "marker-edited-b93d"}, nil},
		{"edited", []string{"marker-before-5d0c", "marker-after-e27b"}, false,
			[]string{"marker-before-5d0c"}, []string{"marker-after-e27b"}},
		{"long deleted", []string{"marker-long-c8f1 " + long}, true, []string{"marker-long-c8f1"}, nil},
		// The search index keeps trigrams, not texts, each after the bytes
		// it shares with the term before it. A marker of three characters
		// whose first byte (Hangul: 0xEB, 0xEC) starts no other trigram of
		// the database is one trigram the index stores whole (indexHolds
		// checks that it does), so finding its bytes in no file shows that
		// the index let go of it too.
		{"indexed deleted", []string{"뷁齉龘 indexed"}, true, []string{"뷁齉龘"}, nil},
		{"indexed edited", []string{"뷁鱻麤 before", "쀍爩驫 after"}, false, []string{"뷁鱻麤"}, []string{"쀍爩驫 after"}},
		{"indexed edited then deleted", []string{"뷁龖龗 original", "쀍靇靈 edited"}, true, []string{"뷁龖龗", "쀍靇靈"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			db, err := Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			now := time.UnixMilli(1_000_000)
			// Other messages around it, as in a real room.
			msgs := []store.NewMessage{
				{Room: "dev", UserID: 1, User: "alice", Text: "before", TS: now},
				{Room: "dev", UserID: 1, User: "alice", Text: tc.texts[0], TS: now},
				{Room: "dev", UserID: 2, User: "bob", Text: "after", TS: now},
			}
			got, err := db.AppendMessages(ctx, msgs)
			if err != nil {
				t.Fatal(err)
			}
			target := got[1].ID
			// Into the database file, and the WAL emptied: the text is in the
			// main file, where only secure_delete can clear it.
			if err := db.Scrub(ctx); err != nil {
				t.Fatal(err)
			}
			if files := filesContaining(t, dir, marker(tc.texts[0])); len(files) == 0 {
				t.Fatalf("the text is in no file before the change: the search finds nothing")
			}
			indexHolds(t, db, tc.texts[0])
			for _, text := range tc.texts[1:] {
				if _, err := db.AppendMessages(ctx, []store.NewMessage{{Room: "dev", UserID: 1, User: "alice", Text: text, TS: now, Kind: store.KindEdit, Target: target}}); err != nil {
					t.Fatal(err)
				}
				if err := db.Scrub(ctx); err != nil {
					t.Fatal(err)
				}
				indexHolds(t, db, text)
			}
			if tc.delete {
				d, err := db.AppendMessages(ctx, []store.NewMessage{{Room: "dev", UserID: 2, User: "bob", TS: now, Kind: store.KindDelete, Target: target}})
				if err != nil || d[0].ID == 0 {
					t.Fatalf("delete = %+v, %v", d, err)
				}
			}
			if err := db.Scrub(ctx); err != nil {
				t.Fatal(err)
			}
			check := func(when string) {
				t.Helper()
				for _, text := range tc.gone {
					if files := filesContaining(t, dir, marker(text)); len(files) > 0 {
						t.Errorf("%s: %q is still in %v", when, marker(text), files)
					}
				}
				for _, text := range tc.present {
					if files := filesContaining(t, dir, text); len(files) == 0 {
						t.Errorf("%s: kept text %q is in no file", when, text)
					}
				}
				for _, text := range []string{"before", "after"} {
					if files := filesContaining(t, dir, text); len(files) == 0 {
						t.Errorf("%s: the other message %q is in no file", when, text)
					}
				}
			}
			check("open")
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			check("closed")
		})
	}
}

// indexHolds checks, for a text whose marker is a single trigram (three
// characters), that the search index finds the text and that its data holds
// the trigram's bytes whole: what the file search of TestRealDelete looks for.
func indexHolds(t *testing.T, db *DB, text string) {
	t.Helper()
	m := marker(text)
	if utf8.RuneCountInString(m) != 3 {
		return
	}
	found, err := db.SearchMessages(context.Background(), store.SearchQuery{UserID: 1, Text: m})
	if err != nil || len(found) != 1 || found[0].Text != text {
		t.Fatalf("search %q = %+v, %v; want the message", m, found, err)
	}
	var blocks int
	if err := db.db.QueryRow(`SELECT count(*) FROM messages_fts_data WHERE instr(block, CAST(? AS BLOB)) > 0`, m).Scan(&blocks); err != nil {
		t.Fatal(err)
	}
	if blocks == 0 {
		t.Fatalf("the index's data does not hold %q whole: the file search could not see it", m)
	}
}

// TestScrubBusy: a reader still on an older snapshot keeps the checkpoint
// from finishing; Scrub says so (within its bounded wait) instead of
// reporting the text gone, and succeeds once the reader is done.
func TestScrubBusy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reader, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	now := time.UnixMilli(1_000_000)
	if _, err := db.AppendMessages(ctx, []store.NewMessage{{Room: "dev", User: "alice", Text: "one", TS: now}}); err != nil {
		t.Fatal(err)
	}
	// An open, unfinished query holds its read snapshot (a transaction
	// would take the write lock: _txlock is immediate).
	rows, err := reader.db.QueryContext(ctx, `SELECT text FROM messages`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("no row: %v", rows.Err())
	}
	if _, err := db.AppendMessages(ctx, []store.NewMessage{{Room: "dev", User: "alice", Text: "two", TS: now}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Scrub(ctx); err == nil {
		t.Errorf("Scrub with a reader on an old snapshot succeeded")
	}
	rows.Close()
	if err := db.Scrub(ctx); err != nil {
		t.Errorf("Scrub after the reader is done: %v", err)
	}
}

// TestSecureDeleteOnEveryConnection: the pragma is part of every
// connection's set-up, not of the first one's only.
func TestSecureDeleteOnEveryConnection(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	for i := range 3 {
		conn, err := db.db.Conn(ctx) // held, so the next is a new connection
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var on int
		if err := conn.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&on); err != nil {
			t.Fatal(err)
		}
		if on != 1 {
			t.Errorf("connection %d: secure_delete = %d; want 1", i, on)
		}
	}
}
