package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"securechat/app/audit"
	"securechat/app/export"
)

// "Download my data": the signed-in user's own data as a JSON attachment,
// streamed from the store a page at a time (see package export).
//
// It is a POST from the settings page's form, so the CSRF check applies: no
// other site can start a download in the user's browser. The session picks
// whose data it is; there is no name to pass, so nobody can ask for
// another's. At most --export-concurrency stream at once (each reads every
// message of its user), the rest get 503 with Retry-After.

// exportWriteWait is how long one write of the export may take: a reader
// that stops reading loses the connection instead of holding its slot.
const exportWriteWait = 30 * time.Second

// exportRetryAfter is the Retry-After of a refused export, in seconds.
const exportRetryAfter = "10"

func (s *Server) registerExport(e *echo.Echo) {
	if s.deps.Export != nil {
		e.POST("/settings/export", s.exportMine, s.requireLogin)
	}
}

func (s *Server) exportMine(c echo.Context) error {
	select {
	case s.exports <- struct{}{}:
		defer func() { <-s.exports }()
	default:
		s.deps.Metrics.ExportRefused()
		c.Response().Header().Set("Retry-After", exportRetryAfter)
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Too many downloads are running: try again in a few seconds.")
	}
	id := identity(c)
	ctx := c.Request().Context()
	u, err := s.deps.Accounts.Find(ctx, id.User)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	twoFactor := false
	if s.deps.TwoFactor != nil {
		if twoFactor, err = s.deps.TwoFactor.Enabled(ctx, u.ID); err != nil {
			return fmt.Errorf("export: two-factor state: %w", err)
		}
	}
	sessions, err := s.deps.Auth.Sessions(ctx, id)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/json; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment",
		map[string]string{"filename": "securechat-" + u.Name + "-" + s.deps.Now().UTC().Format("2006-01-02") + ".json"}))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	rc := http.NewResponseController(c.Response())
	// The deadline would otherwise stay on the connection for its next request.
	defer rc.SetWriteDeadline(time.Time{})
	n, err := s.deps.Export.User(ctx, &deadlineWriter{w: c.Response(), rc: rc}, export.AccountOf(u, twoFactor), sessions)
	if err != nil {
		// The status is sent: the download ends short, and the JSON, cut
		// before its closing brackets, does not parse.
		s.log.Warn("export cut short", "user", u.Name, "messages", n, "err", err)
		return nil
	}
	s.record(c, audit.DataExported, id.User, id.User, id.SessionID, fmt.Sprintf("settings, %d messages", n))
	return nil
}

// deadlineWriter gives each write exportWriteWait to reach the client.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	// A writer without deadlines (a test recorder) still writes.
	d.rc.SetWriteDeadline(time.Now().Add(exportWriteWait))
	n, err := d.w.Write(p)
	if err == nil {
		if ferr := d.rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
			err = ferr
		}
	}
	return n, err
}
