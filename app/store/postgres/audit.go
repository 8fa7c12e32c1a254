package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"securechat/app/store"
)

// AppendAudit adds a row to the audit log and returns its id.
func (s *DB) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx,
		`INSERT INTO audit(at, event, actor, subject, address, user_agent, session_id, detail)
		 VALUES($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		ms(e.Time), e.Event, e.Actor, e.Subject, e.Address, e.UserAgent, e.SessionID, e.Detail).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("append audit: %w", err)
	}
	return id, nil
}

// AuditEvents returns a page of the audit log, newest first.
func (s *DB) AuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.User != "" {
		p := arg(q.User)
		where = append(where, "(subject = "+p+" OR actor = "+p+")")
	}
	if q.Event != "" {
		where = append(where, "event = "+arg(q.Event))
	}
	if q.Before > 0 {
		where = append(where, "id < "+arg(q.Before))
	}
	query := `SELECT id, at, event, actor, subject, address, user_agent, session_id, detail FROM audit`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT " + arg(auditLimit(q.Limit))
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEvent
	for rows.Next() {
		var e store.AuditEvent
		if err := rows.Scan(&e.ID, &e.Time, &e.Event, &e.Actor, &e.Subject, &e.Address, &e.UserAgent, &e.SessionID, &e.Detail); err != nil {
			return nil, fmt.Errorf("read audit: %w", err)
		}
		e.Time = e.Time.UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	return out, nil
}

// PruneAudit deletes the rows older than before.
func (s *DB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM audit WHERE at < $1`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	return tag.RowsAffected(), nil
}

// auditLimit bounds a page to store.MaxAuditPage.
func auditLimit(n int) int {
	if n <= 0 || n > store.MaxAuditPage {
		return store.MaxAuditPage
	}
	return n
}
