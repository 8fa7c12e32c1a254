package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"securechat/app/store"
)

// AppendMessages stores messages in one transaction, in order, and returns them
// with their ids. One transaction (one fsync) for a batch is what lets history
// keep up with fan-out.
func (s *DB) AppendMessages(ctx context.Context, msgs []store.NewMessage) ([]store.Message, error) {
	out := make([]store.Message, 0, len(msgs))
	err := s.inTx(ctx, "append messages", func(tx *sql.Tx) error {
		next, err := tx.PrepareContext(ctx, `INSERT INTO rooms(name, last_id, last_seq, last_activity) VALUES(?, 0, 1, ?)
			ON CONFLICT(name) DO UPDATE SET last_seq = last_seq + 1, last_activity = excluded.last_activity
			RETURNING last_seq`)
		if err != nil {
			return err
		}
		defer next.Close()
		ins, err := tx.PrepareContext(ctx, `INSERT INTO messages(room, seq, user_id, user, text, ts) VALUES(?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		last, err := tx.PrepareContext(ctx, `UPDATE rooms SET last_id = ? WHERE name = ?`)
		if err != nil {
			return err
		}
		defer last.Close()
		for _, m := range msgs {
			var seq int64
			if err := next.QueryRowContext(ctx, m.Room, ms(m.TS)).Scan(&seq); err != nil {
				return err
			}
			res, err := ins.ExecContext(ctx, m.Room, seq, m.UserID, m.User, m.Text, ms(m.TS))
			if err != nil {
				return err
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			if _, err := last.ExecContext(ctx, id, m.Room); err != nil {
				return err
			}
			out = append(out, store.Message{ID: id, Seq: seq, Room: m.Room, UserID: m.UserID, User: m.User, Text: m.Text, TS: m.TS})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MessagesBefore returns up to limit messages of room with ids below before
// (0: no bound), the newest of them, oldest first.
func (s *DB) MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]store.Message, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	msgs, err := s.queryMessages(ctx, `SELECT id, seq, room, COALESCE(user_id, 0), user, text, ts FROM messages
		WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?`, room, before, limit)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	slices.Reverse(msgs)
	return msgs, nil
}

// MessagesAfter returns up to limit messages of room with ids above after, oldest first.
func (s *DB) MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]store.Message, error) {
	msgs, err := s.queryMessages(ctx, `SELECT id, seq, room, COALESCE(user_id, 0), user, text, ts FROM messages
		WHERE room = ? AND id > ? ORDER BY id LIMIT ?`, room, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read messages after %d: %w", after, err)
	}
	return msgs, nil
}

// TouchRoom records that a room exists (someone joined it) without changing
// its activity; created reports that it did not exist before.
func (s *DB) TouchRoom(ctx context.Context, name string, now time.Time) (created bool, err error) {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO rooms(name, last_id, last_activity) VALUES(?, 0, ?) ON CONFLICT(name) DO NOTHING`, name, ms(now))
	if err != nil {
		return false, fmt.Errorf("record room %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record room %s: %w", name, err)
	}
	return n == 1, nil
}

// RoomExists reports whether a room is recorded (joined or written to, and not pruned).
func (s *DB) RoomExists(ctx context.Context, name string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM rooms WHERE name = ?`, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up room %s: %w", name, err)
	}
	return true, nil
}

// Rooms returns one page of the room list, most recently active first. The
// first page walks the rooms_activity index backwards and stops after Limit;
// a prefix is a range of the primary key.
func (s *DB) Rooms(ctx context.Context, q store.RoomQuery) ([]store.Room, error) {
	query := `SELECT name, last_id, last_activity FROM rooms WHERE 1`
	var args []any
	if q.Prefix != "" {
		query += ` AND name >= ? AND name < ?`
		args = append(args, q.Prefix, store.PrefixEnd(q.Prefix))
	}
	if q.After != nil {
		query += ` AND (last_activity, name) < (?, ?)`
		args = append(args, ms(q.After.LastActivity), q.After.Name)
	}
	if !q.EmptyBefore.IsZero() {
		query += ` AND (last_id > 0 OR last_activity >= ?)`
		args = append(args, ms(q.EmptyBefore))
	}
	query += ` ORDER BY last_activity DESC, name DESC LIMIT ?`
	args = append(args, q.Limit)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	defer rows.Close()
	out := []store.Room{}
	for rows.Next() {
		var r store.Room
		var at int64
		if err := rows.Scan(&r.Name, &r.LastID, &at); err != nil {
			return nil, fmt.Errorf("list rooms: %w", err)
		}
		r.LastActivity = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// PruneEmptyRooms deletes the rooms that never had a message and were created
// before before; it returns how many.
//
// The memberships of a pruned room go with it: a user's list would otherwise
// bring back (and create again) a room nobody ever wrote in.
func (s *DB) PruneEmptyRooms(ctx context.Context, before time.Time) (n int64, err error) {
	err = s.inTx(ctx, "prune empty rooms", func(tx *sql.Tx) error {
		const empty = `last_activity < ? AND last_id = 0 AND last_seq = 0`
		if _, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE room IN (SELECT name FROM rooms WHERE `+empty+`)`, ms(before)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM rooms WHERE `+empty, ms(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func (s *DB) queryMessages(ctx context.Context, q string, args ...any) ([]store.Message, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		var m store.Message
		var ts int64
		if err := rows.Scan(&m.ID, &m.Seq, &m.Room, &m.UserID, &m.User, &m.Text, &ts); err != nil {
			return nil, err
		}
		m.TS = fromMS(ts)
		out = append(out, m)
	}
	return out, rows.Err()
}

// RoomHead returns the id and seq of a room's newest message (zeros if it has none).
func (s *DB) RoomHead(ctx context.Context, room string) (lastID, lastSeq int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT last_id, last_seq FROM rooms WHERE name = ?`, room).Scan(&lastID, &lastSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read head of room %s: %w", room, err)
	}
	return lastID, lastSeq, nil
}

// UserMessages returns up to limit messages written by the user with ids
// above after, oldest first: one page of the user's export. It walks the ids
// in order and skips other authors' rows, so paging through a whole export
// reads the table once.
func (s *DB) UserMessages(ctx context.Context, userID, after int64, limit int) ([]store.Message, error) {
	msgs, err := s.queryMessages(ctx, `SELECT id, seq, room, COALESCE(user_id, 0), user, text, ts FROM messages
		WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?`, userID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read messages of user %d: %w", userID, err)
	}
	return msgs, nil
}
