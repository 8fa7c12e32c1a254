package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"securechat/app/accounts"
	"securechat/app/store"
	"securechat/views"
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

// isAdmin says whether the request's user is an admin. The role is read
// from the store now, not from the session or token: a demotion takes
// effect at the next request.
func (s *Server) isAdmin(c echo.Context) (bool, error) {
	u, err := s.deps.Accounts.Find(c.Request().Context(), identity(c).User)
	if errors.Is(err, accounts.ErrNoSuchUser) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("audit: read role: %w", err)
	}
	return u.Role == store.RoleAdmin, nil
}

// listAudit answers a page of the audit log, newest first, to admins only:
// ?user= (actor or subject), ?event=, ?before=ID (the next page starts
// below the last id of this one), ?limit= (1 to 200, default 200).
func (s *Server) listAudit(c echo.Context) error {
	if s.deps.Audit == nil {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	admin, err := s.isAdmin(c)
	if err != nil {
		return err
	}
	if !admin {
		return apiError(c, http.StatusForbidden, "the audit log is for admins")
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

// auditPageSize is how many rows /admin/audit shows at once.
const auditPageSize = 100

// auditPage shows the audit log to admins as a table, newest first, with
// the same filters as the API (?user=, ?event=, ?before=ID) as a GET form.
func (s *Server) auditPage(c echo.Context) error {
	if s.deps.Audit == nil {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	admin, err := s.isAdmin(c)
	if err != nil {
		return err
	}
	if !admin {
		return echo.NewHTTPError(http.StatusForbidden, "The audit log is for admins.")
	}
	q := c.QueryParams()
	p := views.AuditPage{User: q.Get("user"), Event: q.Get("event")}
	if len(p.User) > 256 || len(p.Event) > 64 {
		return echo.NewHTTPError(http.StatusBadRequest, "The user or event filter is too long.")
	}
	query := store.AuditQuery{User: p.User, Event: p.Event, Limit: auditPageSize}
	if query.User != "" {
		// Stored names are canonical; one that cannot be a name matches nothing.
		if n, err := accounts.NormalizeName(query.User); err == nil {
			query.User = n
		}
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > 1<<62 {
			return echo.NewHTTPError(http.StatusBadRequest, "before must be a whole number.")
		}
		query.Before = n
	}
	events, err := s.deps.Audit.List(c.Request().Context(), query)
	if err != nil {
		return err
	}
	for _, e := range events {
		p.Rows = append(p.Rows, views.AuditRow{Time: e.Time.UTC().Format("2006-01-02 15:04:05"), Event: e.Event,
			Actor: e.Actor, User: e.Subject, Address: e.Address, UserAgent: e.UserAgent, SessionID: e.SessionID, Detail: e.Detail})
	}
	if len(events) == auditPageSize {
		older := url.Values{"before": {strconv.FormatInt(events[len(events)-1].ID, 10)}}
		if p.User != "" {
			older.Set("user", p.User)
		}
		if p.Event != "" {
			older.Set("event", p.Event)
		}
		p.Older = "/admin/audit?" + older.Encode()
	}
	return render(c, http.StatusOK, views.Audit(p))
}
