package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"securechat/app/store"
)

// AppendMessages stores messages in one transaction, in order, and returns them
// with their ids. One transaction (one fsync) for a batch is what lets history
// keep up with fan-out.
//
// A change (KindEdit, KindDelete) is stored as a row of the room's sequence
// and applied to its target in the same transaction. If the target does not
// qualify (no such message in the room, a change row, already deleted, or an
// edit by someone other than its author) nothing is stored for it and its
// Message has ID 0. A delete also wipes the text of the edits of its target,
// so no version of the text is left. Changes do not move the room's activity.
func (s *DB) AppendMessages(ctx context.Context, msgs []store.NewMessage) ([]store.Message, error) {
	out := make([]store.Message, 0, len(msgs))
	err := s.inTx(ctx, "append messages", func(tx *sql.Tx) error {
		next, err := s.txStmt(ctx, tx, `INSERT INTO rooms(name, last_id, last_seq, last_activity) VALUES(?, 0, 1, ?)
			ON CONFLICT(name) DO UPDATE SET last_seq = last_seq + 1, last_activity = excluded.last_activity
			RETURNING last_seq`)
		if err != nil {
			return err
		}
		defer next.Close()
		// A change's room exists: its target is in it.
		nextChange, err := s.txStmt(ctx, tx, `UPDATE rooms SET last_seq = last_seq + 1 WHERE name = ? RETURNING last_seq`)
		if err != nil {
			return err
		}
		defer nextChange.Close()
		ins, err := s.txStmt(ctx, tx, `INSERT INTO messages(room, seq, user_id, user, text, ts, kind, target) VALUES(?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		last, err := s.txStmt(ctx, tx, `UPDATE rooms SET last_id = ? WHERE name = ?`)
		if err != nil {
			return err
		}
		defer last.Close()
		for _, m := range msgs {
			var seq int64
			switch m.Kind {
			case store.KindMessage:
				if err := next.QueryRowContext(ctx, m.Room, ms(m.TS)).Scan(&seq); err != nil {
					return err
				}
			case store.KindEdit, store.KindDelete:
				if m.Kind == store.KindDelete {
					m.Text = "" // a delete carries no text
				}
				ok, err := applyChange(ctx, tx, m)
				if err != nil {
					return err
				}
				if !ok {
					out = append(out, store.Message{Room: m.Room, UserID: m.UserID, User: m.User, Text: m.Text, TS: m.TS, Kind: m.Kind, Target: m.Target})
					continue
				}
				if err := nextChange.QueryRowContext(ctx, m.Room).Scan(&seq); err != nil {
					return fmt.Errorf("number change of %d: %w", m.Target, err)
				}
			default:
				return fmt.Errorf("unknown kind of message %q", m.Kind)
			}
			res, err := ins.ExecContext(ctx, m.Room, seq, m.UserID, m.User, m.Text, ms(m.TS), m.Kind, m.Target)
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
			var mentioned []int64
			if m.Kind == store.KindMessage && len(m.Mentions) > 0 {
				if mentioned, err = recordMentions(ctx, tx, m, id); err != nil {
					return err
				}
			}
			out = append(out, store.Message{ID: id, Seq: seq, Room: m.Room, UserID: m.UserID, User: m.User, Text: m.Text, TS: m.TS,
				Kind: m.Kind, Target: m.Target, Mentioned: mentioned})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// recordMentions records a mention of message id for each name of
// m.Mentions that is an account other than the author's and a member of the
// room who may read it (a public room: it is among the user's rooms; a
// private room or dm: a member of it), and returns their ids.
func recordMentions(ctx context.Context, tx *sql.Tx, m store.NewMessage, id int64) ([]int64, error) {
	args := []any{m.Room, id, m.UserID}
	marks := make([]string, len(m.Mentions))
	for i, name := range m.Mentions {
		args = append(args, name)
		marks[i] = "?" + strconv.Itoa(len(args))
	}
	rows, err := tx.QueryContext(ctx, `INSERT INTO mentions(user_id, room, message_id)
		SELECT u.id, ?1, ?2 FROM users u
		WHERE u.name IN (`+strings.Join(marks, ", ")+`) AND u.id <> ?3 AND CASE (SELECT kind FROM rooms WHERE name = ?1)
			WHEN 'public' THEN EXISTS (SELECT 1 FROM memberships ms WHERE ms.user_id = u.id AND ms.room = ?1)
			ELSE EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = ?1 AND rm.user_id = u.id) END
		RETURNING user_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("record mentions of %d: %w", id, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var uid int64
		if err := rows.Scan(&uid); err != nil {
			return nil, fmt.Errorf("record mentions of %d: %w", id, err)
		}
		ids = append(ids, uid)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("record mentions of %d: %w", id, err)
	}
	slices.Sort(ids)
	return ids, nil
}

// applyChange applies an edit or delete to its target message; ok false if
// the target does not qualify.
func applyChange(ctx context.Context, tx *sql.Tx, m store.NewMessage) (ok bool, err error) {
	var res sql.Result
	if m.Kind == store.KindEdit {
		// Only the author edits, and an account id of 0 is nobody's.
		res, err = tx.ExecContext(ctx, `UPDATE messages SET text = ?, edited_at = ?
			WHERE id = ? AND room = ? AND kind = '' AND deleted = 0 AND user_id = ? AND user_id <> 0`,
			m.Text, ms(m.TS), m.Target, m.Room, m.UserID)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE messages SET text = '', user = '', user_id = 0, deleted = 1
			WHERE id = ? AND room = ? AND kind = '' AND deleted = 0`, m.Target, m.Room)
	}
	if err != nil {
		return false, fmt.Errorf("apply %s of %d: %w", m.Kind, m.Target, err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	if m.Kind == store.KindDelete {
		// The edits keep versions of the text; they go too.
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET text = '' WHERE target = ? AND target > 0 AND kind = 'edit'`, m.Target); err != nil {
			return false, fmt.Errorf("wipe edits of %d: %w", m.Target, err)
		}
		// A deleted message mentions nobody any more.
		if _, err := tx.ExecContext(ctx, `DELETE FROM mentions WHERE message_id = ?`, m.Target); err != nil {
			return false, fmt.Errorf("forget mentions of %d: %w", m.Target, err)
		}
	}
	return true, nil
}

// MessagesBefore returns up to limit messages of room with ids below before
// (0: no bound), the newest of them, oldest first: message rows only, as they
// are now (current text, edited, deleted); not the change rows.
func (s *DB) MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]store.Message, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	msgs, err := s.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE room = ? AND id < ? AND kind = '' ORDER BY id DESC LIMIT ?`, room, before, limit)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	slices.Reverse(msgs)
	return msgs, nil
}

// MessagesAfter returns up to limit rows of room with ids above after, oldest
// first: messages and changes, so that a follower sees every row of the sequence.
func (s *DB) MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]store.Message, error) {
	msgs, err := s.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE room = ? AND id > ? ORDER BY id LIMIT ?`, room, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read messages after %d: %w", after, err)
	}
	return msgs, nil
}

