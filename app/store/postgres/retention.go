package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"securechat/app/store"
)

// SetRoomRetention sets how many days a room keeps its messages (0: the
// server's default); store.ErrNotFound if there is no such room.
func (s *DB) SetRoomRetention(ctx context.Context, room string, days int) error {
	if days < 0 || days > store.MaxRetentionDays {
		return fmt.Errorf("set retention of %s: %d days is not 0 to %d", room, days, store.MaxRetentionDays)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE rooms SET retention_days = $1 WHERE name = $2`, days, room)
	if err != nil {
		return fmt.Errorf("set retention of %s: %w", room, err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// RoomRetentions returns the rooms that have a retention of their own: days by name.
func (s *DB) RoomRetentions(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, retention_days FROM rooms WHERE retention_days > 0`)
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
// its change rows, in one short transaction, and returns how many messages
// it deleted. As for a deleted message, the rows are dead tuples until
// (auto)vacuum reclaims them; Scrub does nothing here.
func (s *DB) ExpireMessages(ctx context.Context, serverCutoff, now time.Time, limit int) (n int, err error) {
	err = s.inTx(ctx, "expire messages", func(tx pgx.Tx) error {
		var minDays *int
		if err := tx.QueryRow(ctx, `SELECT MIN(retention_days) FROM rooms WHERE retention_days > 0`).Scan(&minDays); err != nil {
			return err
		}
		days := 0
		if minDays != nil {
			days = *minDays
		}
		maxCut := store.ExpiresBefore(serverCutoff, days, now)
		if maxCut.IsZero() {
			return nil // no retention anywhere
		}
		var before *time.Time // no server cutoff: NULL, which no ts is below
		if !serverCutoff.IsZero() {
			b := ms(serverCutoff)
			before = &b
		}
		var ids []int64
		rows, err := tx.Query(ctx, `SELECT m.id FROM messages m LEFT JOIN rooms r ON r.name = m.room
			WHERE m.kind = '' AND m.ts < $1 AND (m.ts < $2::timestamptz OR (r.retention_days > 0 AND m.ts < $3::timestamptz - r.retention_days * interval '1 day'))
			ORDER BY m.ts LIMIT $4`, ms(maxCut), before, ms(now), limit)
		if err != nil {
			return err
		}
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
		if _, err := tx.Exec(ctx, `DELETE FROM messages WHERE target > 0 AND target = ANY($1) AND kind <> ''`, ids); err != nil {
			return fmt.Errorf("delete changes: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM messages WHERE id = ANY($1)`, ids); err != nil {
			return fmt.Errorf("delete messages: %w", err)
		}
		n = len(ids)
		return nil
	})
	return n, err
}
