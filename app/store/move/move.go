// Package move copies a SQLite store into an empty PostgreSQL store: every
// table, every row with its ids, and PostgreSQL's id sequences set past the
// copied ids, so that a client that reconnects to the new deployment resumes
// with since and misses nothing.
//
// Consistency: the move takes the data folder's lock exclusively, so it
// refuses to start while a server (or another command) uses the folder, and
// no server starts during it: nothing sent during the move can stay behind.
// It also reads everything in one SQLite read transaction, so the copy is one
// snapshot even if something that ignores the lock writes meanwhile.
//
// Safety: everything is written in one PostgreSQL transaction, which first
// locks every table and checks that they are empty. A failure anywhere (the
// copy, the count check, a lost connection) rolls it all back and leaves the
// target empty, so the move can simply be run again.
package move

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"securechat/app/datadir"
	"securechat/app/store/postgres"
	"securechat/app/store/sqlite"
)

// tables is every table of the store and how its columns cross over. A new
// table is one line here; a table or column of SQLite missing from this list
// (and not in derived) makes the move fail before it writes anything, so a
// forgotten line cannot silently lose data. Order: as the rows reference
// each other (no foreign keys today, but it reads naturally).
var tables = []table{
	{"users", "id", []column{{"id", "", same}, {"name", "", same}, {"password_hash", "", same}, {"created_at", "", msTime}, {"role", "", same}}},
	{"deleted_names", "", []column{{"name", "", same}, {"user_id", "", same}, {"deleted_at", "", msTime}}},
	{"sessions", "", []column{{"id", "", same}, {"user_id", "", same}, {"created_at", "", msTime}, {"expires_at", "", msTime},
		{"revoked", "", boolean}, {"kind", "", same}, {"name", "", same}, {"address", "", same}, {"user_agent", "", same}, {"last_seen", "", msTimeOrNull}}},
	{"revocations", "seq", []column{{"seq", "", same}, {"session_id", "", same}, {"at", "", msTime}}},
	{"rooms", "", []column{{"name", "", same}, {"last_id", "", same}, {"last_seq", "", same}, {"last_activity", "", msTime},
		{"kind", "", same}, {"owner_id", "", same}, {"retention_days", "", same}}},
	{"room_members", "", []column{{"room", "", same}, {"user_id", "", same}, {"role", "", same}, {"added_at", "", msTime}}},
	{"dms", "", []column{{"key", "", same}, {"room", "", same}}},
	{"memberships", "", []column{{"user_id", "", same}, {"room", "", same}, {"read_id", "", same}, {"read_at", "", msTime}}},
	{"mentions", "", []column{{"user_id", "", same}, {"room", "", same}, {"message_id", "", same}}},
	{"messages", "id", []column{{"id", "", same}, {"room", "", same}, {"seq", "", same}, {"user", "user_name", same}, {"text", "", bytes},
		{"ts", "", msTime}, {"user_id", "", same}, {"kind", "", same}, {"target", "", same}, {"edited_at", "", msTimeOrNull}, {"deleted", "", boolean}}},
	{"totp", "", []column{{"user_id", "", same}, {"secret", "", same}, {"confirmed", "", boolean}, {"last_step", "", same}, {"created_at", "", msTime}}},
	{"recovery_codes", "", []column{{"user_id", "", same}, {"hash", "", same}}},
	{"audit", "id", []column{{"id", "", same}, {"at", "", msTime}, {"event", "", same}, {"actor", "", same}, {"subject", "", same},
		{"address", "", same}, {"user_agent", "", same}, {"session_id", "", same}, {"detail", "", same}}},
}

// derived are SQLite tables that are not copied, with their shadow tables
// (NAME_*): PostgreSQL rebuilds what they hold (the search index: its own
// trigram index of messages), or SQLite keeps them for itself.
var derived = []string{"sqlite_sequence", "messages_fts"}

// isDerived reports whether a SQLite table is derived or a shadow table of one.
func isDerived(name string) bool {
	return slices.ContainsFunc(derived, func(d string) bool { return name == d || strings.HasPrefix(name, d+"_") })
}

// table is one table to copy. serial is its id column whose PostgreSQL
// sequence must be set past the copied ids ("" if none).
type table struct {
	name    string
	serial  string
	columns []column
}

// column is one column: its SQLite name, its PostgreSQL name ("" the same),
// and how a SQLite value becomes a PostgreSQL one.
type column struct {
	name    string
	pg      string
	convert func(v any) (any, error)
}

