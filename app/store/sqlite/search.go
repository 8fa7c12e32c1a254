package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"securechat/app/store"
)

// SearchMessages returns the messages of the rooms q.UserID may read that
// match q.Text, newest first (store.SearchQuery says how words match).
//
// Long words are a query of messages_fts (trigrams; each word a quoted
// phrase, all of them required), walked newest first through the index's
// rowid order, so that the limit stops the walk; a message of a room the
// user may not read is skipped by two primary-key lookups. Short words are
// checked in Go (store.WholeWords) on at most store.ShortScan candidates.
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
	// Readable now: a public room, or a member row for the user.
	where := `m.kind = '' AND m.deleted = 0 AND m.id < ?
		AND (EXISTS (SELECT 1 FROM rooms r WHERE r.name = m.room AND r.kind = 'public')
			OR EXISTS (SELECT 1 FROM room_members rm WHERE rm.room = m.room AND rm.user_id = ?))`
	args := []any{before, q.UserID}
	if q.Room != "" {
		where += ` AND m.room = ?`
		args = append(args, q.Room)
	}
	scan := limit
	if len(short) > 0 {
		scan = store.ShortScan
	}
	var query string
	if len(long) > 0 {
		query = `SELECT ` + searchColumns + ` FROM messages_fts CROSS JOIN messages m ON m.id = messages_fts.rowid
			WHERE messages_fts MATCH ? AND messages_fts.rowid < ? AND ` + where + `
			ORDER BY messages_fts.rowid DESC LIMIT ?`
		args = append([]any{ftsPhrases(long), before}, args...)
	} else {
		query = `SELECT ` + searchColumns + ` FROM messages m WHERE ` + where + ` ORDER BY m.id DESC LIMIT ?`
	}
	args = append(args, scan)
	rows, err := s.query(ctx, query, args...)
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

// ftsPhrases is an FTS5 query requiring every word, each a quoted phrase
// (a quote inside is doubled), so no word is read as FTS5 syntax.
func ftsPhrases(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	return strings.Join(quoted, " AND ")
}

// MessagesAround returns up to limit message rows of room around id, oldest
// first: the half up to and including id, and the half after it (change
// rows are not messages). A side with fewer leaves its share unused.
func (s *DB) MessagesAround(ctx context.Context, room string, id int64, limit int) ([]store.Message, error) {
	upTo := (limit + 1) / 2
	msgs, err := s.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE room = ? AND id <= ? AND kind = '' ORDER BY id DESC LIMIT ?`, room, id, upTo)
	if err != nil {
		return nil, fmt.Errorf("read history around %d: %w", id, err)
	}
	slices.Reverse(msgs)
	after, err := s.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE room = ? AND id > ? AND kind = '' ORDER BY id LIMIT ?`, room, id, limit-upTo)
	if err != nil {
		return nil, fmt.Errorf("read history around %d: %w", id, err)
	}
	return append(msgs, after...), nil
}

// searchColumns are messageColumns of the messages table named m.
const searchColumns = `m.id, m.seq, m.room, COALESCE(m.user_id, 0), m.user, m.text, m.ts, m.kind, m.target, m.edited_at, m.deleted`

func scanMessage(rows *sql.Rows) (store.Message, error) {
	var m store.Message
	var ts, edited int64
	if err := rows.Scan(&m.ID, &m.Seq, &m.Room, &m.UserID, &m.User, &m.Text, &ts, &m.Kind, &m.Target, &edited, &m.Deleted); err != nil {
		return m, err
	}
	m.TS = fromMS(ts)
	if edited != 0 {
		m.EditedAt = fromMS(edited)
	}
	return m, nil
}

// SearchIndexPages is the number of database pages of the search index's
// shadow tables (for the benchmark's index size per message).
func (s *DB) SearchIndexPages(ctx context.Context) (pages, pageSize int64, err error) {
	if err := s.queryRow(ctx, `SELECT count(*) FROM dbstat WHERE name LIKE 'messages_fts%'`).Scan(&pages); err != nil {
		return 0, 0, fmt.Errorf("size search index: %w", err)
	}
	if err := s.queryRow(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		return 0, 0, fmt.Errorf("size search index: %w", err)
	}
	return pages, pageSize, nil
}
