// Package sqlite is the embedded storage back end: accounts, sessions and chat
// history in one SQLite file through modernc.org/sqlite (pure Go, no cgo).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"securechat/app/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database file inside the data folder.
const FileName = "securechat.db"

// busyTimeout is how long a statement waits for another connection's lock.
const busyTimeout = 10 * time.Second

// DB is the SQLite store.
type DB struct {
	db    *sql.DB
	stmts *statements // each query's prepared statement (statements.go)
	// writer is held by this process's one writer at a time (exec, inTx).
	// SQLite lets one connection write; the others wait in its busy handler,
	// which sleeps in steps of up to 100 ms while holding a pooled
	// connection. In a reconnect storm (a read position recorded, a session
	// touched for each socket) those sleepers took every connection and the
	// lock sat free between their naps: queries stalled until their
	// deadlines. Waiting here holds no connection and is served in order.
	writer chan struct{}
}

// Open opens (creating if needed) the database in dir and brings its schema up to date.
func Open(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	// The file holds password hashes and sessions: readable by the owner only.
	// SQLite gives its -wal and -shm files the database file's mode.
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	q := url.Values{}
	// WAL lets readers run beside the one writer; busy_timeout makes the CLI and
	// the server wait for each other instead of failing; synchronous(FULL) makes a
	// commit durable before a message is acknowledged. secure_delete(ON) zeroes
	// what a delete or a shrinking update frees, so a deleted message's text
	// does not linger in free space of the file (Scrub then clears the WAL).
	for _, p := range []string{fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()), "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "secure_delete(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // write transactions take the lock up front: no upgrade deadlocks
	dsn := "file:" + filepath.ToSlash(path) + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// Every open connection may stay idle (database/sql keeps two by
	// default): a connection closed after a burst is opened again at the
	// next, which reads the schema and prepares every kept statement on it
	// anew; in a reconnect storm that was a tenth of the store's time.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(time.Minute)
	s := &DB{db: db, stmts: newStatements(db), writer: make(chan struct{}, 1)}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// maxConns bounds the pool: readers run beside the one writer in WAL mode,
// and more than a few per processor only queue inside SQLite.
const maxConns = 8

// Close closes the database.
func (s *DB) Close() error {
	s.stmts.close()
	return s.db.Close()
}

var migrations = []string{
	`CREATE TABLE users (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		name TEXT NOT NULL UNIQUE,
		password_hash TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE sessions (
		id TEXT PRIMARY KEY,
		user_id INTEGER NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		revoked INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX sessions_user ON sessions(user_id);
	CREATE TABLE revocations (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		session_id TEXT NOT NULL,
		at INTEGER NOT NULL
	);
	CREATE TABLE messages (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		room TEXT NOT NULL,
		user TEXT NOT NULL,
		text TEXT NOT NULL,
		ts INTEGER NOT NULL
	);
	CREATE INDEX messages_room_id ON messages(room, id);
	CREATE TABLE rooms (
		name TEXT PRIMARY KEY,
		last_id INTEGER NOT NULL DEFAULT 0,
		last_activity INTEGER NOT NULL
	);`,
	// A per-room sequence beside the global id: gap detection for multi-node fan-out.
	`ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE rooms ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
	UPDATE messages SET seq = (SELECT COUNT(*) FROM messages m2 WHERE m2.room = messages.room AND m2.id <= messages.id);
	UPDATE rooms SET last_seq = (SELECT COUNT(*) FROM messages WHERE messages.room = rooms.name);`,
	// A name is not an identity: messages record their author's account, and a
	// deleted account's name is reserved for ever so nobody can pass as its
	// author. Old messages get the id of the account of their author's name if
	// that account existed when they were written (a later namesake did not
	// write them); the rest (accounts deleted before this) keep NULL, and
	// their names are reserved unless someone already holds them again.
	`ALTER TABLE messages ADD COLUMN user_id INTEGER;
	UPDATE messages SET user_id = (SELECT u.id FROM users u WHERE u.name = messages.user AND u.created_at <= messages.ts);
	CREATE TABLE deleted_names (
		name TEXT PRIMARY KEY,
		user_id INTEGER,
		deleted_at INTEGER NOT NULL
	);
	INSERT OR IGNORE INTO deleted_names(name, user_id, deleted_at)
		SELECT DISTINCT user, NULL, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM messages
		WHERE user_id IS NULL AND user NOT IN (SELECT name FROM users);
	-- The room list: most recently active first, one page at a time.
	CREATE INDEX rooms_activity ON rooms(last_activity, name);`,
	// What a user sees of their sessions, and personal access tokens (a
	// session of kind pat whose id is the token's SHA-256). Sessions made
	// before this were all /token or browser logins; they show as token.
	`ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'token';
	ALTER TABLE sessions ADD COLUMN name TEXT NOT NULL DEFAULT '';
	ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT '';
	ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
	ALTER TABLE sessions ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;`,
	// The rooms a user has joined, and how far they have read each: they
	// belong to the account, so every device shows the same.
	`CREATE TABLE memberships (
		user_id INTEGER NOT NULL,
		room TEXT NOT NULL,
		read_id INTEGER NOT NULL DEFAULT 0,
		read_at INTEGER NOT NULL,
		PRIMARY KEY (user_id, room)
	);
	CREATE INDEX memberships_read ON memberships(user_id, read_at);`,
	// Two-factor login: a user's authenticator secret (encrypted by the
	// service) and the hashes of their unused recovery codes.
	`CREATE TABLE totp (
		user_id INTEGER PRIMARY KEY,
		secret TEXT NOT NULL,
		confirmed INTEGER NOT NULL DEFAULT 0,
		last_step INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE recovery_codes (
		user_id INTEGER NOT NULL,
		hash TEXT NOT NULL,
		PRIMARY KEY (user_id, hash)
	);`,
	// Roles: every existing account is a member; admins are made by the CLI.
	`ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member';`,
	// The audit log. Names, not ids: a row outlives its account.
	`CREATE TABLE audit (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		at INTEGER NOT NULL,
		event TEXT NOT NULL,
		actor TEXT NOT NULL,
		subject TEXT NOT NULL,
		address TEXT NOT NULL,
		user_agent TEXT NOT NULL,
		session_id TEXT NOT NULL,
		detail TEXT NOT NULL
	);
	CREATE INDEX audit_at ON audit(at);
	CREATE INDEX audit_subject ON audit(subject, id);
	CREATE INDEX audit_actor ON audit(actor, id);`,
	// Private rooms and dms: a room's kind and owner, who may read it
	// (room_members; public rooms have no rows), and the dm of each set of
	// users (key: their sorted ids joined by commas). Edits and deletes are
	// rows of the room's sequence (kind, target); a message row keeps its
	// current text, when it was last edited and whether it was deleted.
	`ALTER TABLE rooms ADD COLUMN kind TEXT NOT NULL DEFAULT 'public';
	ALTER TABLE rooms ADD COLUMN owner_id INTEGER;
	CREATE TABLE room_members (
		room TEXT NOT NULL,
		user_id INTEGER NOT NULL,
		role TEXT NOT NULL,
		added_at INTEGER NOT NULL,
		PRIMARY KEY (room, user_id)
	);
	CREATE INDEX room_members_user ON room_members(user_id);
	CREATE TABLE dms (
		key TEXT PRIMARY KEY,
		room TEXT NOT NULL
	);
	ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT '';
	ALTER TABLE messages ADD COLUMN target INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE messages ADD COLUMN edited_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
	-- A delete wipes the text of the edits of its message.
	CREATE INDEX messages_target ON messages(target) WHERE target > 0;`,
	// Search: a trigram index of the current text of every message row
	// (never a change row, never a deleted message), kept by triggers. The
	// index reads the text from messages (external content) and keeps only
	// trigrams; secure-delete makes FTS5 remove a deleted or replaced text's
	// trigrams from its shadow tables at once instead of leaving them behind
	// delete markers, so the real delete of a message reaches the index too.
	// The index leaves rows of messages out on purpose (changes, deleted
	// messages): never 'rebuild' it, which would index them all.
	`CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='id', tokenize='trigram');
	INSERT INTO messages_fts(messages_fts, rank) VALUES('secure-delete', 1);
	INSERT INTO messages_fts(rowid, text) SELECT id, text FROM messages WHERE kind = '' AND deleted = 0;
	CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.kind = '' AND new.deleted = 0 BEGIN
		INSERT INTO messages_fts(rowid, text) VALUES(new.id, new.text);
	END;
	CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, kind, deleted ON messages BEGIN
		INSERT INTO messages_fts(messages_fts, rowid, text) SELECT 'delete', old.id, old.text WHERE old.kind = '' AND old.deleted = 0;
		INSERT INTO messages_fts(rowid, text) SELECT new.id, new.text WHERE new.kind = '' AND new.deleted = 0;
	END;
	CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.kind = '' AND old.deleted = 0 BEGIN
		INSERT INTO messages_fts(messages_fts, rowid, text) VALUES('delete', old.id, old.text);
	END;`,
	// Retention: a room may keep its messages fewer days than the server's
	// default (0: the default); expiry finds the oldest messages by time.
	`ALTER TABLE rooms ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX messages_expiry ON messages(ts) WHERE kind = '';`,
	// Mentions: which messages mention which user (@name), for the unread
	// frame's counts. No text: a deleted message's mentions are deleted
	// with it, and the message row is the only copy of what it said.
	`CREATE TABLE mentions (
		user_id INTEGER NOT NULL,
		room TEXT NOT NULL,
		message_id INTEGER NOT NULL,
		PRIMARY KEY (user_id, room, message_id)
	);
	CREATE INDEX mentions_message ON mentions(message_id);`,
	// Unread counts read only live messages: an index of just those keeps
	// each count to the index (no row lookups for kind and deleted).
	`CREATE INDEX messages_live ON messages(room, id) WHERE kind = '' AND deleted = 0;`,
}

// migrate applies the migrations not yet recorded in user_version. Each runs
// in a write transaction that reads the version first, so processes starting
// on the same fresh folder at once (a server and the CLI) take turns.
func (s *DB) migrate(ctx context.Context) error {
	for {
		done, err := s.migrateOne(ctx)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration; done reports there was none.
func (s *DB) migrateOne(ctx context.Context) (done bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	if version >= len(migrations) {
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[version]); err != nil {
		return false, fmt.Errorf("migrate to %d: %w", version+1, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version+1)); err != nil {
		return false, fmt.Errorf("migrate to %d: %w", version+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate to %d: %w", version+1, err)
	}
	return false, nil
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// ms and fromMS store times as Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// inTx runs fn in a write transaction.
func (s *DB) inTx(ctx context.Context, what string, fn func(*sql.Tx) error) error {
	unlock, err := s.lockWriter(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", what, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) {
			return err
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", what, err)
	}
	return nil
}

// lockWriter waits to be this process's one writer (DB.writer), or for ctx.
func (s *DB) lockWriter(ctx context.Context) (unlock func(), err error) {
	select {
	case s.writer <- struct{}{}:
		return func() { <-s.writer }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait to write: %w", ctx.Err())
	}
}
