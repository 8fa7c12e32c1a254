package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"securechat/app/store"
)

// SetRoomRetention sets how many days a room keeps its messages (0: the
// server's default); store.ErrNotFound if there is no such room.
func (s *DB) SetRoomRetention(ctx context.Context, room string, days int) error {
	if days < 0 || days > store.MaxRetentionDays {
		return fmt.Errorf("set retention of %s: %d days is not 0 to %d", room, days, store.MaxRetentionDays)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE rooms SET retention_days = ? WHERE name = ?`, days, room)
	if err != nil {
		return fmt.Errorf("set retention of %s: %w", room, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("set retention of %s: %w", room, err)
	} else if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// RoomRetentions returns the rooms that have a retention of their own: days by name.
func (s *DB) RoomRetentions(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, retention_days FROM rooms WHERE retention_days > 0`)
	if err != nil {
		return nil, fmt.Errorf("read room retentions: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var name string
		var days int
		if err := rows.Scan(&name, &days); err != nil {
			return nil, fmt.Errorf("read room retentions: %w", err)
		}
		out[name] = days
	}
	return out, rows.Err()
}

// ExpireMessages deletes up to limit expired messages (store.ExpiresBefore
// with serverCutoff, each room's own days and now), oldest first, each with
// its change rows (an edit row holds a version of its text), in one short
// transaction, and returns how many messages it deleted. The rows are
// deleted, not emptied: secure_delete zeroes them in the file and Scrub
// clears the WAL, as for a deleted message. Call it again while it returns
// limit.
func (s *DB) ExpireMessages(ctx context.Context, serverCutoff, now time.Time, limit int) (n int, err error) {
	err = s.inTx(ctx, "expire messages", func(tx *sql.Tx) error {
		// The latest cutoff of any room bounds the index range scanned.
		var minDays sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MIN(retention_days) FROM rooms WHERE retention_days > 0`).Scan(&minDays); err != nil {
			return err
		}
		maxCut := store.ExpiresBefore(serverCutoff, int(minDays.Int64), now)
		if maxCut.IsZero() {
			return nil // no retention anywhere
		}
		var before any // no server cutoff: NULL, which no ts is below
		if !serverCutoff.IsZero() {
			before = ms(serverCutoff)
		}
		rows, err := tx.QueryContext(ctx, `SELECT m.id FROM messages m LEFT JOIN rooms r ON r.name = m.room
			WHERE m.kind = '' AND m.ts < ? AND (m.ts < ? OR (r.retention_days > 0 AND m.ts < ? - r.retention_days * 86400000))
			ORDER BY m.ts LIMIT ?`, ms(maxCut), before, ms(now), limit)
		if err != nil {
			return err
		}
		var ids []any
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		in := "(" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")"
		if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE target > 0 AND target IN `+in+` AND kind <> ''`, ids...); err != nil {
			return fmt.Errorf("delete changes: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE id IN `+in, ids...); err != nil {
			return fmt.Errorf("delete messages: %w", err)
		}
		n = len(ids)
		return nil
	})
	return n, err
}
