package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"securechat/app/audit"
	"securechat/app/auth"
	"securechat/app/store"
	"securechat/views"
)

// Sessions a user can see and end, and personal access tokens: a JSON API
// for scripts (bearer or cookie) and the /settings page for people.
//
// CSRF: an /api request with an Authorization header is authenticated by it
// alone (no cookie is read), so it skips the CSRF middleware; one
// authenticated by the cookie goes through it like a form: a browser's
// same-origin request passes on Sec-Fetch-Site, anything else needs the
// X-CSRF-Token header (or _csrf field) matching the CSRF cookie.

func (s *Server) registerSessions(e *echo.Echo) {
	e.GET("/api/sessions", s.listSessions, s.requireAPI)
	e.DELETE("/api/sessions/:id", s.endSession, s.requireAPI)
	e.POST("/api/sessions/others", s.endOtherSessions, s.requireAPI)
	e.GET("/api/tokens", s.listPATs, s.requireAPI)
	e.POST("/api/tokens", s.createPAT, s.requireAPI)
	e.DELETE("/api/tokens/:id", s.revokePAT, s.requireAPI)
	e.POST("/token/revoke", s.revokeToken)
	e.GET("/api/audit", s.listAudit, s.requireAPI)
	e.GET("/admin/audit", s.auditPage, s.requireLogin)

	e.GET("/settings", s.settingsPage, s.requireLogin)
	e.POST("/settings/sessions/:id/end", s.settingsEnd, s.requireLogin)
	e.POST("/settings/sessions/others", s.settingsEndOthers, s.requireLogin)
	e.POST("/settings/tokens", s.settingsCreatePAT, s.requireLogin)
}

// skipCSRF says which requests the CSRF middleware lets through unchecked
// beyond the fixed list: API calls that carry their own credentials.
func skipCSRF(c echo.Context) bool {
	return c.Path() == "/token/revoke" ||
		strings.HasPrefix(c.Path(), "/api/") && c.Request().Header.Get("Authorization") != ""
}

// meta is what a new session records of the request that starts it.
func meta(c echo.Context, kind string) auth.Meta {
	return auth.Meta{Kind: kind, Address: c.RealIP(), UserAgent: c.Request().UserAgent()}
}

// requireAPI authenticates an API call by its bearer token, or else by the
// session cookie; it answers 401 in JSON.
func (s *Server) requireAPI(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "no-store")
		fail := func() error {
			c.Response().Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			return c.JSON(http.StatusUnauthorized, map[string]string{"error": "send Authorization: Bearer <token> or log in"})
		}
		if hs := c.Request().Header.Values("Authorization"); len(hs) > 0 {
			if len(hs) > 1 {
				return fail()
			}
			tok, err := auth.ParseBearer(hs[0])
			if err != nil {
				return fail()
			}
			id, err := s.deps.Auth.Authenticate(c.Request().Context(), tok)
			if errors.Is(err, auth.ErrInvalidToken) {
				s.authFailure(c, c.Path(), "reason", "invalid token")
				return fail()
			}
			if err != nil {
				return err
			}
			c.Set(identityKey, id)
			return next(c)
		}
		id, ok := s.cookieIdentity(c)
		if !ok {
			return fail()
		}
		c.Set(identityKey, id)
		return next(c)
	}
}

