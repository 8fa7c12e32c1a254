package postgres

import (
	"context"
	"os"
	"sync"
	"testing"

	"securechat/app/accounts"
	"securechat/app/auth"
	"securechat/app/chat"
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
