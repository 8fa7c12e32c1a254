package pgtest

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestDatabaseName(t *testing.T) {
	for _, tc := range []struct {
		n          int
		test, want string
	}{
		{1, "TestX", "t1_testx"},
		{12, "TestConformance/Users/create_and_find", "t12_testconformance_users_create_and_find"},
		{3, "Test/ünïcode 'quoted'", "t3_test__n_code__quoted_"},
		{4, strings.Repeat("a", 100), "t4_" + strings.Repeat("a", 60)},
	} {
		if got := databaseName(tc.n, tc.test); got != tc.want {
			t.Errorf("databaseName(%d, %q) = %q; want %q", tc.n, tc.test, got, tc.want)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/pgtest-1": `'/tmp/pgtest-1'`,
		`it's`:          `'it\'s'`,
		`back\slash`:    `'back\\slash'`,
		"":              `''`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s; want %s", in, got, want)
		}
	}
}

// TestStart gives each caller a database of its own on the shared cluster.
func TestStart(t *testing.T) {
	ctx := t.Context()
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two Starts gave the same database: %s", a)
	}
	connA := connect(t, a)
	if _, err := connA.Exec(ctx, `CREATE TABLE only_in_a (x int)`); err != nil {
		t.Fatal(err)
	}
	var n int
	err := connect(t, b).QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'`).Scan(&n)
	if err != nil || n != 0 {
		t.Errorf("a table created in one database is in the other (%d, %v)", n, err)
	}
	// Listening on no TCP port: nothing else on the machine can reach it.
	var addrs string
	if err := connA.QueryRow(ctx, `SHOW listen_addresses`).Scan(&addrs); err != nil || addrs != "" {
		t.Errorf("listen_addresses = %q, %v; want none", addrs, err)
	}
}

// TestCluster starts and stops a cluster of its own: Stop ends the server and
// removes everything.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	c, err := StartCluster(ctx)
	if errors.Is(err, ErrUnavailable) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dsn := c.NewDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := c.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-c.exited:
	default:
		t.Error("the server is still running after Stop")
	}
	if _, err := os.Stat(c.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster directory %s still there: %v", c.dir, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
