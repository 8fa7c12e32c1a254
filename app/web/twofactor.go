package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"securechat/app/audit"
	"securechat/app/store"
	"securechat/app/throttle"
	"securechat/app/tokens"
	"securechat/app/twofactor"
	"securechat/views"
)

// Two-factor login. A user who turned it on logs in in two steps: the right
// password answers the second form, which carries a signed, encrypted
// "pending login" (the token keys' codec; pendingTTL, naming the user);
// only a code or a recovery code then starts the session. Wrong codes are
// limited per pending login (--2fa-attempts; then the password again) and
// per user (--2fa-limit), which also bounds the codes tried on the
// settings page and the API with a stolen session.

// pendingTTL is how long the second step of a login may take.
const pendingTTL = 5 * time.Minute

// qrSize is the QR code's width and height in pixels.
const qrSize = 200

// pendingLoginLimit is a bucket of attempts wrong codes that does not refill
// within a pending login's life: after them, the user starts over.
func pendingLoginLimit(attempts int) throttle.Limit {
	return throttle.Limit{Rate: 1 / (2 * pendingTTL).Seconds(), Burst: max(attempts, 1)}
}

func (s *Server) registerTwoFactor(e *echo.Echo) {
	e.POST("/login/2fa", s.loginSecondFactor)
	e.GET("/settings/2fa", s.twoFactorPage, s.requireLogin)
	e.POST("/settings/2fa/start", s.twoFactorStartForm, s.requireLogin)
	e.POST("/settings/2fa/confirm", s.twoFactorConfirmForm, s.requireLogin)
	e.POST("/settings/2fa/disable", s.twoFactorDisableForm, s.requireLogin)
	e.POST("/api/2fa/totp", s.apiTwoFactorStart, s.requireAPI, s.twoFactorAvailable)
	e.POST("/api/2fa/totp/confirm", s.apiTwoFactorConfirm, s.requireAPI, s.twoFactorAvailable)
	e.DELETE("/api/2fa/totp", s.apiTwoFactorDisable, s.requireAPI, s.twoFactorAvailable)
}

// secondFactorOn reports whether u logs in with a second factor.
func (s *Server) secondFactorOn(ctx context.Context, u store.User) (bool, error) {
	if s.deps.TwoFactor == nil {
		return false, nil
	}
	return s.deps.TwoFactor.Enabled(ctx, u.ID)
}

// askSecondFactor answers a right password of a user with two-factor login
// with the second form.
func (s *Server) askSecondFactor(c echo.Context, next string, u store.User) error {
	id := make([]byte, 16)
	rand.Read(id)
	p, err := s.deps.Tokens.EncodePending(tokens.Pending{
		UserID: u.ID, User: u.Name, ID: base64.RawURLEncoding.EncodeToString(id),
		ExpiresAt: s.deps.Now().Add(pendingTTL).Unix(),
	})
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.SecondFactor(views.SecondFactorForm{CSRF: csrfToken(c), Next: next, Pending: p}))
}

// startBrowserSession logs this browser in as u: a new session, the device
// cookie, the old session ended, a new CSRF token.
// how says which factors it took, for the audit log.
func (s *Server) startBrowserSession(c echo.Context, u store.User, how string) error {
	ctx := c.Request().Context()
	issued, err := s.deps.Auth.StartSession(ctx, u, meta(c, store.SessionBrowser))
	if err != nil {
		return err
	}
	s.record(c, audit.Login, u.Name, u.Name, issued.Identity.SessionID, how)
	s.setDeviceCookie(c, issued.Identity.User)
	if old, ok := s.cookieIdentity(c); ok {
		s.deps.Auth.Logout(ctx, old.SessionID)
	}
	s.setSessionCookie(c, issued.Token, issued.Identity.ExpiresAt)
	s.renewCSRF(c)
	return nil
}

// beginCode checks a code attempt against the two-factor limits (key "" is
// not checked) and if it may go on returns finish, to be called with
// whether the code was wrong.
func (s *Server) beginCode(userID int64, pendingID string) (finish func(failed bool), wait time.Duration, refused string) {
	var dones []func(bool)
	finish = func(failed bool) {
		for _, d := range dones {
			d(failed)
		}
	}
	for _, l := range []struct {
		name string
		k    *throttle.Keyed
		key  string
	}{
		{"login", s.twoFactorByLogin, pendingID},
		{"user", s.twoFactorByUser, strconv.FormatInt(userID, 10)},
	} {
		if l.key == "" {
			continue
		}
		done, d, ok := l.k.Begin(l.key)
		if !ok {
			finish(false)
			s.deps.Metrics.TwoFactorRefused(l.name)
			return nil, d, l.name
		}
		dones = append(dones, done)
	}
	return finish, 0, ""
}

