package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"securechat/app/store"
)

// CreateUser adds an account; store.ErrExists if the name is taken or
// belonged to a deleted account (such names are never given out again).
func (s *DB) CreateUser(ctx context.Context, name, passwordHash string, now time.Time) (store.User, error) {
	var id int64
	err := s.inTx(ctx, "create user", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO users(name, password_hash, created_at) SELECT ?, ?, ?
			 WHERE NOT EXISTS (SELECT 1 FROM deleted_names WHERE name = ?)`, name, passwordHash, ms(now), name)
		if isUnique(err) {
			return store.ErrExists
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmp.Or(err, store.ErrExists)
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return store.User{}, err
	}
	return store.User{ID: id, Name: name, PasswordHash: passwordHash, CreatedAt: now, Role: store.RoleMember}, nil
}

// CreateUserAdminIfFirst is CreateUser, except that the account is an admin
// if the store never had one before it: no account exists and no name was
// ever deleted. Whether it is first is read by the insert itself, inside a
// write transaction (taken up front, _txlock=immediate), so of sign-ups at
// once at most one sees an empty store.
func (s *DB) CreateUserAdminIfFirst(ctx context.Context, name, passwordHash string, now time.Time) (store.User, error) {
	var id int64
	var role string
	err := s.inTx(ctx, "create user", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx,
			`INSERT INTO users(name, password_hash, created_at, role)
			 SELECT ?, ?, ?, CASE WHEN EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM deleted_names)
			                      THEN ? ELSE ? END
			 WHERE NOT EXISTS (SELECT 1 FROM deleted_names WHERE name = ?)
			 RETURNING id, role`, name, passwordHash, ms(now), store.RoleMember, store.RoleAdmin, name).Scan(&id, &role)
		if isUnique(err) || errors.Is(err, sql.ErrNoRows) {
			return store.ErrExists
		}
		return err
	})
	if err != nil {
		return store.User{}, err
	}
	return store.User{ID: id, Name: name, PasswordHash: passwordHash, CreatedAt: now, Role: role}, nil
}

// UserByName finds an account; store.ErrNotFound if there is none.
func (s *DB) UserByName(ctx context.Context, name string) (store.User, error) {
	var u store.User
	var created int64
	err := s.queryRow(ctx,
		`SELECT id, name, password_hash, created_at, role FROM users WHERE name = ?`, name).
		Scan(&u.ID, &u.Name, &u.PasswordHash, &created, &u.Role)
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
	rows, err := s.query(ctx, `SELECT id, name, created_at, role FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var users []store.User
	for rows.Next() {
		var u store.User
		var created int64
		if err := rows.Scan(&u.ID, &u.Name, &created, &u.Role); err != nil {
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

// SetUserRole sets an account's role; store.ErrNotFound if there is none.
func (s *DB) SetUserRole(ctx context.Context, userID int64, role string) error {
	res, err := s.exec(ctx, `UPDATE users SET role = ? WHERE id = ?`, role, userID)
	if err != nil {
		return fmt.Errorf("set role: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return cmp.Or(err, store.ErrNotFound)
	}
	return nil
}

// DeleteUser removes an account, revokes all its sessions and reserves its
// name. Its messages stay, with its id and name.
func (s *DB) DeleteUser(ctx context.Context, userID int64, now time.Time) error {
	return s.inTx(ctx, "delete user", func(tx *sql.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, `DELETE FROM users WHERE id = ? RETURNING name`, userID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		// The name stays reserved: whoever signs up with it later would
		// otherwise pass as the author of this account's messages.
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO deleted_names(name, user_id, deleted_at) VALUES(?, ?, ?)`,
			name, userID, ms(now)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE user_id = ?`, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM room_members WHERE user_id = ?`, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mentions WHERE user_id = ?`, userID); err != nil {
			return err
		}
		if err := deleteTOTP(ctx, tx, userID); err != nil {
			return err
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
