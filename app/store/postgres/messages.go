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
// must agree. Each room's row in rooms is the room's lock: the upsert that
// reserves the batch's seqs locks it until commit, and only after all the
// batch's rooms are locked are the ids drawn from the sequence. A second
// appender to the room waits at its upsert until this transaction has
// committed (and become visible: PostgreSQL releases locks after that), then
// reserves seqs after ours and draws ids above ours.
//
// The rooms are locked in name order, so two batches that share rooms cannot
// deadlock.
func (s *DB) AppendMessages(ctx context.Context, msgs []store.NewMessage) ([]store.Message, error) {
	if len(msgs) == 0 {
		return []store.Message{}, nil
	}
	type roomBatch struct {
		count   int64
		lastTS  time.Time // rooms.last_activity ends at the room's last message, as in SQLite
		nextSeq int64
		lastID  int64
	}
	rooms := make(map[string]*roomBatch)
	for _, m := range msgs {
		r := rooms[m.Room]
		if r == nil {
			r = &roomBatch{}
			rooms[m.Room] = r
		}
		r.count++
		r.lastTS = m.TS
	}
	names := make([]string, 0, len(rooms))
	for name := range rooms {
		names = append(names, name)
	}
	slices.Sort(names)

	out := make([]store.Message, len(msgs))
	err := s.inTx(ctx, "append messages", func(tx pgx.Tx) error {
		// One round trip: a batch runs its statements in order, so the ids
		// are drawn after every room lock is held.
		b := &pgx.Batch{}
		for _, name := range names {
			r := rooms[name]
			b.Queue(`INSERT INTO rooms(name, last_seq, last_activity) VALUES($1, $2, $3)
				ON CONFLICT (name) DO UPDATE SET last_seq = rooms.last_seq + excluded.last_seq,
					last_activity = excluded.last_activity
				RETURNING last_seq`, name, r.count, ms(r.lastTS)).
				QueryRow(func(row pgx.Row) error {
					var last int64
					if err := row.Scan(&last); err != nil {
						return fmt.Errorf("reserve seqs in %s: %w", name, err)
					}
					r.nextSeq = last - r.count + 1
					return nil
				})
		}
		ids := make([]int64, 0, len(msgs))
		b.Queue(`SELECT nextval('messages_id_seq') FROM generate_series(1, $1)`, len(msgs)).
			Query(func(rows pgx.Rows) error {
				var err error
				ids, err = pgx.AppendRows(ids, rows, pgx.RowTo[int64])
				return err
			})
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if len(ids) != len(msgs) {
			return fmt.Errorf("drew %d ids for %d messages", len(ids), len(msgs))
		}
		// The sequence hands them out increasing; sorting makes the
		// assignment in call order independent of how rows came back.
		slices.Sort(ids)

		cols := struct {
			id, seq  []int64
			room     []string
			userID   []int64
			user     []string
			text     [][]byte
			ts       []time.Time
			roomName []string
			roomLast []int64
		}{}
		for i, m := range msgs {
			r := rooms[m.Room]
			seq := r.nextSeq
			r.nextSeq++
			r.lastID = ids[i]
			out[i] = store.Message{ID: ids[i], Seq: seq, Room: m.Room, UserID: m.UserID, User: m.User, Text: m.Text, TS: m.TS}
			cols.id = append(cols.id, ids[i])
			cols.seq = append(cols.seq, seq)
			cols.room = append(cols.room, m.Room)
			cols.userID = append(cols.userID, m.UserID)
			cols.user = append(cols.user, m.User)
			cols.text = append(cols.text, []byte(m.Text))
			cols.ts = append(cols.ts, ms(m.TS))
		}
		for _, name := range names {
			cols.roomName = append(cols.roomName, name)
			cols.roomLast = append(cols.roomLast, rooms[name].lastID)
		}
		b = &pgx.Batch{}
		b.Queue(`INSERT INTO messages(id, seq, room, user_id, user_name, text, ts)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::bytea[], $7::timestamptz[])`,
			cols.id, cols.seq, cols.room, cols.userID, cols.user, cols.text, cols.ts).
			Exec(func(pgconn.CommandTag) error { return nil })
		b.Queue(`UPDATE rooms SET last_id = v.last_id FROM unnest($1::text[], $2::bigint[]) AS v(name, last_id)
			WHERE rooms.name = v.name`, cols.roomName, cols.roomLast).
			Exec(func(pgconn.CommandTag) error { return nil })
		return tx.SendBatch(ctx, b).Close()
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
	msgs, err := s.queryMessages(ctx, `SELECT id, seq, room, COALESCE(user_id, 0), user_name, text, ts FROM messages
		WHERE room = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, room, before, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	slices.Reverse(msgs)
	return msgs, nil
}

// MessagesAfter returns up to limit messages of room with ids above after, oldest first.
func (s *DB) MessagesAfter(ctx context.Context, room string, after int64, limit int) ([]store.Message, error) {
	msgs, err := s.queryMessages(ctx, `SELECT id, seq, room, COALESCE(user_id, 0), user_name, text, ts FROM messages
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
	query := `SELECT name, last_id, last_activity FROM rooms WHERE true`
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
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
		if err := rows.Scan(&r.Name, &r.LastID, &r.LastActivity); err != nil {
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

// PruneEmptyRooms deletes the rooms that never had a message and were created
// before before; it returns how many. An append racing it either commits
// first (and the re-checked row no longer matches) or waits and re-creates it.
//
// The memberships of a pruned room go with it: a user's list would otherwise
// bring back (and create again) a room nobody ever wrote in.
func (s *DB) PruneEmptyRooms(ctx context.Context, before time.Time) (n int64, err error) {
	err = s.pool.QueryRow(ctx, `WITH pruned AS (
			DELETE FROM rooms WHERE last_activity < $1 AND last_id = 0 AND last_seq = 0 RETURNING name
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
		if err := rows.Scan(&m.ID, &m.Seq, &m.Room, &m.UserID, &m.User, &text, &m.TS); err != nil {
			return nil, err
		}
		m.Text = string(text)
		m.TS = m.TS.UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// UserMessages returns up to limit messages written by the user with ids
// above after, oldest first: one page of the user's export. It walks the
// primary key in order and skips other authors' rows, so paging through a
// whole export reads the table once.
func (s *DB) UserMessages(ctx context.Context, userID, after int64, limit int) ([]store.Message, error) {
	msgs, err := s.queryMessages(ctx, `SELECT id, seq, room, COALESCE(user_id, 0), user_name, text, ts FROM messages
		WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3`, userID, after, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read messages of user %d: %w", userID, err)
	}
	return msgs, nil
}
