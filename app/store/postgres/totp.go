package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"securechat/app/store"
)

// PutTOTP stores a new pending secret for a user, in place of any pending
// one; store.ErrExists if the user has a confirmed one.
func (s *DB) PutTOTP(ctx context.Context, userID int64, secret string, now time.Time) error {
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO totp(user_id, secret, confirmed, last_step, created_at) VALUES($1, $2, false, 0, $3)
		 ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at
		 WHERE NOT totp.confirmed`, userID, secret, ms(now))
	if err != nil {
		return fmt.Errorf("put totp: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrExists
	}
	return nil
}

// TOTP returns a user's secret, pending or confirmed; store.ErrNotFound if none.
func (s *DB) TOTP(ctx context.Context, userID int64) (store.TOTP, error) {
	t := store.TOTP{UserID: userID}
	err := s.pool.QueryRow(ctx, `SELECT secret, confirmed, last_step FROM totp WHERE user_id = $1`, userID).
		Scan(&t.Secret, &t.Confirmed, &t.LastStep)
	if errors.Is(err, pgx.ErrNoRows) {
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
	return s.inTx(ctx, "confirm totp", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE totp SET confirmed = true, last_step = $1 WHERE user_id = $2 AND NOT confirmed`, step, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		for _, h := range recoveryHashes {
			if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes(user_id, hash) VALUES($1, $2) ON CONFLICT DO NOTHING`, userID, h); err != nil {
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
	tag, err := s.pool.Exec(ctx, `UPDATE totp SET last_step = $1 WHERE user_id = $2 AND confirmed AND last_step < $1`, step, userID)
	if err != nil {
		return false, fmt.Errorf("use totp step: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// UseRecoveryCode removes a user's recovery code by its hash; false if they
// have no such code (never had, or used it).
func (s *DB) UseRecoveryCode(ctx context.Context, userID int64, hash string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1 AND hash = $2`, userID, hash)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecoveryCodesLeft counts a user's unused recovery codes.
func (s *DB) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}

// DeleteTOTP removes a user's secret and recovery codes; store.ErrNotFound
// if they had no secret.
func (s *DB) DeleteTOTP(ctx context.Context, userID int64) error {
	return s.inTx(ctx, "delete totp", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM totp WHERE user_id = $1`, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return deleteTOTP(ctx, tx, userID)
	})
}

// deleteTOTP removes whatever two-factor records a user has.
func deleteTOTP(ctx context.Context, tx pgx.Tx, userID int64) error {
	if _, err := tx.Exec(ctx, `DELETE FROM totp WHERE user_id = $1`, userID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID)
	return err
}

// ResealTOTP replaces a user's stored secret by the same secret sealed
// again, if it is still old (so a concurrent enrolment or reset wins).
func (s *DB) ResealTOTP(ctx context.Context, userID int64, old, sealed string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE totp SET secret = $1 WHERE user_id = $2 AND secret = $3`, sealed, userID, old); err != nil {
		return fmt.Errorf("reseal totp: %w", err)
	}
	return nil
}
