package web

import (
	"errors"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"securechat/app/accounts"
	"securechat/views"
)

func (s *Server) registerAuth(e *echo.Echo) {
	e.GET("/login", s.loginForm)
	e.POST("/login", s.login)
	e.GET("/signup", s.signupForm)
	e.POST("/signup", s.signup)
	e.POST("/logout", s.logout)
	e.POST("/token", s.token)
}

func render(c echo.Context, status int, comp templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().WriteHeader(status)
	return comp.Render(c.Request().Context(), c.Response())
}

func (s *Server) authForm(c echo.Context) views.AuthForm {
	return views.AuthForm{CSRF: csrfToken(c), Next: SafeNext(c.FormValue("next")), Signup: s.cfg.Signup}
}

func (s *Server) loginForm(c echo.Context) error {
	if _, ok := s.cookieIdentity(c); ok {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return render(c, http.StatusOK, views.Login(s.authForm(c)))
}

func (s *Server) login(c echo.Context) error {
	f := s.authForm(c)
	f.Username = c.FormValue("username")
	password := c.FormValue("password")
	if f.Username == "" || password == "" {
		f.Error = "Enter your username and password."
		return render(c, http.StatusBadRequest, views.Login(f))
	}
	ctx := c.Request().Context()
	issued, err := s.deps.Auth.Login(ctx, f.Username, password)
	if errors.Is(err, accounts.ErrBadCredentials) {
		s.log.Info("auth failure", "where", "login", "user", truncateName(f.Username), "remote", c.RealIP())
		f.Error = "Unknown username or wrong password."
		return render(c, http.StatusUnauthorized, views.Login(f))
	}
	if err != nil {
		return err
	}
	// A login replaces whatever session the browser had.
	if old, ok := s.cookieIdentity(c); ok {
		s.deps.Auth.Logout(ctx, old.SessionID)
	}
	s.setSessionCookie(c, issued.Token, issued.Identity.ExpiresAt)
	return c.Redirect(http.StatusSeeOther, f.Next)
}

func (s *Server) signupForm(c echo.Context) error {
	if !s.cfg.Signup {
		return echo.ErrNotFound
	}
	return render(c, http.StatusOK, views.Signup(s.authForm(c)))
}

func (s *Server) signup(c echo.Context) error {
	if !s.cfg.Signup {
		return echo.ErrNotFound
	}
	f := s.authForm(c)
	f.Username = c.FormValue("username")
	password := c.FormValue("password")
	ctx := c.Request().Context()
	_, err := s.deps.Accounts.Create(ctx, f.Username, password)
	switch {
	case errors.Is(err, accounts.ErrBadName), errors.Is(err, accounts.ErrBadPassword):
		f.Error = capitalize(err.Error()) + "."
		return render(c, http.StatusBadRequest, views.Signup(f))
	case errors.Is(err, accounts.ErrTaken):
		f.Error = "That username is taken."
		return render(c, http.StatusConflict, views.Signup(f))
	case err != nil:
		return err
	}
	issued, err := s.deps.Auth.Login(ctx, f.Username, password)
	if err != nil {
		return err
	}
	s.setSessionCookie(c, issued.Token, issued.Identity.ExpiresAt)
	return c.Redirect(http.StatusSeeOther, f.Next)
}

func (s *Server) logout(c echo.Context) error {
	if id, ok := s.cookieIdentity(c); ok {
		// Revocation reaches the session's sockets through the revocation watcher.
		if err := s.deps.Auth.Logout(c.Request().Context(), id.SessionID); err != nil {
			return err
		}
	}
	s.clearSessionCookie(c)
	return c.Redirect(http.StatusSeeOther, "/login")
}

// token is the OAuth2 resource owner password credentials grant (RFC 6749 4.3).
func (s *Server) token(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	oauthErr := func(status int, code, desc string) error {
		return c.JSON(status, map[string]string{"error": code, "error_description": desc})
	}
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if !hasMediaType(ct, echo.MIMEApplicationForm) {
		return oauthErr(http.StatusBadRequest, "invalid_request", "send the form as application/x-www-form-urlencoded")
	}
	form, err := c.FormParams()
	if err != nil {
		return oauthErr(http.StatusBadRequest, "invalid_request", "the form could not be parsed")
	}
	for _, k := range []string{"username", "password", "grant_type"} {
		if len(form[k]) > 1 {
			return oauthErr(http.StatusBadRequest, "invalid_request", k+" given more than once")
		}
	}
	if gt := form.Get("grant_type"); gt != "" && gt != "password" {
		return oauthErr(http.StatusBadRequest, "unsupported_grant_type", "only grant_type=password is supported")
	}
	user, password := form.Get("username"), form.Get("password")
	if user == "" || password == "" {
		return oauthErr(http.StatusBadRequest, "invalid_request", "username and password are required")
	}
	issued, err := s.deps.Auth.Login(c.Request().Context(), user, password)
	if errors.Is(err, accounts.ErrBadCredentials) {
		s.log.Info("auth failure", "where", "token", "user", truncateName(user), "remote", c.RealIP())
		return oauthErr(http.StatusBadRequest, "invalid_grant", "unknown username or wrong password")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"access_token": issued.Token,
		"token_type":   "bearer",
		"expires_in":   int(issued.Identity.ExpiresAt.Sub(s.deps.Now()).Seconds()),
	})
}
