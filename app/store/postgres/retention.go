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
	return roomRetentions(ctx, s.pool)
}

// queryer is the pool or a transaction.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func roomRetentions(ctx context.Context, q queryer) (map[string]int, error) {
	rows, err := q.Query(ctx, `SELECT name, retention_days FROM rooms WHERE retention_days > 0`)
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
// (auto)vacuum reclaims them; Scrub does nothing here. Each query reads at
// most limit rows through an index, as in the SQLite store (which says how).
func (s *DB) ExpireMessages(ctx context.Context, serverCutoff, now time.Time, limit int) (n int, err error) {
	err = s.inTx(ctx, "expire messages", func(tx pgx.Tx) error {
		var ids []int64
		seen := map[int64]bool{}
		collect := func(query string, cutoff time.Time, args ...any) error {
			rows, err := tx.Query(ctx, query, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				var ts time.Time
				if err := rows.Scan(&id, &ts); err != nil {
					return err
				}
				if !ts.Before(ms(cutoff)) {
					break // the first message that has not expired, and everything after it
				}
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
			rows.Close()
			return rows.Err()
		}
		if !serverCutoff.IsZero() {
			if err := collect(`SELECT id, ts FROM messages WHERE kind = '' AND ts < $1 ORDER BY ts LIMIT $2`,
				serverCutoff, ms(serverCutoff), limit); err != nil {
				return err
			}
		}
		if len(ids) < limit {
			days, err := roomRetentions(ctx, tx)
			if err != nil {
				return err
			}
			for room, d := range days {
				cut := store.ExpiresBefore(serverCutoff, d, now)
				if !cut.After(serverCutoff) || len(ids) >= limit {
					continue // the server's cutoff covered it
				}
				if err := collect(`SELECT id, ts FROM messages WHERE room = $1 AND kind = '' ORDER BY id LIMIT $2`,
					cut, room, limit); err != nil {
					return err
				}
			}
		}
		if len(ids) > limit {
			ids = ids[:limit]
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
