package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"securechat/app/store"
)

// CreateUser adds an account; store.ErrExists if the name is taken or
// belonged to a deleted account (such names are never given out again).
//
// The reservation is checked after the insert, by a statement of its own:
// an insert that raced a DeleteUser of the same name waited for it on the
// name's unique index, so that statement sees the reservation it committed.
func (s *DB) CreateUser(ctx context.Context, name, passwordHash string, now time.Time) (store.User, error) {
	var id int64
	err := s.inTx(ctx, "create user", func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx,
			`INSERT INTO users(name, password_hash, created_at) VALUES($1, $2, $3) RETURNING id`,
			name, passwordHash, ms(now)).Scan(&id)
		if isUnique(err) {
			return store.ErrExists
		}
		if err != nil {
			return err
		}
		var reserved bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deleted_names WHERE name = $1)`, name).Scan(&reserved); err != nil {
			return err
		}
		if reserved {
			return store.ErrExists
		}
		return nil
	})
	if err != nil {
		return store.User{}, err
	}
	return store.User{ID: id, Name: name, PasswordHash: passwordHash, CreatedAt: now, Role: store.RoleMember}, nil
}

// CreateUserAdminIfFirst is CreateUser, except that the account is an admin
// if the store never had one before it: no account exists and no name was
// ever deleted. Once the store has had an account it always will (a deleted
// one leaves its name behind), so that is read first without a lock; only on
// an empty store does the insert lock the users table against every other
// insert (SHARE ROW EXCLUSIVE conflicts with the ROW EXCLUSIVE an INSERT
// takes, and with itself) and read again, so of sign-ups at once at most one
// is an admin.
func (s *DB) CreateUserAdminIfFirst(ctx context.Context, name, passwordHash string, now time.Time) (store.User, error) {
	var had bool
	if err := s.pool.QueryRow(ctx, hadUsers).Scan(&had); err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	if had {
		return s.CreateUser(ctx, name, passwordHash, now)
	}
	var id int64
	role := store.RoleMember
	err := s.inTx(ctx, "create user", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var had, reserved bool
		if err := tx.QueryRow(ctx, hadUsers).Scan(&had); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deleted_names WHERE name = $1)`, name).Scan(&reserved); err != nil {
			return err
		}
		if reserved {
			return store.ErrExists
		}
		if !had {
			role = store.RoleAdmin
		}
		err := tx.QueryRow(ctx,
			`INSERT INTO users(name, password_hash, created_at, role) VALUES($1, $2, $3, $4) RETURNING id`,
			name, passwordHash, ms(now), role).Scan(&id)
		if isUnique(err) {
			return store.ErrExists
		}
		return err
	})
	if err != nil {
		return store.User{}, err
	}
	return store.User{ID: id, Name: name, PasswordHash: passwordHash, CreatedAt: now, Role: role}, nil
}

// hadUsers reads whether the store has ever had an account.
const hadUsers = `SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM deleted_names)`

// UserByName finds an account; store.ErrNotFound if there is none.
func (s *DB) UserByName(ctx context.Context, name string) (store.User, error) {
	var u store.User
	err := s.pool.QueryRow(ctx,
		`SELECT id, name, password_hash, created_at, role FROM users WHERE name = $1`, name).
		Scan(&u.ID, &u.Name, &u.PasswordHash, &u.CreatedAt, &u.Role)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.User{}, store.ErrNotFound
	}
	if err != nil {
		return store.User{}, fmt.Errorf("find user: %w", err)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// ListUsers returns every account by name (without password hashes).
func (s *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	// COLLATE "C" orders by bytes, as SQLite does, whatever the database's locale.
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at, role FROM users ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var users []store.User
	for rows.Next() {
		var u store.User
		if err := rows.Scan(&u.ID, &u.Name, &u.CreatedAt, &u.Role); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.CreatedAt = u.CreatedAt.UTC()
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// SetPasswordHash replaces a user's password hash and revokes all their sessions.
func (s *DB) SetPasswordHash(ctx context.Context, userID int64, hash string, now time.Time) error {
	return s.inTx(ctx, "set password", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return revokeUserSessions(ctx, tx, userID, now)
	})
}

// SetUserRole sets an account's role; store.ErrNotFound if there is none.
func (s *DB) SetUserRole(ctx context.Context, userID int64, role string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET role = $1 WHERE id = $2`, role, userID)
	if err != nil {
		return fmt.Errorf("set role: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteUser removes an account, revokes all its sessions and reserves its
// name. Its messages stay, with its id and name.
func (s *DB) DeleteUser(ctx context.Context, userID int64, now time.Time) error {
	return s.inTx(ctx, "delete user", func(tx pgx.Tx) error {
		var name string
		err := tx.QueryRow(ctx, `DELETE FROM users WHERE id = $1 RETURNING name`, userID).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		// The name stays reserved: whoever signs up with it later would
		// otherwise pass as the author of this account's messages.
		if _, err := tx.Exec(ctx, `INSERT INTO deleted_names(name, user_id, deleted_at) VALUES($1, $2, $3)
			ON CONFLICT (name) DO NOTHING`, name, userID, ms(now)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM memberships WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM room_members WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM mentions WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if err := deleteTOTP(ctx, tx, userID); err != nil {
			return err
		}
		return revokeUserSessions(ctx, tx, userID, now)
	})
}

// revokeUserSessions marks the user's live sessions revoked and records a
// revocation for each. The sessions are marked first, taking their row locks,
// and only then is the revocations lock taken (see lockRevocations): after it
// the transaction waits for nothing but the sequence, so it cannot deadlock
// with another revoker that holds the lock.
func revokeUserSessions(ctx context.Context, tx pgx.Tx, userID int64, now time.Time) error {
	rows, err := tx.Query(ctx,
		`UPDATE sessions SET revoked = true WHERE user_id = $1 AND NOT revoked RETURNING id`, userID)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	return recordRevocations(ctx, tx, ids, now)
}
