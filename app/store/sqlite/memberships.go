package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"securechat/app/store"
)

// JoinRoom records that a user belongs to room. A new membership starts read
// up to readID (what the join showed: the room's recent history); joining
// again changes nothing.
func (s *DB) JoinRoom(ctx context.Context, userID int64, room string, readID int64, now time.Time) error {
	// Every join of every socket records its room, and nearly always the
	// row is there already: a read, beside the other readers, answers that
	// without waiting for the one writer.
	var one int
	err := s.queryRow(ctx, `SELECT 1 FROM memberships WHERE user_id = ? AND room = ?`, userID, room).Scan(&one)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("look up membership of %s: %w", room, err)
	}
	_, err = s.exec(ctx, `INSERT INTO memberships(user_id, room, read_id, read_at) VALUES(?, ?, ?, ?)
		ON CONFLICT(user_id, room) DO NOTHING`, userID, room, readID, ms(now))
	if err != nil {
		return fmt.Errorf("record membership of %s: %w", room, err)
	}
	return nil
}

// LeaveRoom forgets a user's membership of room (and its read position).
func (s *DB) LeaveRoom(ctx context.Context, userID int64, room string) error {
	if _, err := s.exec(ctx, `DELETE FROM memberships WHERE user_id = ? AND room = ?`, userID, room); err != nil {
		return fmt.Errorf("forget membership of %s: %w", room, err)
	}
	return nil
}

// MarkRead moves a member's read position in room to id, never backwards and
// never past the room's newest message, and records now as when the room was
// read. It returns the position and whether it moved; store.ErrNotFound if
// the user is not a member.
func (s *DB) MarkRead(ctx context.Context, userID int64, room string, id int64, now time.Time) (readID int64, moved bool, err error) {
	err = s.inTx(ctx, "mark "+room+" read", func(tx *sql.Tx) error {
		var old int64
		err := tx.QueryRowContext(ctx, `SELECT read_id FROM memberships WHERE user_id = ? AND room = ?`, userID, room).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `UPDATE memberships
			SET read_id = MAX(read_id, MIN(?, COALESCE((SELECT last_id FROM rooms WHERE name = ?), 0))), read_at = ?
			WHERE user_id = ? AND room = ? RETURNING read_id`, id, room, ms(now), userID, room).Scan(&readID); err != nil {
			return err
		}
		moved = readID > old
		return nil
	})
	return readID, moved, err
}

// Memberships lists a user's rooms, most recently read first, at most limit
// of them, each with its unread messages counted up to maxUnread (a count
// stops there, so a room of a million unread costs no more than one of 999).
// Only messages count: not edits and deletes, nor deleted messages. Its
// mentions of the user after ReadID are counted the same way (a deleted
// message's mentions are gone with it).
func (s *DB) Memberships(ctx context.Context, userID int64, maxUnread, limit int) ([]store.Membership, error) {
	rows, err := s.query(ctx, `SELECT m.room, m.read_id, m.read_at, COALESCE(r.kind, 'public'),
			(SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE room = m.room AND id > m.read_id AND kind = '' AND deleted = 0 ORDER BY id LIMIT ?1)),
			(SELECT COUNT(*) FROM (SELECT 1 FROM mentions mn WHERE mn.user_id = m.user_id AND mn.room = m.room AND mn.message_id > m.read_id
				ORDER BY mn.message_id LIMIT ?1))
		FROM memberships m LEFT JOIN rooms r ON r.name = m.room
		WHERE m.user_id = ?2 AND (COALESCE(r.kind, 'public') = 'public'
			OR EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = m.room AND rm.user_id = m.user_id))
		ORDER BY m.read_at DESC, m.room LIMIT ?3`, maxUnread, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	defer rows.Close()
	out := []store.Membership{}
	for rows.Next() {
		var m store.Membership
		var at int64
		if err := rows.Scan(&m.Room, &m.ReadID, &at, &m.Kind, &m.Unread, &m.Mentions); err != nil {
			return nil, fmt.Errorf("list memberships: %w", err)
		}
		m.ReadAt = fromMS(at)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list memberships: %w", err)
	}
	return out, nil
}
