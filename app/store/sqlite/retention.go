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
	res, err := s.exec(ctx, `UPDATE rooms SET retention_days = ? WHERE name = ?`, days, room)
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
	return roomRetentions(ctx, s.db)
}

// queryer is a database or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func roomRetentions(ctx context.Context, q queryer) (map[string]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, retention_days FROM rooms WHERE retention_days > 0`)
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
//
// Each query reads at most limit rows through an index, so the transaction
// stays short however large the history: the server's cutoff is a range of
// messages_expiry; a room's own is the start of the room's messages in id
// order, up to the first one that has not expired (ids follow time, give or
// take the skew of the nodes' clocks, which only delays an expiry).
func (s *DB) ExpireMessages(ctx context.Context, serverCutoff, now time.Time, limit int) (n int, err error) {
	err = s.inTx(ctx, "expire messages", func(tx *sql.Tx) error {
		var ids []any
		seen := map[int64]bool{}
		collect := func(query string, cutoff time.Time, args ...any) error {
			rows, err := tx.QueryContext(ctx, query, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, ts int64
				if err := rows.Scan(&id, &ts); err != nil {
					return err
				}
				if ts >= ms(cutoff) {
					break // the first message that has not expired, and everything after it
				}
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
			return rows.Err()
		}
		if !serverCutoff.IsZero() {
			if err := collect(`SELECT id, ts FROM messages WHERE kind = '' AND ts < ? ORDER BY ts LIMIT ?`,
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
				if err := collect(`SELECT id, ts FROM messages WHERE room = ? AND kind = '' ORDER BY id LIMIT ?`,
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
