package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"securechat/app/store"
)

// CreateUser adds an account; store.ErrExists if the name is taken.
func (s *DB) CreateUser(ctx context.Context, name, passwordHash string, now time.Time) (store.User, error) {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO users(name, password_hash, created_at) VALUES(?, ?, ?)`, name, passwordHash, ms(now))
	if isUnique(err) {
		return store.User{}, store.ErrExists
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	return store.User{ID: id, Name: name, PasswordHash: passwordHash, CreatedAt: now}, nil
}

// UserByName finds an account; store.ErrNotFound if there is none.
func (s *DB) UserByName(ctx context.Context, name string) (store.User, error) {
	var u store.User
	var created int64
	err := s.db.QueryRowContext(ctx,
		`SELECT id, name, password_hash, created_at FROM users WHERE name = ?`, name).
		Scan(&u.ID, &u.Name, &u.PasswordHash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.User{}, store.ErrNotFound
	}
	if err != nil {
		return store.User{}, fmt.Errorf("find user: %w", err)
	}
	u.CreatedAt = fromMS(created)
	return u, nil
}

// ListUsers returns every account by name.
func (s *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var users []store.User
	for rows.Next() {
		var u store.User
		var created int64
		if err := rows.Scan(&u.ID, &u.Name, &created); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.CreatedAt = fromMS(created)
		users = append(users, u)
	}
	return users, rows.Err()
}

// SetPasswordHash replaces a user's password hash and revokes all their sessions.
func (s *DB) SetPasswordHash(ctx context.Context, userID int64, hash string, now time.Time) error {
	return s.inTx(ctx, "set password", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return revokeUserSessions(ctx, tx, userID, now)
	})
}

// DeleteUser removes an account and revokes all its sessions.
func (s *DB) DeleteUser(ctx context.Context, userID int64, now time.Time) error {
	return s.inTx(ctx, "delete user", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return revokeUserSessions(ctx, tx, userID, now)
	})
}

func revokeUserSessions(ctx context.Context, tx *sql.Tx, userID int64, now time.Time) error {
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO revocations(session_id, at) SELECT id, ? FROM sessions WHERE user_id = ? AND revoked = 0`,
		ms(now), userID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked = 1 WHERE user_id = ? AND revoked = 0`, userID)
	return err
}
