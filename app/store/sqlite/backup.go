package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// BackupTo writes a consistent copy of the database to path, which must not
// exist or be an empty file (the caller creates it with the mode it wants).
//
// VACUUM INTO reads the database in one read transaction: in WAL mode the
// server keeps writing beside it, and the copy is the database as it was when
// the read began (every message committed by then, none after). It copies
// only live rows, so the free pages of deleted rows stay behind. SQLite's
// online backup API (modernc exposes it on the raw connection) copies pages
// instead; stepped a few pages at a time it starts over whenever another
// connection writes, which a busy server always does, and in one step it
// holds the same read transaction as VACUUM INTO while also copying free pages.
func (s *DB) BackupTo(ctx context.Context, path string) error {
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("copy database to %s: %w", path, err)
	}
	return nil
}

// Summary is what Check found in a database file.
type Summary struct {
	Version  int   // the schema version (migrations applied)
	Users    int64 // accounts
	Messages int64 // stored message rows
}

// Check opens the database file at path read-only, runs SQLite's full
// integrity check and counts what it holds. A file that is not a securechat
// database, or one from a newer version than this binary, is an error.
func Check(ctx context.Context, path string) (Summary, error) {
	q := url.Values{}
	q.Set("mode", "ro")
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?"+q.Encode())
	if err != nil {
		return Summary{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return Summary{}, fmt.Errorf("check %s: %w", path, err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return Summary{}, fmt.Errorf("check %s: %w", path, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return Summary{}, fmt.Errorf("check %s: %w", path, err)
	}
	if len(problems) > 0 {
		if len(problems) > 5 {
			problems = append(problems[:5], fmt.Sprintf("and %d more", len(problems)-5))
		}
		return Summary{}, fmt.Errorf("%s fails the integrity check: %s", path, strings.Join(problems, "; "))
	}
	var sum Summary
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&sum.Version); err != nil {
		return Summary{}, fmt.Errorf("read schema version of %s: %w", path, err)
	}
	if sum.Version == 0 {
		return Summary{}, fmt.Errorf("%s is not a securechat database", path)
	}
	if sum.Version > len(migrations) {
		return Summary{}, fmt.Errorf("%s has schema version %d, newer than this securechat knows (%d): use the newer binary", path, sum.Version, len(migrations))
	}
	if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM messages)`).Scan(&sum.Users, &sum.Messages); err != nil {
		return Summary{}, fmt.Errorf("count rows of %s: %w", path, err)
	}
	return sum, nil
}
