package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"securechat/app/store"
)

// AppendAudit adds a row to the audit log and returns its id.
func (s *DB) AppendAudit(ctx context.Context, e store.AuditEvent) (int64, error) {
	res, err := s.exec(ctx,
		`INSERT INTO audit(at, event, actor, subject, address, user_agent, session_id, detail) VALUES(?, ?, ?, ?, ?, ?, ?, ?)`,
		ms(e.Time), e.Event, e.Actor, e.Subject, e.Address, e.UserAgent, e.SessionID, e.Detail)
	if err != nil {
		return 0, fmt.Errorf("append audit: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("append audit: %w", err)
	}
	return id, nil
}

// AuditEvents returns a page of the audit log, newest first.
func (s *DB) AuditEvents(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, error) {
	var where []string
	var args []any
	if q.User != "" {
		where = append(where, "(subject = ? OR actor = ?)")
		args = append(args, q.User, q.User)
	}
	if q.Event != "" {
		where = append(where, "event = ?")
		args = append(args, q.Event)
	}
	if q.Before > 0 {
		where = append(where, "id < ?")
		args = append(args, q.Before)
	}
	query := `SELECT id, at, event, actor, subject, address, user_agent, session_id, detail FROM audit`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, auditLimit(q.Limit))
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditEvent
	for rows.Next() {
		var e store.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Event, &e.Actor, &e.Subject, &e.Address, &e.UserAgent, &e.SessionID, &e.Detail); err != nil {
			return nil, fmt.Errorf("read audit: %w", err)
		}
		e.Time = fromMS(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	return out, nil
}

// PruneAudit deletes the rows older than before.
func (s *DB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM audit WHERE at < ?`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	return res.RowsAffected()
}

// auditLimit bounds a page to store.MaxAuditPage.
func auditLimit(n int) int {
	if n <= 0 || n > store.MaxAuditPage {
		return store.MaxAuditPage
	}
	return n
}