func (s *Server) listSessions(c echo.Context) error {
	list, err := s.deps.Auth.Sessions(c.Request().Context(), identity(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

// endSession ends one of the caller's sessions; another user's id is 404,
// the same as an id that does not exist.
func (s *Server) endSession(c echo.Context) error {
	return s.endByID(c, "")
}

func (s *Server) endByID(c echo.Context, kind string) error {
	err := s.deps.Auth.EndSession(c.Request().Context(), identity(c).UserID, c.Param("id"), kind)
	if errors.Is(err, auth.ErrNoSuchSession) {
		return c.JSON(http.StatusNotFound, map[string]string{"error": "no such session"})
	}
	if err != nil {
		return err
	}
	s.recordEnded(c, c.Param("id"), kind, "api")
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) endOtherSessions(c echo.Context) error {
	n, err := s.deps.Auth.EndOtherSessions(c.Request().Context(), identity(c))
	if err != nil {
		return err
	}
	s.recordEnded(c, "", "", fmt.Sprintf("all others (%d), api", n))
	return c.JSON(http.StatusOK, map[string]int{"ended": n})
}

func (s *Server) listPATs(c echo.Context) error {
	list, err := s.deps.Auth.PATs(c.Request().Context(), identity(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list)
}

// patRequest is the body of POST /api/tokens.
type patRequest struct {
	Name          string `json:"name"`
	ExpiresInDays *int   `json:"expires_in_days"`
}

func (s *Server) createPAT(c echo.Context) error {
	var req patRequest
	if !hasMediaType(c.Request().Header.Get(echo.HeaderContentType), echo.MIMEApplicationJSON) {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": `send {"name": …, "expires_in_days": …} as application/json`})
	}
	if err := (&echo.DefaultBinder{}).BindBody(c, &req); err != nil {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "the body is not a JSON object of name and expires_in_days"})
	}
	days := auth.DefaultPATDays
	if req.ExpiresInDays != nil {
		days = *req.ExpiresInDays
	}
	token, info, status, msg, err := s.newPAT(c, req.Name, days)
	if err != nil {
		return err
	}
	if msg != "" {
		return c.JSON(status, map[string]string{"error": msg})
	}
	return c.JSON(http.StatusCreated, struct {
		Token string `json:"token"`
		auth.SessionInfo
	}{token, info})
}

// newPAT makes a personal access token for the caller; on refusal it gives
// the status and message.
func (s *Server) newPAT(c echo.Context, name string, days int) (token string, info auth.SessionInfo, status int, msg string, err error) {
	id := identity(c)
	token, info, err = s.deps.Auth.CreatePAT(c.Request().Context(), store.User{ID: id.UserID, Name: id.User}, name, days, meta(c, store.SessionPAT))
	if err == nil {
		s.record(c, audit.PATCreated, id.User, id.User, id.SessionID, fmt.Sprintf("token %s %q, %d days", info.ID, name, days))
	}
	switch {
	case errors.Is(err, auth.ErrPATName), errors.Is(err, auth.ErrPATDays):
		return "", info, http.StatusBadRequest, err.Error(), nil
	case errors.Is(err, auth.ErrTooManyPATs):
		s.deps.Metrics.PATRefused()
		return "", info, http.StatusConflict, err.Error(), nil
	}
	return token, info, http.StatusCreated, "", err
}

func (s *Server) revokePAT(c echo.Context) error {
	return s.endByID(c, store.SessionPAT)
}

// revokeToken is RFC 7009's revocation endpoint: the token is the only
// credential, and the answer is 200 whether or not it was valid, so it tells
// a guesser nothing.
func (s *Server) revokeToken(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if !hasMediaType(c.Request().Header.Get(echo.HeaderContentType), echo.MIMEApplicationForm) {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "send token=… as application/x-www-form-urlencoded"})
	}
	if _, err := c.FormParams(); err != nil {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "the form could not be parsed"})
	}
	tok := c.Request().PostForm.Get("token")
	if tok == "" {
		return c.JSON(http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "token is required"})
	}
	if len(tok) <= 4096 {
		// Only a live token's end is recorded: anyone may post garbage here,
		// and it must not write rows.
		id, idErr := s.deps.Auth.Authenticate(c.Request().Context(), tok)
		if err := s.deps.Auth.RevokeToken(c.Request().Context(), tok); err != nil {
			return err
		}
		if idErr == nil {
			event := audit.SessionEnded
			if id.Kind == store.SessionPAT {
				event = audit.PATRevoked
			}
			s.record(c, event, id.User, id.User, id.SessionID, "token revocation (RFC 7009)")
		}
	}
	return c.NoContent(http.StatusOK)
}