// TouchRoom records that a room exists (someone joined it) without changing
// its activity; created reports that it did not exist before.
func (s *DB) TouchRoom(ctx context.Context, name string, now time.Time) (created bool, err error) {
	res, err := s.exec(ctx,
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
	err := s.queryRow(ctx, `SELECT 1 FROM rooms WHERE name = ?`, name).Scan(&one)
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
	// Public rooms, and the private rooms and dms the user is a member of.
	query := `SELECT name, last_id, last_activity, kind FROM rooms
		WHERE (kind = 'public' OR EXISTS (SELECT 1 FROM room_members WHERE room = rooms.name AND user_id = ?))`
	args := []any{q.UserID}
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
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	defer rows.Close()
	out := []store.Room{}
	for rows.Next() {
		var r store.Room
		var at int64
		if err := rows.Scan(&r.Name, &r.LastID, &at, &r.Kind); err != nil {
			return nil, fmt.Errorf("list rooms: %w", err)
		}
		r.LastActivity = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// PruneEmptyRooms deletes the public rooms that never had a message and were
// created before before; it returns how many. Private rooms and dms stay:
// their members made them on purpose.
//
// The memberships of a pruned room go with it: a user's list would otherwise
// bring back (and create again) a room nobody ever wrote in.
func (s *DB) PruneEmptyRooms(ctx context.Context, before time.Time) (n int64, err error) {
	err = s.inTx(ctx, "prune empty rooms", func(tx *sql.Tx) error {
		const empty = `last_activity < ? AND last_id = 0 AND last_seq = 0 AND kind = 'public'`
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

// Message returns one message row of a room; store.ErrNotFound if there is
// none (a change row is not a message).
func (s *DB) Message(ctx context.Context, room string, id int64) (store.Message, error) {
	msgs, err := s.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = ? AND room = ? AND kind = ''`, id, room)
	if err != nil {
		return store.Message{}, fmt.Errorf("read message %d: %w", id, err)
	}
	if len(msgs) == 0 {
		return store.Message{}, store.ErrNotFound
	}
	return msgs[0], nil
}

// messageColumns are what queryMessages scans.
const messageColumns = `id, seq, room, COALESCE(user_id, 0), user, text, ts, kind, target, edited_at, deleted`

func (s *DB) queryMessages(ctx context.Context, q string, args ...any) ([]store.Message, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		var m store.Message
		var ts, edited int64
		if err := rows.Scan(&m.ID, &m.Seq, &m.Room, &m.UserID, &m.User, &m.Text, &ts, &m.Kind, &m.Target, &edited, &m.Deleted); err != nil {
			return nil, err
		}
		m.TS = fromMS(ts)
		if edited != 0 {
			m.EditedAt = fromMS(edited)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// RoomHead returns the id and seq of a room's newest message (zeros if it has none).
func (s *DB) RoomHead(ctx context.Context, room string) (lastID, lastSeq int64, err error) {
	err = s.queryRow(ctx, `SELECT last_id, last_seq FROM rooms WHERE name = ?`, room).Scan(&lastID, &lastSeq)
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
	msgs, err := s.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE user_id = ? AND id > ? AND kind = '' ORDER BY id LIMIT ?`, userID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read messages of user %d: %w", userID, err)
	}
	return msgs, nil
}