func (c column) pgName() string {
	if c.pg != "" {
		return c.pg
	}
	return c.name
}

// Count is one table's rows: read from SQLite, copied, and counted in
// PostgreSQL before the commit.
type Count struct {
	Table    string
	SQLite   int64
	Copied   int64
	Postgres int64
}

// ErrNotEmpty is returned when the target already holds data.
var ErrNotEmpty = errors.New("the PostgreSQL database is not empty")

// ToPostgres copies the SQLite store in dataDir into the PostgreSQL database
// named by dsn, which must be empty (its schema is brought up to date
// first), and reports each table's counts to w as it goes. Nothing is
// committed unless every count matches.
func ToPostgres(ctx context.Context, dataDir, dsn string, w io.Writer) ([]Count, error) {
	path := filepath.Join(dataDir, sqlite.FileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no SQLite store in %s: %w", dataDir, err)
	}
	unlock, err := datadir.Lock(dataDir, true)
	if errors.Is(err, datadir.ErrLocked) {
		return nil, fmt.Errorf("%s is in use by a server or another command: stop it first, so that no message sent during the move stays behind", dataDir)
	}
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Bring the SQLite schema up to date, so every column of the list exists.
	src, err := sqlite.Open(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	src.Close()
	if err := postgres.Migrate(ctx, dsn); err != nil {
		return nil, err
	}

	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Set("mode", "ro")
	q.Set("_txlock", "deferred") // a read transaction takes no write lock: a server may go on
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open SQLite store: %w", err)
	}
	defer db.Close()
	rtx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin SQLite read: %w", err)
	}
	defer rtx.Rollback()
	if err := checkCovered(ctx, rtx); err != nil {
		return nil, err
	}

	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL: %w", err)
	}
	defer pool.Close()
	wtx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin PostgreSQL transaction: %w", err)
	}
	defer wtx.Rollback(context.WithoutCancel(ctx)) // no-op after Commit
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.name
	}
	// Nobody else writes (a node started too early, a second move) until the commit.
	if _, err := wtx.Exec(ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		return nil, fmt.Errorf("lock PostgreSQL tables: %w", err)
	}
	for _, t := range tables {
		var has bool
		if err := wtx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t.name+`)`).Scan(&has); err != nil {
			return nil, fmt.Errorf("check %s is empty: %w", t.name, err)
		}
		if has {
			return nil, fmt.Errorf("%w: table %s has rows; the move copies into a new, empty database only", ErrNotEmpty, t.name)
		}
	}

	var counts []Count
	for _, t := range tables {
		c, err := copyTable(ctx, rtx, wtx, t)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "%-16s %8d rows in SQLite, %8d copied, %8d in PostgreSQL\n", c.Table, c.SQLite, c.Copied, c.Postgres)
		if c.SQLite != c.Copied || c.Copied != c.Postgres {
			return nil, fmt.Errorf("table %s: %d rows in SQLite, %d copied, %d in PostgreSQL: nothing was committed", t.name, c.SQLite, c.Copied, c.Postgres)
		}
		counts = append(counts, c)
		if t.serial != "" {
			next, err := setSequence(ctx, rtx, wtx, t)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(w, "%-16s next %s is %d\n", "", t.serial, next)
		}
	}
	if err := wtx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit the move: %w", err)
	}
	return counts, nil
}

// checkCovered fails unless every SQLite table and column is in tables (or derived).
func checkCovered(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return fmt.Errorf("list SQLite tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("list SQLite tables: %w", err)
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list SQLite tables: %w", err)
	}
	for _, n := range names {
		if isDerived(n) {
			continue
		}
		i := slices.IndexFunc(tables, func(t table) bool { return t.name == n })
		if i < 0 {
			return fmt.Errorf("SQLite table %s is not in the move's list of tables: this securechat cannot move it", n)
		}
		cols, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, n)
		if err != nil {
			return fmt.Errorf("list columns of %s: %w", n, err)
		}
		for cols.Next() {
			var c string
			if err := cols.Scan(&c); err != nil {
				cols.Close()
				return fmt.Errorf("list columns of %s: %w", n, err)
			}
			if !slices.ContainsFunc(tables[i].columns, func(col column) bool { return col.name == c }) {
				cols.Close()
				return fmt.Errorf("column %s.%s is not in the move's list of tables: this securechat cannot move it", n, c)
			}
		}
		cols.Close()
		if err := cols.Err(); err != nil {
			return fmt.Errorf("list columns of %s: %w", n, err)
		}
	}
	return nil
}

