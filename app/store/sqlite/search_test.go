package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"securechat/app/store"
)

// TestMigrateSearchIndex: the upgrade indexes the messages stored before it
// (as they are now: not a deleted one, not an edit row's text), and the
// index then follows them.
func TestMigrateSearchIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	before := len(migrations) - 1 // the migrations before the index
	for _, q := range append(migrations[:before:before], fmt.Sprintf(`PRAGMA user_version = %d`, before),
		`INSERT INTO rooms(name, last_id, last_seq, last_activity) VALUES('lobby', 4, 4, 2000)`,
		`INSERT INTO messages(id, room, seq, user_id, user, text, ts) VALUES(1, 'lobby', 1, 1, 'alice', 'the old wordsmith', 2000)`,
		`INSERT INTO messages(id, room, seq, user_id, user, text, ts, deleted) VALUES(2, 'lobby', 2, 0, '', '', 2000, 1)`,
		`INSERT INTO messages(id, room, seq, user_id, user, text, ts, edited_at) VALUES(3, 'lobby', 3, 1, 'alice', 'edited swordfish', 2000, 2500)`,
		`INSERT INTO messages(id, room, seq, user_id, user, text, ts, kind, target) VALUES(4, 'lobby', 4, 1, 'alice', 'edited swordfish', 2500, 'edit', 3)`,
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
	ids := func(text string) []int64 {
		t.Helper()
		got, err := db.SearchMessages(ctx, store.SearchQuery{UserID: 2, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, m := range got {
			out = append(out, m.ID)
		}
		return out
	}
	if got := ids("ord"); len(got) != 2 || got[0] != 3 || got[1] != 1 {
		t.Errorf("search ord after the upgrade = %v; want [3 1] (not the edit row 4)", got)
	}
	if _, err := db.AppendMessages(ctx, []store.NewMessage{{Room: "lobby", UserID: 1, User: "alice", Kind: store.KindDelete, Target: 1}}); err != nil {
		t.Fatal(err)
	}
	if got := ids("wordsmith"); len(got) != 0 {
		t.Errorf("search wordsmith after its delete = %v; want none", got)
	}
	// The index's own structure is sound. (Not compared with the table
	// (rank 1): on purpose it leaves out rows of the table, edits and
	// deleted messages.)
	if _, err := db.db.ExecContext(ctx, `INSERT INTO messages_fts(messages_fts, rank) VALUES('integrity-check', 0)`); err != nil {
		t.Errorf("integrity check: %v", err)
	}
}
