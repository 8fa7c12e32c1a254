package web

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"securechat/app/accounts"
	"securechat/app/audit"
	"securechat/app/auth"
	"securechat/app/store"
	"securechat/views"
)

func (s *Server) registerAuth(e *echo.Echo) {
	e.GET("/login", s.loginForm)
	e.POST("/login", s.login)
	e.GET("/signup", s.signupForm)
	e.POST("/signup", s.signup)
	e.POST("/logout", s.logout)
	e.POST("/token", s.token)
	e.POST("/token/refresh", s.refreshToken)
	e.POST("/session/refresh", s.refreshSession)
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

// hashBusy counts a request refused because password hashing was too busy
// (the queue full or the wait too long) and tells the client when to retry.
func (s *Server) hashBusy(c echo.Context, kind string) {
	// No log line: under a storm it would be one per request; the counter has them.
	s.deps.Metrics.HashRefused(kind)
	retryAfter(c, busyRetry)
}

func retryAfter(c echo.Context, d time.Duration) {
	c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
}

func (s *Server) login(c echo.Context) error {
	f := s.authForm(c)
	var password string
	var inURL bool
	f.Username, password, inURL = postedCredentials(c)
	if inURL {
		f.Error = credentialsInURL
		return render(c, http.StatusBadRequest, views.Login(f))
	}
	if f.Username == "" || password == "" {
		f.Error = "Enter your username and password."
		return render(c, http.StatusBadRequest, views.Login(f))
	}
	attempt := s.newLoginAttempt(c, f.Username)
	finish, wait, refused := s.beginLogin(attempt)
	if refused {
		s.loginRefused(c, "login", f.Username, s.authFailure(c, "login", "reason", "rate limited", "user", truncateName(f.Username)))
		retryAfter(c, wait)
		f.Error = "Too many failed attempts. Wait a minute and try again."
		return render(c, http.StatusTooManyRequests, views.Login(f))
	}
	ctx := c.Request().Context()
	u, err := s.deps.Accounts.Authenticate(ctx, f.Username, password)
	finish(errors.Is(err, accounts.ErrBadCredentials))
	if errors.Is(err, accounts.ErrBadCredentials) {
		s.authFailure(c, "login", "user", truncateName(f.Username))
		s.loginFailed(c, "login", f.Username, attempt)
		f.Error = "Unknown username or wrong password."
		return render(c, http.StatusUnauthorized, views.Login(f))
	}
	if errors.Is(err, accounts.ErrBusy) {
		s.hashBusy(c, "login")
		f.Error = "The server is busy. Try again in a moment."
		return render(c, http.StatusServiceUnavailable, views.Login(f))
	}
	if err != nil {
		return err
	}
	if on, err := s.secondFactorOn(ctx, u); err != nil {
		return err
	} else if on {
		return s.askSecondFactor(c, f.Next, u)
	}
	// A login replaces whatever session the browser had.
	if err := s.startBrowserSession(c, u, "password"); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, f.Next)
}

// credentialsInURL is what the forms say to a username or password sent in the URL.
const credentialsInURL = "Send your username and password in the form, never in the address: addresses are kept in logs."

// postedCredentials returns the username and password from the request body.
// Credentials in the URL's query are refused (inURL) and never read: proxies
// and access logs keep URLs.
func postedCredentials(c echo.Context) (username, password string, inURL bool) {
	if q := c.QueryParams(); q.Has("username") || q.Has("password") {
		return "", "", true
	}
	c.FormParams() // fills PostForm (multipart too); a malformed body leaves it empty
	body := c.Request().PostForm
	return body.Get("username"), body.Get("password"), false
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
	var password string
	var inURL bool
	f.Username, password, inURL = postedCredentials(c)
	if inURL {
		f.Error = credentialsInURL
		return render(c, http.StatusBadRequest, views.Signup(f))
	}
	// Every attempt counts, taken names and malformed ones too: probing
	// which names exist is what the limit is for.
	if ok, wait := s.signups.Allow(c.RealIP()); !ok {
		s.deps.Metrics.SignupRefused()
		retryAfter(c, wait)
		f.Error = "Too many sign-ups from your address. Try again later."
		return render(c, http.StatusTooManyRequests, views.Signup(f))
	}
	ctx := c.Request().Context()
	create := s.deps.Accounts.Create
	if s.cfg.FirstUserAdmin {
		create = s.deps.Accounts.CreateAdminIfFirst
	}
	u, err := create(ctx, f.Username, password)
	switch {
	case errors.Is(err, accounts.ErrBusy):
		s.hashBusy(c, "signup")
		f.Error = "The server is busy. Try again in a moment."
		return render(c, http.StatusServiceUnavailable, views.Signup(f))
	case errors.Is(err, accounts.ErrBadName), errors.Is(err, accounts.ErrBadPassword):
		f.Error = capitalize(err.Error()) + "."
		return render(c, http.StatusBadRequest, views.Signup(f))
	case errors.Is(err, accounts.ErrTaken):
		f.Error = "That username is taken."
		return render(c, http.StatusConflict, views.Signup(f))
	case err != nil:
		return err
	}
	issued, err := s.deps.Auth.StartSession(ctx, u, meta(c, store.SessionBrowser))
	if err != nil {
		return err
	}
	s.record(c, audit.Signup, u.Name, u.Name, issued.Identity.SessionID, "")
	if u.Role == store.RoleAdmin {
		// How an admin came to be is what an audit asks first.
		s.record(c, audit.RoleChanged, u.Name, u.Name, issued.Identity.SessionID, "admin: the first account, --first-user-admin")
	}
	s.setDeviceCookie(c, issued.Identity.User)
	s.setSessionCookie(c, issued.Token, issued.Identity.ExpiresAt)
	s.renewCSRF(c)
	return c.Redirect(http.StatusSeeOther, f.Next)
}