// loginSecondFactor is the second step of a login.
func (s *Server) loginSecondFactor(c echo.Context) error {
	c.FormParams()
	form := c.Request().PostForm
	f := views.SecondFactorForm{CSRF: csrfToken(c), Next: SafeNext(form.Get("next")), Pending: form.Get("pending")}
	startOver := func(status int, msg string) error {
		lf := s.authForm(c)
		lf.Next, lf.Error = f.Next, msg
		return render(c, status, views.Login(lf))
	}
	if s.deps.Tokens == nil || s.deps.TwoFactor == nil {
		return startOver(http.StatusBadRequest, "Log in again.")
	}
	p, err := s.deps.Tokens.DecodePending(f.Pending)
	if err != nil {
		return startOver(http.StatusBadRequest, "Your login took too long. Log in again.")
	}
	finish, wait, refused := s.beginCode(p.UserID, p.ID)
	if refused != "" {
		if s.authFailure(c, "2fa", "reason", "rate limited", "limit", refused, "user", p.User) {
			s.record(c, audit.LoginFailed, "", p.User, "", audit.ReasonRateLimited+" (2fa "+refused+")")
		}
		retryAfter(c, wait)
		return startOver(http.StatusTooManyRequests, "Too many wrong codes. Log in again.")
	}
	ctx := c.Request().Context()
	recovery, err := s.deps.TwoFactor.Verify(ctx, p.UserID, form.Get("code"))
	finish(errors.Is(err, twofactor.ErrBadCode))
	switch {
	case errors.Is(err, twofactor.ErrBadCode):
		s.authFailure(c, "2fa", "user", p.User)
		s.record(c, audit.LoginFailed, "", p.User, "", audit.ReasonSecondFactor)
		f.Error = "Wrong or already used code."
		return render(c, http.StatusUnauthorized, views.SecondFactor(f))
	case errors.Is(err, twofactor.ErrNotEnrolled):
		// Turned off (or the account deleted) since the password: start over.
		return startOver(http.StatusBadRequest, "Log in again.")
	case errors.Is(err, twofactor.ErrUnreadable):
		s.log.Warn("two-factor secret unreadable: its key was dropped; reset it with securechat user 2fa-reset", "user", p.User)
		return startOver(http.StatusConflict, "Your two-factor login cannot be checked any more. Ask an administrator to reset it.")
	case err != nil:
		return err
	}
	how := "password and code"
	if recovery {
		s.log.Info("recovery code used", "user", p.User, "remote", c.RealIP())
		s.record(c, audit.RecoveryCodeUsed, p.User, p.User, "", "")
		how = "password and recovery code"
	}
	if err := s.startBrowserSession(c, store.User{ID: p.UserID, Name: p.User}, how); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, f.Next)
}

// The settings page: plain forms, so it works without JavaScript.

func (s *Server) twoFactorView(c echo.Context) (views.TwoFactorPage, error) {
	id := identity(c)
	p := views.TwoFactorPage{User: id.User, CSRF: csrfToken(c)}
	if s.deps.TwoFactor == nil {
		return p, echo.ErrNotFound
	}
	on, err := s.deps.TwoFactor.Enabled(c.Request().Context(), id.UserID)
	p.On = on
	return p, err
}

func (s *Server) twoFactorPage(c echo.Context) error {
	p, err := s.twoFactorView(c)
	if err != nil {
		return err
	}
	if c.QueryParam("done") == "off" && !p.On {
		p.Done = "Two-factor login is off."
	}
	return render(c, http.StatusOK, views.TwoFactor(p))
}

// showEnrolment puts a pending secret on the page, as text and QR code.
func showEnrolment(p *views.TwoFactorPage, en twofactor.Enrolment) error {
	png, err := twofactor.QRCode(en.URL, qrSize)
	if err != nil {
		return err
	}
	p.Secret = en.Secret
	p.QR = templ.SafeURL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	return nil
}

func (s *Server) twoFactorStartForm(c echo.Context) error {
	p, err := s.twoFactorView(c)
	if err != nil {
		return err
	}
	id := identity(c)
	en, err := s.deps.TwoFactor.Begin(c.Request().Context(), id.UserID, id.User)
	if errors.Is(err, twofactor.ErrEnrolled) {
		p.Error = "Two-factor login is already on."
		return render(c, http.StatusConflict, views.TwoFactor(p))
	}
	if err != nil {
		return err
	}
	if err := showEnrolment(&p, en); err != nil {
		return err
	}
	return render(c, http.StatusOK, views.TwoFactor(p))
}

// checkCode runs a code check of the signed-in user within the per-user
// limit; msg is what to tell them when it was refused or wrong.
func (s *Server) checkCode(c echo.Context, check func() error) (status int, msg string, err error) {
	id := identity(c)
	finish, wait, refused := s.beginCode(id.UserID, "")
	if refused != "" {
		s.authFailure(c, "2fa", "reason", "rate limited", "limit", refused, "user", id.User)
		retryAfter(c, wait)
		return http.StatusTooManyRequests, "Too many wrong codes. Try again later.", nil
	}
	err = check()
	finish(errors.Is(err, twofactor.ErrBadCode))
	switch {
	case errors.Is(err, twofactor.ErrBadCode):
		s.authFailure(c, "2fa", "user", id.User)
		return http.StatusBadRequest, "Wrong or already used code.", nil
	case errors.Is(err, twofactor.ErrNoPending):
		return http.StatusConflict, "Start setting it up first.", nil
	case errors.Is(err, twofactor.ErrNotEnrolled):
		return http.StatusConflict, "Two-factor login is not on.", nil
	case errors.Is(err, twofactor.ErrEnrolled):
		return http.StatusConflict, "Two-factor login is already on.", nil
	case errors.Is(err, twofactor.ErrUnreadable):
		s.log.Warn("two-factor secret unreadable: its key was dropped", "user", id.User)
		return http.StatusConflict, "Your two-factor secret cannot be read any more. Ask an administrator to reset it.", nil
	case err != nil:
		return 0, "", err
	}
	return http.StatusOK, "", nil
}

