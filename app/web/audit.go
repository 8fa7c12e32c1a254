package web

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"securechat/app/accounts"
	"securechat/app/store"
)

// auditRow is one row of GET /api/audit.
type auditRow struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	Event     string    `json:"event"`
	Actor     string    `json:"actor"`
	User      string    `json:"user"`
	Address   string    `json:"address"`
	UserAgent string    `json:"user_agent"`
	SessionID string    `json:"session_id"`
	Detail    string    `json:"detail"`
}

// listAudit answers a page of the audit log, newest first, to admins only:
// ?user= (actor or subject), ?event=, ?before=ID (the next page starts
// below the last id of this one), ?limit= (1 to 200, default 200).
func (s *Server) listAudit(c echo.Context) error {
	if s.deps.Audit == nil {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	// The role is read now, not from the token: a demotion takes effect at
	// the next request.
	u, err := s.deps.Accounts.Find(ctx, identity(c).User)
	if errors.Is(err, accounts.ErrNoSuchUser) || err == nil && u.Role != store.RoleAdmin {
		return apiError(c, http.StatusForbidden, "the audit log is for admins")
	}
	if err != nil {
		return err
	}
	q := c.QueryParams()
	query := store.AuditQuery{User: q.Get("user"), Event: q.Get("event")}
	if query.User != "" {
		// Stored names are canonical; one that cannot be a name matches nothing.
		if n, err := accounts.NormalizeName(query.User); err == nil {
			query.User = n
		}
	}
	if len(query.User) > 256 || len(query.Event) > 64 {
		return apiError(c, http.StatusBadRequest, "user or event is too long")
	}
	for _, p := range []struct {
		name string
		to   *int64
		max  int64
	}{
		{"before", &query.Before, 1 << 62},
		{"limit", new(int64), store.MaxAuditPage},
	} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > p.max {
			return apiError(c, http.StatusBadRequest, p.name+" must be a whole number from 1 to "+strconv.FormatInt(p.max, 10))
		}
		*p.to = n
		if p.name == "limit" {
			query.Limit = int(n)
		}
	}
	events, err := s.deps.Audit.List(ctx, query)
	if err != nil {
		return err
	}
	rows := make([]auditRow, 0, len(events))
	for _, e := range events {
		rows = append(rows, auditRow{ID: e.ID, Time: e.Time, Event: e.Event, Actor: e.Actor, User: e.Subject,
			Address: e.Address, UserAgent: e.UserAgent, SessionID: e.SessionID, Detail: e.Detail})
	}
	return c.JSON(http.StatusOK, rows)
}
