// Package pgtest runs throwaway PostgreSQL servers for tests: a cluster in a
// temporary directory that listens only on a unix socket, with a fresh database
// for each test.
//
// Starting a cluster takes a second or two, a database a few milliseconds, so a
// test binary should share one cluster among its tests:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.Start(t) // a new, empty database, dropped after the test
//		...
//	}
//
// Main starts the cluster on the first Start (a run whose tests need none pays
// nothing) and stops it after the last test. Without Main, each Start runs a
// cluster of its own, stopped when the test ends. Cluster is the same thing
// without the testing glue.
//
// The server binaries are looked for in $PGTEST_BINDIR, then in Debian's
// /usr/lib/postgresql/<version>/bin (newest version first), then on $PATH.
// Without them Start skips the test, unless the CI environment variable is set:
// then the test fails, so CI cannot pass by testing nothing. PostgreSQL refuses
// to run as root; when the tests do, the server runs as the postgres user.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// ErrUnavailable means PostgreSQL cannot be run here: its binaries, or (when
// running as root) the postgres user, are missing.
var ErrUnavailable = errors.New("PostgreSQL server is not available")

// startTimeout bounds starting a cluster: initdb, then the server accepting
// connections. Generous because CI machines can be slow and busy.
const startTimeout = 2 * time.Minute

// shared is the cluster that Main offers to Start. It is package state because
// the testing package gives TestMain no other way to hand a value to the tests;
// nothing else in this package keeps any.
var shared struct {
	mu      sync.Mutex
	enabled bool     // Main is running the tests
	cluster *Cluster // started by the first Start, stopped by Main
	err     error    // why it could not be started (not retried)
}

// Main runs the tests of a package with one cluster shared among them, started
// on first use and stopped after the last test. It returns m.Run's exit code,
// or 1 if the cluster did not stop cleanly.
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.enabled = true
	shared.mu.Unlock()

	code := m.Run()

	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.enabled = false
	if shared.cluster != nil {
		if err := shared.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
			if code == 0 {
				code = 1
			}
		}
		shared.cluster = nil
	}
	return code
}

// Start returns the connection string of a new, empty database for the test,
// dropped when the test ends. The database is on the cluster Main shares, or,
// without Main, on a cluster of the test's own.
func Start(t testing.TB) string {
	t.Helper()
	c, err := cluster(t)
	if err != nil {
		if errors.Is(err, ErrUnavailable) && os.Getenv("CI") == "" {
			t.Skipf("skipping: %v (install the Debian package postgresql, or set PGTEST_BINDIR)", err)
		}
		t.Fatalf("start PostgreSQL: %v", err)
	}
	return c.NewDatabase(t)
}

// cluster returns the shared cluster, starting it if this is the first call,
// or a new cluster stopped when t ends.
func cluster(t testing.TB) (*Cluster, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()

	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.enabled {
		// Holding the lock while starting makes parallel tests wait for the
		// one cluster rather than each starting their own.
		if shared.cluster == nil && shared.err == nil {
			shared.cluster, shared.err = StartCluster(ctx)
		}
		return shared.cluster, shared.err
	}

	c, err := StartCluster(ctx)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return c, nil
}

// quote quotes a value for a libpq key=value connection string.
func quote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