func (s *Server) twoFactorConfirmForm(c echo.Context) error {
	p, err := s.twoFactorView(c)
	if err != nil {
		return err
	}
	id := identity(c)
	ctx := c.Request().Context()
	c.FormParams()
	var codes []string
	status, msg, err := s.checkCode(c, func() (err error) {
		codes, err = s.deps.TwoFactor.Confirm(ctx, id.UserID, c.Request().PostForm.Get("code"))
		return err
	})
	if err != nil {
		return err
	}
	if msg != "" {
		p.Error = msg
		// Show the same secret again, if it is still pending.
		if en, err := s.deps.TwoFactor.Pending(ctx, id.UserID, id.User); err == nil {
			if err := showEnrolment(&p, en); err != nil {
				return err
			}
		}
		return render(c, status, views.TwoFactor(p))
	}
	s.record(c, audit.TwoFactorOn, id.User, id.User, id.SessionID, "")
	p.On, p.RecoveryCodes = true, codes
	p.Done = "Two-factor login is on."
	return render(c, http.StatusOK, views.TwoFactor(p))
}

func (s *Server) twoFactorDisableForm(c echo.Context) error {
	p, err := s.twoFactorView(c)
	if err != nil {
		return err
	}
	id := identity(c)
	c.FormParams()
	status, msg, err := s.checkCode(c, func() error {
		return s.deps.TwoFactor.Disable(c.Request().Context(), id.UserID, c.Request().PostForm.Get("code"))
	})
	if err != nil {
		return err
	}
	if msg != "" {
		p.Error = msg
		return render(c, status, views.TwoFactor(p))
	}
	s.record(c, audit.TwoFactorOff, id.User, id.User, id.SessionID, "")
	return c.Redirect(http.StatusSeeOther, "/settings/2fa?done=off")
}

// The same for scripts and tests, in JSON.

// twoFactorAvailable answers 404 on the JSON API of a server without
// two-factor login; requireAPI, before it, has authenticated the call (and
// the CSRF middleware has checked a cookie's X-CSRF-Token).
func (s *Server) twoFactorAvailable(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.deps.TwoFactor == nil {
			return apiError(c, http.StatusNotFound, "two-factor login is not available")
		}
		return next(c)
	}
}

func apiError(c echo.Context, status int, msg string) error {
	return c.JSON(status, map[string]string{"error": msg})
}

// codeBody reads {"code": "…"}.
func codeBody(c echo.Context) (string, bool) {
	var body struct {
		Code string `json:"code"`
	}
	if err := json.NewDecoder(c.Request().Body).Decode(&body); err != nil || body.Code == "" {
		return "", false
	}
	return body.Code, true
}

func (s *Server) apiTwoFactorStart(c echo.Context) error {
	id := identity(c)
	en, err := s.deps.TwoFactor.Begin(c.Request().Context(), id.UserID, id.User)
	if errors.Is(err, twofactor.ErrEnrolled) {
		return apiError(c, http.StatusConflict, "two-factor login is already on; turn it off first")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"secret": en.Secret, "otpauth_url": en.URL})
}

func (s *Server) apiTwoFactorConfirm(c echo.Context) error {
	code, ok := codeBody(c)
	if !ok {
		return apiError(c, http.StatusBadRequest, `send {"code": "…"} as JSON`)
	}
	id := identity(c)
	var codes []string
	status, msg, err := s.checkCode(c, func() (err error) {
		codes, err = s.deps.TwoFactor.Confirm(c.Request().Context(), id.UserID, code)
		return err
	})
	if err != nil {
		return err
	}
	if msg != "" {
		return apiError(c, status, msg)
	}
	s.record(c, audit.TwoFactorOn, id.User, id.User, id.SessionID, "")
	return c.JSON(http.StatusOK, map[string][]string{"recovery_codes": codes})
}

func (s *Server) apiTwoFactorDisable(c echo.Context) error {
	code, ok := codeBody(c)
	if !ok {
		return apiError(c, http.StatusBadRequest, `send {"code": "…"} as JSON`)
	}
	id := identity(c)
	status, msg, err := s.checkCode(c, func() error {
		return s.deps.TwoFactor.Disable(c.Request().Context(), id.UserID, code)
	})
	if err != nil {
		return err
	}
	if msg != "" {
		return apiError(c, status, msg)
	}
	s.record(c, audit.TwoFactorOff, id.User, id.User, id.SessionID, "")
	return c.NoContent(http.StatusNoContent)
}
