package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxStatements bounds the prepared statements kept. Every query of this
// package is a constant text or built from a few fixed parts, so the set is
// small and fixed; the bound only stops a future query built from input from
// growing the cache without end.
const maxStatements = 256

// statements prepares each query text once and keeps it. modernc's driver
// parses a query's SQL on every call of DB.QueryContext; a socket's connect
// runs half a dozen small lookups (its session, its rooms, the room's access
// and newest rows), and parsing them cost more than running them (a profile
// of a reconnect storm: a third of the store's time in the SQL parser).
// database/sql prepares a kept statement once on each pooled connection.
type statements struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStatements(db *sql.DB) *statements {
	return &statements{db: db, m: make(map[string]*sql.Stmt)}
}

// get returns the prepared statement of query, preparing it the first time;
// nil (and no error) once the cache is full: the caller runs the query as is.
func (c *statements) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxStatements
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	if full {
		return nil, nil
	}
	// Prepared without the lock: preparing takes a pooled connection, and
	// a caller holding one while it reads rows may want a statement too.
	// Holding the lock across the wait for a connection stalled every query
	// of a storm's first second until their deadlines.
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if kept, ok := c.m[query]; ok { // another caller prepared it meanwhile
		st.Close()
		return kept, nil
	}
	if len(c.m) >= maxStatements {
		st.Close()
		return nil, nil
	}
	c.m[query] = st
	return st, nil
}

func (c *statements) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// query runs a query that returns rows through its kept statement.
func (s *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmts.get(ctx, query)
	if err != nil || st == nil {
		return s.db.QueryContext(ctx, query, args...) // reports the same error, or runs uncached
	}
	return st.QueryContext(ctx, args...)
}

// queryRow runs a query of at most one row through its kept statement.
func (s *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.stmts.get(ctx, query)
	if err != nil || st == nil {
		return s.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// exec runs a statement that writes through its kept statement, as this
// process's one writer (DB.writer).
func (s *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := s.stmts.get(ctx, query)
	if err != nil || st == nil {
		return s.db.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// txStmt returns query's kept statement for use in tx (database/sql reuses
// its preparation on the transaction's connection), or an error.
func (s *DB) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	st, err := s.stmts.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return tx.PrepareContext(ctx, query)
	}
	return tx.StmtContext(ctx, st), nil
}
