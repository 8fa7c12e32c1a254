package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"securechat/app/store"
)

// SearchMessages returns the messages of the rooms q.UserID may read that
// match q.Text, newest first (store.SearchQuery says how words match), with
// the same results as the SQLite store.
//
// Long words are each an ILIKE '%word%' (wildcards in the word escaped) of
// search_text(text), served by the trigram index messages_text_trgm; short words are checked in
// Go (store.WholeWords) on at most store.ShortScan candidates.
func (s *DB) SearchMessages(ctx context.Context, q store.SearchQuery) ([]store.Message, error) {
	long, short := store.SearchWords(q.Text)
	out := []store.Message{}
	if len(long) == 0 && len(short) == 0 {
		return out, nil
	}
	limit := q.SearchLimit()
	before := q.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	query := `SELECT ` + messageColumns + ` FROM messages m WHERE m.kind = '' AND NOT m.deleted AND m.id < $1
		AND (EXISTS (SELECT 1 FROM rooms r WHERE r.name = m.room AND r.kind = 'public')
			OR EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = m.room AND rm.user_id = $2))`
	args := []any{before, q.UserID}
	if q.Room != "" {
		args = append(args, q.Room)
		query += ` AND m.room = $` + strconv.Itoa(len(args))
	}
	for _, w := range long {
		args = append(args, "%"+escapeLike(w)+"%")
		query += ` AND search_text(m.text) ILIKE $` + strconv.Itoa(len(args))
	}
	scan := limit
	if len(short) > 0 {
		scan = store.ShortScan
	}
	args = append(args, scan)
	query += ` ORDER BY m.id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("search messages: %w", err)
	}
	defer rows.Close()
	for len(out) < limit && rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("search messages: %w", err)
		}
		if len(short) == 0 || store.WholeWords(m.Text, short) {
			out = append(out, m)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search messages: %w", err)
	}
	return out, nil
}

// escapeLike makes every character of w stand for itself in a LIKE pattern
// (whose escape character is the backslash).
func escapeLike(w string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(w)
}

// MessagesAround returns up to limit message rows of room around id, oldest
// first: the half up to and including id, and the half after it (change
// rows are not messages). A side with fewer leaves its share unused.
func (s *DB) MessagesAround(ctx context.Context, room string, id int64, limit int) ([]store.Message, error) {
	upTo := (limit + 1) / 2
	msgs, err := s.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE room = $1 AND id <= $2 AND kind = '' ORDER BY id DESC LIMIT $3`, room, id, upTo)
	if err != nil {
		return nil, fmt.Errorf("read history around %d: %w", id, err)
	}
	slices.Reverse(msgs)
	after, err := s.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE room = $1 AND id > $2 AND kind = '' ORDER BY id LIMIT $3`, room, id, limit-upTo)
	if err != nil {
		return nil, fmt.Errorf("read history around %d: %w", id, err)
	}
	return append(msgs, after...), nil
}

func scanMessage(rows pgx.Rows) (store.Message, error) {
	var m store.Message
	var text []byte
	var edited *time.Time
	if err := rows.Scan(&m.ID, &m.Seq, &m.Room, &m.UserID, &m.User, &text, &m.TS, &m.Kind, &m.Target, &edited, &m.Deleted); err != nil {
		return m, err
	}
	m.Text = string(text)
	m.TS = m.TS.UTC()
	if edited != nil {
		m.EditedAt = edited.UTC()
	}
	return m, nil
}