func (s *Server) logout(c echo.Context) error {
	if id, ok := s.cookieIdentity(c); ok {
		// Revocation reaches the session's sockets through the revocation watcher.
		if err := s.deps.Auth.Logout(c.Request().Context(), id.SessionID); err != nil {
			return err
		}
		s.record(c, audit.Logout, id.User, id.User, id.SessionID, "")
	}
	s.clearSessionCookie(c)
	return c.Redirect(http.StatusSeeOther, "/login")
}

// passwordGrantWith2FA is what /token tells a user with two-factor login.
const passwordGrantWith2FA = "this account has two-factor login, which the password grant cannot carry (RFC 9700): " +
	"use a personal access token instead (make one under Personal access tokens on /settings, or POST /api/tokens) and send it as Authorization: Bearer"

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
	if _, err := c.FormParams(); err != nil {
		return oauthErr(http.StatusBadRequest, "invalid_request", "the form could not be parsed")
	}
	if _, _, inURL := postedCredentials(c); inURL {
		return oauthErr(http.StatusBadRequest, "invalid_request", "send username and password in the request body, never in the URL")
	}
	form := c.Request().PostForm // the body only: the URL's query is not the form
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
	attempt := s.newLoginAttempt(c, user)
	finish, wait, refused := s.beginLogin(attempt)
	if refused {
		s.loginRefused(c, "token", user, s.authFailure(c, "token", "reason", "rate limited", "user", truncateName(user)))
		retryAfter(c, wait)
		return oauthErr(http.StatusTooManyRequests, "slow_down", "too many failed attempts; retry later")
	}
	ctx := c.Request().Context()
	u, err := s.deps.Accounts.Authenticate(ctx, user, password)
	finish(errors.Is(err, accounts.ErrBadCredentials))
	if errors.Is(err, accounts.ErrBadCredentials) {
		s.authFailure(c, "token", "user", truncateName(user))
		s.loginFailed(c, "token", user, attempt)
		return oauthErr(http.StatusBadRequest, "invalid_grant", "unknown username or wrong password")
	}
	if errors.Is(err, accounts.ErrBusy) {
		s.hashBusy(c, "login")
		return oauthErr(http.StatusServiceUnavailable, "temporarily_unavailable", "the server is busy; retry later")
	}
	if err != nil {
		return err
	}
	// RFC 9700 2.4: the password grant cannot carry a second factor, so it
	// must not get round one.
	if on, err := s.secondFactorOn(ctx, u); err != nil {
		return err
	} else if on {
		return oauthErr(http.StatusBadRequest, "invalid_grant", passwordGrantWith2FA)
	}
	issued, err := s.deps.Auth.StartSession(ctx, u, meta(c, store.SessionToken))
	if err != nil {
		return err
	}
	s.record(c, audit.Login, u.Name, u.Name, issued.Identity.SessionID, "token")
	// A client that keeps cookies is remembered like a browser.
	s.setDeviceCookie(c, issued.Identity.User)
	return c.JSON(http.StatusOK, map[string]any{
		"access_token": issued.Token,
		"token_type":   "bearer",
		"expires_in":   int(issued.Identity.ExpiresAt.Sub(s.deps.Now()).Seconds()),
	})
}

// refreshSession renews the session cookie of an active page before it
// expires; the session's sockets, on any node, find the new expiry when
// their old one comes. The page calls it only
// while its user is active, so an idle session still ends at its expiry.
func (s *Server) refreshSession(c echo.Context) error {
	id, ok := s.cookieIdentity(c)
	if !ok {
		return echo.NewHTTPError(http.StatusUnauthorized, "Log in again.")
	}
	issued, err := s.deps.Auth.Refresh(c.Request().Context(), id)
	if err != nil {
		return echo.NewHTTPError(http.StatusUnauthorized, "Log in again.")
	}
	s.setSessionCookie(c, issued.Token, issued.Identity.ExpiresAt)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"expires": issued.Identity.ExpiresAt.UTC().Format(time.RFC3339)})
}

// refreshToken gives a bearer client a newer token of the same session (for
// new sockets, or to present on an open one in a refresh frame).
func (s *Server) refreshToken(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	fail := func(status int, code, desc string) error {
		if status == http.StatusUnauthorized {
			c.Response().Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
		return c.JSON(status, map[string]string{"error": code, "error_description": desc})
	}
	tok, err := auth.ParseBearer(c.Request().Header.Get("Authorization"))
	if err != nil {
		return fail(http.StatusBadRequest, "invalid_request", "send Authorization: Bearer <token>")
	}
	id, err := s.deps.Auth.Authenticate(c.Request().Context(), tok)
	if err != nil {
		return fail(http.StatusUnauthorized, "invalid_token", "the token is invalid, expired or revoked")
	}
	if ok, wait := s.refreshes.Allow(id.SessionID); !ok {
		s.deps.Metrics.RefreshRefused()
		retryAfter(c, wait)
		return fail(http.StatusTooManyRequests, "slow_down", "too many refreshes of this session; retry later")
	}
	issued, err := s.deps.Auth.Refresh(c.Request().Context(), id)
	if errors.Is(err, auth.ErrInvalidToken) {
		return fail(http.StatusUnauthorized, "invalid_token", "the session has ended; log in again")
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
