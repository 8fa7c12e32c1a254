package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"securechat/app/auth"
)

// identityKey is where requireLogin leaves the caller's identity.
const identityKey = "identity"

// SafeNext returns next if it is a local path (one leading slash, no scheme,
// no host, no backslash, no control character), else "/". It is the one place
// a redirect target from a request is checked.
func SafeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\") {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if next[i] < 0x20 || next[i] == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

// loginURL is where a visitor without a session is sent, remembering where they were going.
func loginURL(r *http.Request) string {
	return "/login?next=" + url.QueryEscape(SafeNext(r.URL.RequestURI()))
}

// setSessionCookie stores a token in the HttpOnly session cookie.
func (s *Server) setSessionCookie(c echo.Context, token string, expires time.Time) {
	c.SetCookie(&http.Cookie{
		Name:     s.names(c).session,
		Value:    token,
		Path:     "/",
		Expires:  expires,
		MaxAge:   int(time.Until(expires).Seconds()),
		HttpOnly: true,
		Secure:   s.secure(c),
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearSessionCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{
		Name: s.names(c).session, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		HttpOnly: true, Secure: s.secure(c), SameSite: http.SameSiteLaxMode,
	})
}

// cookieIdentity returns the identity of the request's session cookie, if valid.
func (s *Server) cookieIdentity(c echo.Context) (auth.Identity, bool) {
	ck, err := c.Cookie(s.names(c).session)
	if err != nil || ck.Value == "" {
		return auth.Identity{}, false
	}
	id, err := s.deps.Auth.Authenticate(c.Request().Context(), ck.Value)
	if err != nil {
		return auth.Identity{}, false
	}
	return id, true
}

// requireLogin sends visitors without a valid session cookie to the login page.
func (s *Server) requireLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, ok := s.cookieIdentity(c)
		if !ok {
			return c.Redirect(http.StatusSeeOther, loginURL(c.Request()))
		}
		c.Set(identityKey, id)
		return next(c)
	}
}

func identity(c echo.Context) auth.Identity {
	id, _ := c.Get(identityKey).(auth.Identity)
	return id
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get("csrf").(string)
	return t
}