// settingsView is the settings page's data for the caller.
func (s *Server) settingsView(c echo.Context) (views.SettingsPage, error) {
	id := identity(c)
	list, err := s.deps.Auth.Sessions(c.Request().Context(), id)
	if err != nil {
		return views.SettingsPage{}, err
	}
	p := views.SettingsPage{User: id.User, CSRF: csrfToken(c), Export: s.deps.Export != nil}
	for _, si := range list {
		row := views.SessionRow{
			ID: si.ID, Kind: si.Kind, Name: si.Name, Address: si.Address, UserAgent: si.UserAgent, Current: si.Current,
			Created: si.Created.UTC().Format("2006-01-02 15:04"), LastSeen: si.LastSeen.UTC().Format("2006-01-02 15:04"),
			Expires: si.Expires.UTC().Format("2006-01-02 15:04"),
		}
		if si.Kind == store.SessionPAT {
			p.Tokens = append(p.Tokens, row)
		} else {
			p.Sessions = append(p.Sessions, row)
		}
	}
	if s.deps.TwoFactor != nil {
		on, err := s.deps.TwoFactor.Enabled(c.Request().Context(), id.UserID)
		if err != nil {
			return views.SettingsPage{}, fmt.Errorf("settings: two-factor state: %w", err)
		}
		p.TwoFactor, p.TwoFactorOn = true, on
	}
	if s.deps.Audit != nil {
		if p.Admin, err = s.isAdmin(c); err != nil {
			return views.SettingsPage{}, err
		}
	}
	return p, nil
}

var settingsDone = map[string]string{
	"ended":  "The session has ended.",
	"others": "Your other sessions have ended.",
}

func (s *Server) settingsPage(c echo.Context) error {
	p, err := s.settingsView(c)
	if err != nil {
		return err
	}
	p.Done = settingsDone[c.QueryParam("done")]
	return render(c, http.StatusOK, views.Settings(p))
}

func (s *Server) settingsEnd(c echo.Context) error {
	err := s.deps.Auth.EndSession(c.Request().Context(), identity(c).UserID, c.Param("id"), "")
	if errors.Is(err, auth.ErrNoSuchSession) {
		return echo.NewHTTPError(http.StatusNotFound, "No such session: it may have ended already.")
	}
	if err != nil {
		return err
	}
	s.recordEnded(c, c.Param("id"), "", "settings")
	return c.Redirect(http.StatusSeeOther, "/settings?done=ended")
}

func (s *Server) settingsEndOthers(c echo.Context) error {
	n, err := s.deps.Auth.EndOtherSessions(c.Request().Context(), identity(c))
	if err != nil {
		return err
	}
	s.recordEnded(c, "", "", fmt.Sprintf("all others (%d), settings", n))
	return c.Redirect(http.StatusSeeOther, "/settings?done=others")
}

// settingsCreatePAT makes a token from the page's form and shows it once,
// on the page it answers with (no redirect: the token is in no URL).
func (s *Server) settingsCreatePAT(c echo.Context) error {
	c.FormParams()
	form := c.Request().PostForm
	days := auth.DefaultPATDays
	if v := form.Get("expires_in_days"); v != "" {
		n, err := atoiBounded(v)
		if err != nil {
			days = -1 // refused below with the range
		} else {
			days = n
		}
	}
	token, _, status, msg, err := s.newPAT(c, strings.TrimSpace(form.Get("name")), days)
	if err != nil {
		return err
	}
	p, err := s.settingsView(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if msg != "" {
		p.TokenError = capitalize(msg) + "."
		if days < 1 || days > auth.MaxPATDays {
			p.TokenError = fmt.Sprintf("A token lasts 1 to %d days.", auth.MaxPATDays)
		}
		return render(c, status, views.Settings(p))
	}
	p.NewToken = token
	return render(c, http.StatusCreated, views.Settings(p))
}

// atoiBounded parses a small decimal number (at most 6 digits).
func atoiBounded(v string) (int, error) {
	if len(v) == 0 || len(v) > 6 {
		return 0, errors.New("not a small number")
	}
	n := 0
	for _, r := range v {
		if r < '0' || r > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int(r-'0')
	}
	return n, nil
}

// recordEnded records that the caller ended one of their sessions (or, with
// id "", all the others); the row's session is the one ended, the actor the
// caller (whose own session is in detail).
func (s *Server) recordEnded(c echo.Context, id, kind, detail string) {
	caller := identity(c)
	event := audit.SessionEnded
	if kind == store.SessionPAT {
		event = audit.PATRevoked
	}
	s.record(c, event, caller.User, caller.User, id, detail+"; by session "+caller.SessionID)
}
