package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"securechat/app/store"
)

// AppendMessages stores messages in one transaction, in order, and returns them
// with their ids and per-room seqs.
//
// Several nodes append to the same room at once, and a node that follows a
// room with MessagesAfter(last id it saw) must never find a message appear
// later below that id. So within a room id order, seq order and commit order
// must agree. Each room's row in rooms is the room's lock: the first
// statements lock the batch's rooms until commit, and only after all of them
// are locked are the ids drawn from the sequence. A second appender to the
// room waits at its lock until this transaction has committed (and become
// visible: PostgreSQL releases locks after that), then reads the seqs after
// ours and draws ids above ours.
//
// The rooms are locked in name order, so two batches that share rooms cannot
// deadlock.
//
// A change (KindEdit, KindDelete) is stored as a row of the room's sequence
// and applied to its target in the same transaction. If the target does not
// qualify (no such message in the room, a change row, already deleted, or an
// edit by someone other than its author) nothing is stored for it and its
// Message has ID 0. A delete also wipes the text of the edits of its target,
// so no version of the text is left. Changes do not move the room's activity.
// A change cannot target a message of its own batch (its targets are checked
// before the batch's rows are inserted; no caller knows such an id anyway).
func (s *DB) AppendMessages(ctx context.Context, msgs []store.NewMessage) ([]store.Message, error) {
	if len(msgs) == 0 {
		return []store.Message{}, nil
	}
	type roomBatch struct {
		messages bool      // the batch has message rows for it (not only changes)
		lastTS   time.Time // rooms.last_activity ends at the room's last message, as in SQLite
		exists   bool
		lastSeq  int64
		lastID   int64
	}
	rooms := make(map[string]*roomBatch)
	msgs = slices.Clone(msgs)
	for i, m := range msgs {
		if m.Kind == store.KindDelete {
			msgs[i].Text = "" // a delete carries no text
		}
		switch m.Kind {
		case store.KindMessage, store.KindEdit, store.KindDelete:
		default:
			return nil, fmt.Errorf("append messages: unknown kind of message %q", m.Kind)
		}
		r := rooms[m.Room]
		if r == nil {
			r = &roomBatch{}
			rooms[m.Room] = r
		}
		if m.Kind == store.KindMessage {
			r.messages = true
			r.lastTS = m.TS
		}
	}
	names := make([]string, 0, len(rooms))
	for name := range rooms {
		names = append(names, name)
	}
	slices.Sort(names)

	out := make([]store.Message, len(msgs))
	err := s.inTx(ctx, "append messages", func(tx pgx.Tx) error {
		// One round trip: a batch runs its statements in order, so every
		// room is locked before a change is applied. A room of changes only
		// is not created: their targets cannot be in it.
		b := &pgx.Batch{}
		for _, name := range names {
			r := rooms[name]
			scan := func(row pgx.Row) error {
				err := row.Scan(&r.lastSeq)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("lock room %s: %w", name, err)
				}
				r.exists = true
				return nil
			}
			if r.messages {
				b.Queue(`INSERT INTO rooms(name, last_seq, last_activity) VALUES($1, 0, $2)
					ON CONFLICT (name) DO UPDATE SET last_activity = excluded.last_activity
					RETURNING last_seq`, name, ms(r.lastTS)).QueryRow(scan)
			} else {
				b.Queue(`SELECT last_seq FROM rooms WHERE name = $1 FOR UPDATE`, name).QueryRow(scan)
			}
		}
		// A batch of messages only (the common case) draws its ids in the
		// same round trip; one with changes knows how many rows it stores
		// only after they are applied.
		var ids []int64
		changes := slices.ContainsFunc(msgs, func(m store.NewMessage) bool { return m.Kind != store.KindMessage })
		if !changes {
			b.Queue(`SELECT nextval('messages_id_seq') FROM generate_series(1, $1)`, len(msgs)).
				Query(func(rows pgx.Rows) error {
					var err error
					ids, err = pgx.AppendRows(ids, rows, pgx.RowTo[int64])
					return err
				})
		}
		ok := make([]bool, len(msgs))
		for i, m := range msgs {
			switch m.Kind {
			case store.KindMessage:
				ok[i] = true
				continue
			case store.KindEdit:
				// Only the author edits, and an account id of 0 is nobody's.
				b.Queue(`UPDATE messages SET text = $1, edited_at = $2
					WHERE id = $3 AND room = $4 AND kind = '' AND NOT deleted AND user_id = $5 AND user_id <> 0`,
					[]byte(m.Text), ms(m.TS), m.Target, m.Room, m.UserID).
					Exec(func(tag pgconn.CommandTag) error {
						ok[i] = tag.RowsAffected() == 1
						return nil
					})
			case store.KindDelete:
				// The edits keep versions of the text; they go too.
				b.Queue(`WITH target AS (
						UPDATE messages SET text = ''::bytea, user_name = '', user_id = 0, deleted = true
						WHERE id = $1 AND room = $2 AND kind = '' AND NOT deleted RETURNING id
					), edits AS (
						UPDATE messages SET text = ''::bytea WHERE target IN (SELECT id FROM target) AND kind = 'edit'
					), unmentioned AS (
						-- A deleted message mentions nobody any more.
						DELETE FROM mentions WHERE message_id IN (SELECT id FROM target)
					)
					SELECT COUNT(*) FROM target`, m.Target, m.Room).
					QueryRow(func(row pgx.Row) error {
						var n int64
						if err := row.Scan(&n); err != nil {
							return fmt.Errorf("delete %d: %w", m.Target, err)
						}
						ok[i] = n == 1
						return nil
					})
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		stored := 0
		for i, m := range msgs {
			if ok[i] && !rooms[m.Room].exists {
				return fmt.Errorf("room %s of a stored row was not locked", m.Room)
			}
			if ok[i] {
				stored++
			}
		}
		if stored == 0 {
			for i, m := range msgs {
				out[i] = store.Message{Room: m.Room, UserID: m.UserID, User: m.User, Text: m.Text, TS: m.TS, Kind: m.Kind, Target: m.Target}
			}
			return nil
		}

		if changes {
			err := tx.QueryRow(ctx, `SELECT array_agg(nextval('messages_id_seq')) FROM generate_series(1, $1)`, stored).Scan(&ids)
			if err != nil {
				return fmt.Errorf("draw ids: %w", err)
			}
		}
		if len(ids) != stored {
			return fmt.Errorf("drew %d ids for %d messages", len(ids), stored)
		}
		// The sequence hands them out increasing; sorting makes the
		// assignment in call order independent of how rows came back.
		slices.Sort(ids)

		cols := struct {
			id, seq, target []int64
			room, kind      []string
			userID          []int64
			user            []string
			text            [][]byte
			ts              []time.Time
			roomName        []string
			roomLast        []int64
			roomSeq         []int64
		}{}
		next := 0
		for i, m := range msgs {
			if !ok[i] {
				out[i] = store.Message{Room: m.Room, UserID: m.UserID, User: m.User, Text: m.Text, TS: m.TS, Kind: m.Kind, Target: m.Target}
				continue
			}
			if m.Kind == store.KindDelete {
				// An edit of the same message earlier in this batch is not
				// in the table yet; its text must not be stored either.
				for j := range cols.id {
					if cols.kind[j] == store.KindEdit && cols.target[j] == m.Target {
						cols.text[j] = []byte{}
					}
				}
			}
			r := rooms[m.Room]
			r.lastSeq++
			r.lastID = ids[next]
			out[i] = store.Message{ID: ids[next], Seq: r.lastSeq, Room: m.Room, UserID: m.UserID, User: m.User, Text: m.Text, TS: m.TS, Kind: m.Kind, Target: m.Target}
			next++
			cols.id = append(cols.id, out[i].ID)
			cols.seq = append(cols.seq, out[i].Seq)
			cols.room = append(cols.room, m.Room)
			cols.userID = append(cols.userID, m.UserID)
			cols.user = append(cols.user, m.User)
			cols.text = append(cols.text, []byte(m.Text))
			cols.ts = append(cols.ts, ms(m.TS))
			cols.kind = append(cols.kind, m.Kind)
			cols.target = append(cols.target, m.Target)
		}
		for _, name := range names {
			if r := rooms[name]; r.lastID != 0 {
				cols.roomName = append(cols.roomName, name)
				cols.roomLast = append(cols.roomLast, r.lastID)
				cols.roomSeq = append(cols.roomSeq, r.lastSeq)
			}
		}
		b = &pgx.Batch{}
		b.Queue(`INSERT INTO messages(id, seq, room, user_id, user_name, text, ts, kind, target)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::bytea[], $7::timestamptz[], $8::text[], $9::bigint[])`,
			cols.id, cols.seq, cols.room, cols.userID, cols.user, cols.text, cols.ts, cols.kind, cols.target).
			Exec(func(pgconn.CommandTag) error { return nil })
		b.Queue(`UPDATE rooms SET last_id = v.last_id, last_seq = v.last_seq
			FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS v(name, last_id, last_seq)
			WHERE rooms.name = v.name`, cols.roomName, cols.roomLast, cols.roomSeq).
			Exec(func(pgconn.CommandTag) error { return nil })
		for i, m := range msgs {
			if !ok[i] || m.Kind != store.KindMessage || len(m.Mentions) == 0 {
				continue
			}
			// A mention of each name that is an account other than the
			// author's and a member of the room who may read it (a public
			// room: among the user's rooms; a private room or dm: a member).
			b.Queue(`INSERT INTO mentions(user_id, room, message_id)
				SELECT u.id, $1, $2 FROM users u
				WHERE u.name = ANY($3) AND u.id <> $4 AND CASE (SELECT kind FROM rooms WHERE name = $1)
					WHEN 'public' THEN EXISTS (SELECT 1 FROM memberships ms WHERE ms.user_id = u.id AND ms.room = $1)
					ELSE EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = $1 AND rm.user_id = u.id) END
				RETURNING user_id`, m.Room, out[i].ID, m.Mentions, m.UserID).
				Query(func(rows pgx.Rows) error {
					ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
					if err != nil {
						return fmt.Errorf("record mentions of %d: %w", out[i].ID, err)
					}
					slices.Sort(ids)
					out[i].Mentioned = ids
					return nil
				})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MessagesBefore returns up to limit messages of room with ids below before
// (0: no bound), the newest of them, oldest first: message rows only, as they
// are now (current text, edited, deleted); not the change rows.
func (s *DB) MessagesBefore(ctx context.Context, room string, before int64, limit int) ([]store.Message, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	msgs, err := s.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE room = $1 AND id < $2 AND kind = '' ORDER BY id DESC LIMIT $3`, room, before, sqlLimit(limit))
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
		WHERE room = $1 AND id > $2 ORDER BY id LIMIT $3`, room, after, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read messages after %d: %w", after, err)
	}
	return msgs, nil
}

// sqlLimit maps a negative limit to no limit (NULL), which is what SQLite makes
// of one; PostgreSQL would reject it.
func sqlLimit(limit int) *int {
	if limit < 0 {
		return nil
	}
	return &limit
}

// TouchRoom records that a room exists (someone joined it) without changing
// its activity; created reports that it did not exist before.
func (s *DB) TouchRoom(ctx context.Context, name string, now time.Time) (created bool, err error) {
	tag, err := s.pool.Exec(ctx,
		`INSERT INTO rooms(name, last_activity) VALUES($1, $2) ON CONFLICT (name) DO NOTHING`, name, ms(now))
	if err != nil {
		return false, fmt.Errorf("record room %s: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RoomExists reports whether a room is recorded (joined or written to, and not pruned).
func (s *DB) RoomExists(ctx context.Context, name string) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM rooms WHERE name = $1)`, name).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up room %s: %w", name, err)
	}
	return ok, nil
}

// Rooms returns one page of the room list, most recently active first (ties
// by name in byte order, as in SQLite). The first page walks the
// rooms_activity index backwards and stops after Limit; a prefix is a range of
// rooms_name.
func (s *DB) Rooms(ctx context.Context, q store.RoomQuery) ([]store.Room, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	// Public rooms, and the private rooms and dms the user is a member of.
	query := `SELECT name, last_id, last_activity, kind FROM rooms
		WHERE (kind = 'public' OR EXISTS (SELECT 1 FROM room_members WHERE room = rooms.name AND user_id = ` + arg(q.UserID) + `))`
	if q.Prefix != "" {
		query += ` AND name COLLATE "C" >= ` + arg(q.Prefix) + ` AND name COLLATE "C" < ` + arg(store.PrefixEnd(q.Prefix))
	}
	if q.After != nil {
		query += ` AND (last_activity, name COLLATE "C") < (` + arg(ms(q.After.LastActivity)) + `, ` + arg(q.After.Name) + `)`
	}
	if !q.EmptyBefore.IsZero() {
		query += ` AND (last_id > 0 OR last_activity >= ` + arg(ms(q.EmptyBefore)) + `)`
	}
	query += ` ORDER BY last_activity DESC, name COLLATE "C" DESC LIMIT ` + arg(sqlLimit(q.Limit))
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	defer rows.Close()
	out := []store.Room{}
	for rows.Next() {
		var r store.Room
		if err := rows.Scan(&r.Name, &r.LastID, &r.LastActivity, &r.Kind); err != nil {
			return nil, fmt.Errorf("list rooms: %w", err)
		}
		r.LastActivity = r.LastActivity.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	return out, nil
}

// PruneEmptyRooms deletes the public rooms that never had a message and were
// created before before; it returns how many. Private rooms and dms stay:
// their members made them on purpose. An append racing it either commits
// first (and the re-checked row no longer matches) or waits and re-creates it.
//
// The memberships of a pruned room go with it: a user's list would otherwise
// bring back (and create again) a room nobody ever wrote in.
func (s *DB) PruneEmptyRooms(ctx context.Context, before time.Time) (n int64, err error) {
	err = s.pool.QueryRow(ctx, `WITH pruned AS (
			DELETE FROM rooms WHERE last_activity < $1 AND last_id = 0 AND last_seq = 0 AND kind = 'public' RETURNING name
		), forgotten AS (
			DELETE FROM memberships WHERE room IN (SELECT name FROM pruned)
		)
		SELECT COUNT(*) FROM pruned`, ms(before)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("prune empty rooms: %w", err)
	}
	return n, nil
}

// RoomHead returns the id and seq of a room's newest message (zeros if it has none).
func (s *DB) RoomHead(ctx context.Context, room string) (lastID, lastSeq int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT last_id, last_seq FROM rooms WHERE name = $1`, room).Scan(&lastID, &lastSeq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read head of room %s: %w", room, err)
	}
	return lastID, lastSeq, nil
}

// Message returns one message row of a room; store.ErrNotFound if there is
// none (a change row is not a message).
func (s *DB) Message(ctx context.Context, room string, id int64) (store.Message, error) {
	msgs, err := s.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1 AND room = $2 AND kind = ''`, id, room)
	if err != nil {
		return store.Message{}, fmt.Errorf("read message %d: %w", id, err)
	}
	if len(msgs) == 0 {
		return store.Message{}, store.ErrNotFound
	}
	return msgs[0], nil
}

// messageColumns are what queryMessages scans.
const messageColumns = `id, seq, room, COALESCE(user_id, 0), user_name, text, ts, kind, target, edited_at, deleted`

func (s *DB) queryMessages(ctx context.Context, q string, args ...any) ([]store.Message, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		var m store.Message
		var text []byte
		var edited *time.Time
		if err := rows.Scan(&m.ID, &m.Seq, &m.Room, &m.UserID, &m.User, &text, &m.TS, &m.Kind, &m.Target, &edited, &m.Deleted); err != nil {
			return nil, err
		}
		m.Text = string(text)
		m.TS = m.TS.UTC()
		if edited != nil {
			m.EditedAt = edited.UTC()
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UserMessages returns up to limit messages written by the user with ids
// above after, oldest first: one page of the user's export. It walks the
// primary key in order and skips other authors' rows, so paging through a
// whole export reads the table once.
func (s *DB) UserMessages(ctx context.Context, userID, after int64, limit int) ([]store.Message, error) {
	msgs, err := s.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE user_id = $1 AND id > $2 AND kind = '' ORDER BY id LIMIT $3`, userID, after, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read messages of user %d: %w", userID, err)
	}
	return msgs, nil
}
