package postgres

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"securechat/app/accounts"
	"securechat/app/auth"
	"securechat/app/chat"
	"securechat/app/store"
	"securechat/app/store/postgres/pgtest"
	"securechat/app/store/storetest"
)

// The services take the PostgreSQL store as they take SQLite's.
var (
	_ accounts.Store       = (*DB)(nil)
	_ auth.SessionStore    = (*DB)(nil)
	_ auth.RevocationStore = (*DB)(nil)
	_ chat.Store           = (*DB)(nil)
	_ storetest.Store      = (*DB)(nil)
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestConformance runs the suite every back end passes. Each case gets a
// database of its own, and each handle a pool of its own: separate nodes.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() storetest.Store {
		dsn := pgtest.Start(t)
		return func() storetest.Store { return open(t, dsn) }
	})
}

func open(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return db
}

// TestMigrateConcurrently starts several nodes on an empty database at once:
// one migrates, the others wait for it and find the schema current.
func TestMigrateConcurrently(t *testing.T) {
	dsn := pgtest.Start(t)
	ctx := t.Context()
	const nodes = 6
	errs := make([]error, nodes)
	dbs := make([]*DB, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			if i%2 == 0 {
				errs[i] = Migrate(ctx, dsn)
			} else {
				dbs[i], errs[i] = Open(ctx, dsn)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
		if dbs[i] != nil {
			dbs[i].Close()
		}
	}

	db := open(t, dsn)
	defer db.Close()
	var versions, max int
	if err := db.pool.QueryRow(ctx, `SELECT count(*), max(version) FROM schema_migrations`).Scan(&versions, &max); err != nil {
		t.Fatal(err)
	}
	if versions != len(migrations) || max != len(migrations) {
		t.Errorf("schema_migrations has %d versions up to %d; want %d", versions, max, len(migrations))
	}
	// Migrating an up-to-date database again changes nothing; and Migrate
	// takes the nodes' DSN, pool settings included.
	if err := Migrate(ctx, dsn+" pool_max_conns=2"); err != nil {
		t.Errorf("migrate again: %v", err)
	}
}

// TestOpenErrors reports what failed, and fails at Open, not at first use.
func TestOpenErrors(t *testing.T) {
	dsn := pgtest.Start(t)
	ctx := context.Background()
	for _, tc := range []struct{ name, dsn string }{
		{"malformed", "host=x port=notaport"},
		{"no such database", dsn + " dbname=nosuchdb"},
	} {
		if db, err := Open(ctx, tc.dsn); err == nil {
			db.Close()
			t.Errorf("%s: Open(%q) succeeded", tc.name, tc.dsn)
		}
	}
}

// TestMigrateAuthorIDs upgrades a database written before messages recorded
// their author's id: old messages get the id of the account of their name if
// it existed when they were written, and names of accounts deleted before the
// upgrade become reserved unless someone holds them again.
func TestMigrateAuthorIDs(t *testing.T) {
	dsn := pgtest.Start(t)
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	ms := func(v int64) time.Time { return time.UnixMilli(v).UTC() }
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{migrations[0], nil},
		{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
		  INSERT INTO schema_migrations(version) VALUES(1)`, nil},
		{`INSERT INTO users(name, password_hash, created_at) VALUES('alice', 'h', $1), ('carol', 'h', $2)`, []any{ms(1000), ms(5000)}},
		{`INSERT INTO messages(room, seq, user_name, text, ts) VALUES
			('lobby', 1, 'alice', 'by alice', $1),
			('lobby', 2, 'gone', 'by a user deleted before the upgrade', $2),
			('lobby', 3, 'carol', 'by an earlier carol', $3),
			('lobby', 4, 'carol', 'by the carol of today', $4)`, []any{ms(2000), ms(2500), ms(3000), ms(6000)}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("old schema: %v", err)
		}
	}
	var alice, carol int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT id FROM users WHERE name = 'alice'), (SELECT id FROM users WHERE name = 'carol')`).Scan(&alice, &carol); err != nil {
		t.Fatal(err)
	}
	pool.Close()

	db := open(t, dsn)
	defer db.Close()
	msgs, err := db.MessagesAfter(ctx, "lobby", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"by alice": alice, "by a user deleted before the upgrade": 0, "by an earlier carol": 0, "by the carol of today": carol}
	if len(msgs) != len(want) {
		t.Fatalf("%d messages after the upgrade; want %d", len(msgs), len(want))
	}
	for _, m := range msgs {
		if m.UserID != want[m.Text] {
			t.Errorf("%q has user id %d; want %d", m.Text, m.UserID, want[m.Text])
		}
	}
	for _, tc := range []struct {
		name string
		free bool
	}{{"gone", false}, {"dave", true}} {
		name, free := tc.name, tc.free
		_, err := db.CreateUser(ctx, name, "h", ms(9000))
		if free != (err == nil) || !free && !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateUser(%s) after the upgrade = %v; want free %v", name, err, free)
		}
	}
}
