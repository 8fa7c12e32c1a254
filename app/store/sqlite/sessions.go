package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"securechat/app/store"
)

// CreateSession records a new login.
func (s *DB) CreateSession(ctx context.Context, sess store.Session) error {
	_, err := s.exec(ctx,
		`INSERT INTO sessions(id, user_id, created_at, expires_at, kind, name, address, user_agent, last_seen)
		 VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sess.ID, sess.UserID, ms(sess.CreatedAt), ms(sess.ExpiresAt), kindOr(sess.Kind), sess.Name, sess.Address, sess.UserAgent, ms(sess.CreatedAt))
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
	var created, exp, seen int64
	err := s.queryRow(ctx,
		`SELECT s.id, u.id, u.name, s.created_at, s.expires_at, s.kind, s.last_seen FROM sessions s JOIN users u ON u.id = s.user_id
		 WHERE s.id = ? AND s.revoked = 0 AND s.expires_at > ?`, sessionID, ms(now)).
		Scan(&su.SessionID, &su.UserID, &su.UserName, &created, &exp, &su.Kind, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return store.SessionUser{}, store.ErrNotFound
	}
	if err != nil {
		return store.SessionUser{}, fmt.Errorf("find session: %w", err)
	}
	su.CreatedAt = fromMS(created)
	su.ExpiresAt = fromMS(exp)
	su.LastSeen = fromMS(seen)
	return su, nil
}

// ExtendSession moves a live session's expiry to exp.
func (s *DB) ExtendSession(ctx context.Context, sessionID string, exp time.Time) error {
	res, err := s.exec(ctx,
		`UPDATE sessions SET expires_at = ? WHERE id = ? AND revoked = 0`, ms(exp), sessionID)
	if err != nil {
		return fmt.Errorf("extend session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// RevokeSession ends a session; revoking an unknown or revoked one is not an error.
func (s *DB) RevokeSession(ctx context.Context, sessionID string, now time.Time) error {
	return s.inTx(ctx, "revoke session", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked = 1 WHERE id = ? AND revoked = 0`, sessionID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO revocations(session_id, at) VALUES(?, ?)`, sessionID, ms(now))
		return err
	})
}

// LastRevocation returns the newest revocation's sequence number (0 if none).
func (s *DB) LastRevocation(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM revocations`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read last revocation: %w", err)
	}
	return seq, nil
}

// RevocationsAfter returns revocations with a sequence number above seq, oldest first.
func (s *DB) RevocationsAfter(ctx context.Context, seq int64) ([]store.Revocation, error) {
	rows, err := s.query(ctx,
		`SELECT seq, session_id FROM revocations WHERE seq > ? ORDER BY seq LIMIT 10000`, seq)
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
	return out, rows.Err()
}

// PruneSessions deletes sessions, revoked or not, that expired before before:
// an expired session authenticates nothing, so its row is only weight.
func (s *DB) PruneSessions(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM sessions WHERE expires_at < ?`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// PruneRevocations deletes revocations made before before. Sequence numbers
// are never reused (AUTOINCREMENT), so a poller's position stays meaningful.
func (s *DB) PruneRevocations(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM revocations WHERE at < ?`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune revocations: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
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
	rows, err := s.query(ctx,
		`SELECT id, user_id, created_at, expires_at, kind, name, address, user_agent, last_seen FROM sessions
		 WHERE user_id = ? AND revoked = 0 AND expires_at > ? ORDER BY created_at, id`, userID, ms(now))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		var ss store.Session
		var created, exp, seen int64
		if err := rows.Scan(&ss.ID, &ss.UserID, &created, &exp, &ss.Kind, &ss.Name, &ss.Address, &ss.UserAgent, &seen); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		ss.CreatedAt, ss.ExpiresAt, ss.LastSeen = fromMS(created), fromMS(exp), fromMS(seen)
		out = append(out, ss)
	}
	return out, rows.Err()
}

// TouchSessions records that the sessions were used at at (a time already
// later stays).
func (s *DB) TouchSessions(ctx context.Context, sessionIDs []string, at time.Time) error {
	// One transaction, one sync, however many sessions.
	return s.inTx(ctx, "touch sessions", func(tx *sql.Tx) error {
		st, err := s.txStmt(ctx, tx, `UPDATE sessions SET last_seen = ? WHERE id = ? AND last_seen < ?`)
		if err != nil {
			return err
		}
		for _, id := range sessionIDs {
			if _, err := st.ExecContext(ctx, ms(at), id, ms(at)); err != nil {
				return err
			}
		}
		return nil
	})
}
