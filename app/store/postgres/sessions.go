package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"securechat/app/store"
)

// CreateSession records a new login.
func (s *DB) CreateSession(ctx context.Context, sess store.Session) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO sessions(id, user_id, created_at, expires_at, kind, name, address, user_agent, last_seen)
		 VALUES($1, $2, $3, $4, $5, $6, $7, $8, $3)`,
		sess.ID, sess.UserID, ms(sess.CreatedAt), ms(sess.ExpiresAt), kindOr(sess.Kind), sess.Name, sess.Address, sess.UserAgent)
	if isUnique(err) {
		return store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// LiveSession returns a session that is neither revoked nor expired at now,
// with its user; store.ErrNotFound otherwise (also when the user was deleted).
func (s *DB) LiveSession(ctx context.Context, sessionID string, now time.Time) (store.SessionUser, error) {
	var su store.SessionUser
	err := s.pool.QueryRow(ctx,
		`SELECT s.id, u.id, u.name, s.created_at, s.expires_at, s.kind, COALESCE(s.last_seen, s.created_at)
		 FROM sessions s JOIN users u ON u.id = s.user_id
		 WHERE s.id = $1 AND NOT s.revoked AND s.expires_at > $2`, sessionID, ms(now)).
		Scan(&su.SessionID, &su.UserID, &su.UserName, &su.CreatedAt, &su.ExpiresAt, &su.Kind, &su.LastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.SessionUser{}, store.ErrNotFound
	}
	if err != nil {
		return store.SessionUser{}, fmt.Errorf("find session: %w", err)
	}
	su.CreatedAt = su.CreatedAt.UTC()
	su.ExpiresAt = su.ExpiresAt.UTC()
	su.LastSeen = su.LastSeen.UTC()
	return su, nil
}

// ExtendSession moves a live session's expiry to exp.
func (s *DB) ExtendSession(ctx context.Context, sessionID string, exp time.Time) error {
	tag, err := s.pool.Exec(ctx,
		`UPDATE sessions SET expires_at = $1 WHERE id = $2 AND NOT revoked`, ms(exp), sessionID)
	if err != nil {
		return fmt.Errorf("extend session: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// RevokeSession ends a session; revoking an unknown or revoked one is not an error.
func (s *DB) RevokeSession(ctx context.Context, sessionID string, now time.Time) error {
	return s.inTx(ctx, "revoke session", func(tx pgx.Tx) error {
		// Under READ COMMITTED a concurrent revoker of the same session waits
		// for this row, then finds it revoked and records nothing: one
		// revocation per session.
		tag, err := tx.Exec(ctx, `UPDATE sessions SET revoked = true WHERE id = $1 AND NOT revoked`, sessionID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		return recordRevocations(ctx, tx, []string{sessionID}, now)
	})
}

// recordRevocations adds a revocation for each session, numbered in order.
//
// Servers poll RevocationsAfter(the last seq they saw), so a revocation must
// never become visible with a seq below one that is already visible. A bare
// BIGSERIAL does not promise that: transaction A takes seq 5, B takes 6 and
// commits, a poller reads 6 and moves past it, then A commits 5, never to be
// seen. So the seqs are taken under LOCK TABLE ... IN EXCLUSIVE MODE, held to
// commit: revokers take turns, each one's seqs come after those of every
// revoker that committed before it, and PostgreSQL makes a commit visible
// before it releases the locks, so the visible seqs only ever grow at the top.
// EXCLUSIVE does not conflict with plain SELECTs, so pollers never wait; only
// revokers (logouts, password changes, deletions: rare and short) queue.
//
// The alternatives were worse: reading only below the oldest running
// transaction's seq needs bookkeeping in every poll, and SERIALIZABLE would
// turn the race into retries. The lock is taken as late as possible, after
// the sessions' rows are locked, so that nothing the holder waits for can be
// held by a transaction waiting for the lock.
func recordRevocations(ctx context.Context, tx pgx.Tx, sessionIDs []string, now time.Time) error {
	if len(sessionIDs) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE revocations IN EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("lock revocations: %w", err)
	}
	_, err := tx.Exec(ctx,
		`INSERT INTO revocations(session_id, at) SELECT id, $2 FROM unnest($1::text[]) WITH ORDINALITY AS r(id, n) ORDER BY n`,
		sessionIDs, ms(now))
	return err
}

// LastRevocation returns the newest revocation's sequence number (0 if none).
func (s *DB) LastRevocation(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM revocations`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read last revocation: %w", err)
	}
	return seq, nil
}

// RevocationsAfter returns revocations with a sequence number above seq, oldest
// first (at most 10000 at a time, as SQLite).
func (s *DB) RevocationsAfter(ctx context.Context, seq int64) ([]store.Revocation, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT seq, session_id FROM revocations WHERE seq > $1 ORDER BY seq LIMIT 10000`, seq)
	if err != nil {
		return nil, fmt.Errorf("read revocations: %w", err)
	}
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		var r store.Revocation
		if err := rows.Scan(&r.Seq, &r.SessionID); err != nil {
			return nil, fmt.Errorf("read revocations: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read revocations: %w", err)
	}
	return out, nil
}

// PruneSessions deletes sessions, revoked or not, that expired before before:
// an expired session authenticates nothing, so its row is only weight.
func (s *DB) PruneSessions(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at < $1`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PruneRevocations deletes revocations made before before. The BIGSERIAL
// never goes back, so a poller's position stays meaningful.
func (s *DB) PruneRevocations(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM revocations WHERE at < $1`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune revocations: %w", err)
	}
	return tag.RowsAffected(), nil
}

// kindOr is a session's kind, token when none is given (as for rows made
// before kinds were recorded).
func kindOr(kind string) string {
	if kind == "" {
		return store.SessionToken
	}
	return kind
}

// UserSessions returns a user's sessions that are neither revoked nor
// expired at now, oldest first.
func (s *DB) UserSessions(ctx context.Context, userID int64, now time.Time) ([]store.Session, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT id, user_id, created_at, expires_at, kind, name, address, user_agent, COALESCE(last_seen, created_at)
		 FROM sessions WHERE user_id = $1 AND NOT revoked AND expires_at > $2 ORDER BY created_at, id`, userID, ms(now))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		var ss store.Session
		if err := rows.Scan(&ss.ID, &ss.UserID, &ss.CreatedAt, &ss.ExpiresAt, &ss.Kind, &ss.Name, &ss.Address, &ss.UserAgent, &ss.LastSeen); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		ss.CreatedAt, ss.ExpiresAt, ss.LastSeen = ss.CreatedAt.UTC(), ss.ExpiresAt.UTC(), ss.LastSeen.UTC()
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// TouchSessions records that the sessions were used at at (a time already
// later stays).
func (s *DB) TouchSessions(ctx context.Context, sessionIDs []string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen = $1 WHERE id = ANY($2) AND (last_seen IS NULL OR last_seen < $1)`,
		ms(at), sessionIDs); err != nil {
		return fmt.Errorf("touch sessions: %w", err)
	}
	return nil
}
