package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"securechat/app/store"
)

// PutTOTP stores a new pending secret for a user, in place of any pending
// one; store.ErrExists if the user has a confirmed one.
func (s *DB) PutTOTP(ctx context.Context, userID int64, secret string, now time.Time) error {
	return s.inTx(ctx, "put totp", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO totp(user_id, secret, confirmed, last_step, created_at) VALUES(?, ?, 0, 0, ?)
			 ON CONFLICT(user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at
			 WHERE totp.confirmed = 0`, userID, secret, ms(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return store.ErrExists
		}
		return nil
	})
}

// TOTP returns a user's secret, pending or confirmed; store.ErrNotFound if none.
func (s *DB) TOTP(ctx context.Context, userID int64) (store.TOTP, error) {
	t := store.TOTP{UserID: userID}
	err := s.queryRow(ctx, `SELECT secret, confirmed, last_step FROM totp WHERE user_id = ?`, userID).
		Scan(&t.Secret, &t.Confirmed, &t.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return store.TOTP{}, store.ErrNotFound
	}
	if err != nil {
		return store.TOTP{}, fmt.Errorf("find totp: %w", err)
	}
	return t, nil
}

// ConfirmTOTP confirms a user's pending secret, records step as used, and
// replaces their recovery codes with these hashes; store.ErrNotFound if
// there is no pending secret.
func (s *DB) ConfirmTOTP(ctx context.Context, userID, step int64, recoveryHashes []string) error {
	return s.inTx(ctx, "confirm totp", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE totp SET confirmed = 1, last_step = ? WHERE user_id = ? AND confirmed = 0`, step, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return err
		}
		for _, h := range recoveryHashes {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO recovery_codes(user_id, hash) VALUES(?, ?)`, userID, h); err != nil {
				return err
			}
		}
		return nil
	})
}

// UseTOTPStep records step as the last used by a confirmed secret, if it is
// later than the last one; false if it is not (the code was used already).
// One statement, so two nodes cannot both accept the same code.
func (s *DB) UseTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	res, err := s.exec(ctx, `UPDATE totp SET last_step = ? WHERE user_id = ? AND confirmed = 1 AND last_step < ?`, step, userID, step)
	if err != nil {
		return false, fmt.Errorf("use totp step: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("use totp step: %w", err)
	}
	return n == 1, nil
}

// UseRecoveryCode removes a user's recovery code by its hash; false if they
// have no such code (never had, or used it).
func (s *DB) UseRecoveryCode(ctx context.Context, userID int64, hash string) (bool, error) {
	res, err := s.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = ? AND hash = ?`, userID, hash)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	return n == 1, nil
}

// RecoveryCodesLeft counts a user's unused recovery codes.
func (s *DB) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}

// DeleteTOTP removes a user's secret and recovery codes; store.ErrNotFound
// if they had no secret.
func (s *DB) DeleteTOTP(ctx context.Context, userID int64) error {
	return s.inTx(ctx, "delete totp", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM totp WHERE user_id = ?`, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return deleteTOTP(ctx, tx, userID)
	})
}

// deleteTOTP removes whatever two-factor records a user has.
func deleteTOTP(ctx context.Context, tx *sql.Tx, userID int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM totp WHERE user_id = ?`, userID); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID)
	return err
}

// ResealTOTP replaces a user's stored secret by the same secret sealed
// again, if it is still old (so a concurrent enrolment or reset wins).
func (s *DB) ResealTOTP(ctx context.Context, userID int64, old, sealed string) error {
	if _, err := s.exec(ctx, `UPDATE totp SET secret = ? WHERE user_id = ? AND secret = ?`, sealed, userID, old); err != nil {
		return fmt.Errorf("reseal totp: %w", err)
	}
	return nil
}