// copyTable streams one table into PostgreSQL with COPY and counts both sides.
func copyTable(ctx context.Context, rtx *sql.Tx, wtx pgx.Tx, t table) (Count, error) {
	c := Count{Table: t.name}
	if err := rtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&c.SQLite); err != nil {
		return c, fmt.Errorf("count %s in SQLite: %w", t.name, err)
	}
	src, dst := make([]string, len(t.columns)), make([]string, len(t.columns))
	for i, col := range t.columns {
		src[i], dst[i] = `"`+col.name+`"`, col.pgName()
	}
	rows, err := rtx.QueryContext(ctx, `SELECT `+strings.Join(src, ", ")+` FROM `+t.name)
	if err != nil {
		return c, fmt.Errorf("read %s: %w", t.name, err)
	}
	defer rows.Close()
	c.Copied, err = wtx.CopyFrom(ctx, pgx.Identifier{t.name}, dst, &rowSource{rows: rows, t: t})
	if err != nil {
		return c, fmt.Errorf("copy %s: %w", t.name, err)
	}
	if err := wtx.QueryRow(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&c.Postgres); err != nil {
		return c, fmt.Errorf("count %s in PostgreSQL: %w", t.name, err)
	}
	return c, nil
}

// setSequence sets the PostgreSQL sequence of t.serial so that the next id
// is above every id SQLite ever gave (its sqlite_sequence remembers those of
// rows since deleted, which must not be given again: a client may hold one as
// its since). It returns that next id.
func setSequence(ctx context.Context, rtx *sql.Tx, wtx pgx.Tx, t table) (int64, error) {
	var high int64
	if err := rtx.QueryRowContext(ctx, `SELECT MAX(COALESCE((SELECT MAX(`+t.serial+`) FROM `+t.name+`), 0),
		COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0))`, t.name).Scan(&high); err != nil {
		return 0, fmt.Errorf("read the highest %s.%s: %w", t.name, t.serial, err)
	}
	// setval(seq, v, false): the next value is v.
	if _, err := wtx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), $3, false)`, t.name, t.serial, high+1); err != nil {
		return 0, fmt.Errorf("set the sequence of %s.%s: %w", t.name, t.serial, err)
	}
	return high + 1, nil
}

// rowSource feeds SQLite rows to COPY, converted.
type rowSource struct {
	rows *sql.Rows
	t    table
	vals []any
	err  error
}

func (s *rowSource) Next() bool {
	if !s.rows.Next() {
		s.err = s.rows.Err()
		return false
	}
	raw := make([]any, len(s.t.columns))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := s.rows.Scan(ptrs...); err != nil {
		s.err = err
		return false
	}
	s.vals = make([]any, len(raw))
	for i, col := range s.t.columns {
		v, err := col.convert(raw[i])
		if err != nil {
			s.err = fmt.Errorf("%s.%s: %w", s.t.name, col.name, err)
			return false
		}
		s.vals[i] = v
	}
	return true
}

func (s *rowSource) Values() ([]any, error) { return s.vals, nil }
func (s *rowSource) Err() error             { return s.err }

// The conversions: SQLite keeps times as Unix milliseconds and booleans as
// 0/1; PostgreSQL has timestamptz and boolean, and keeps message text as
// bytea (it may hold U+0000).

func same(v any) (any, error) { return v, nil }

func msTime(v any) (any, error) {
	n, ok := v.(int64)
	if !ok {
		return nil, fmt.Errorf("a time of %T, want integer milliseconds", v)
	}
	return time.UnixMilli(n).UTC(), nil
}

// msTimeOrNull is msTime with 0 (never) as NULL.
func msTimeOrNull(v any) (any, error) {
	if n, ok := v.(int64); v == nil || ok && n == 0 {
		return nil, nil
	}
	return msTime(v)
}

func boolean(v any) (any, error) {
	n, ok := v.(int64)
	if !ok {
		return nil, fmt.Errorf("a boolean of %T, want 0 or 1", v)
	}
	return n != 0, nil
}

func bytes(v any) (any, error) {
	switch s := v.(type) {
	case string:
		return []byte(s), nil
	case []byte:
		return s, nil
	}
	return nil, fmt.Errorf("a text of %T", v)
}
