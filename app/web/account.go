package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"securechat/app/accounts"
	"securechat/app/audit"
	"securechat/app/store"
	"securechat/views"
)

// The account page: a user changes their password or deletes their account,
// each with their password. The password check counts against the login
// failure limits, so a stolen session cookie is no faster a way to guess it.

func (s *Server) registerAccount(e *echo.Echo) {
	e.GET("/account", s.accountPage, s.requireLogin)
	e.POST("/account/password", s.changePassword, s.requireLogin)
	e.POST("/account/delete", s.deleteAccount, s.requireLogin)
}

// Account page messages, shown after a redirect.
var accountDone = map[string]string{
	"password": "Your password is changed. Your other sessions have ended.",
}

func (s *Server) accountView(c echo.Context) views.AccountPage {
	return views.AccountPage{User: identity(c).User, CSRF: csrfToken(c)}
}

func (s *Server) accountPage(c echo.Context) error {
	p := s.accountView(c)
	p.Done = accountDone[c.QueryParam("done")]
	return render(c, http.StatusOK, views.Account(p))
}

// checkOwnPassword checks the signed-in user's password within the login
// failure limits. On failure it returns the status and the message to show.
func (s *Server) checkOwnPassword(c echo.Context, password string) (u store.User, status int, msg string, err error) {
	user := identity(c).User
	if password == "" {
		return u, http.StatusBadRequest, "Enter your password.", nil
	}
	attempt := s.newLoginAttempt(c, user)
	finish, wait, refused := s.beginLogin(attempt)
	if refused {
		s.loginRefused(c, "account", user, s.authFailure(c, "account", "reason", "rate limited", "user", truncateName(user)))
		retryAfter(c, wait)
		return u, http.StatusTooManyRequests, "Too many wrong passwords. Wait a minute and try again.", nil
	}
	u, err = s.deps.Accounts.Authenticate(c.Request().Context(), user, password)
	finish(errors.Is(err, accounts.ErrBadCredentials))
	switch {
	case errors.Is(err, accounts.ErrBadCredentials):
		s.authFailure(c, "account", "user", truncateName(user))
		s.loginFailed(c, "account", user, attempt)
		return u, http.StatusUnauthorized, "That is not your password.", nil
	case errors.Is(err, accounts.ErrBusy):
		s.hashBusy(c, "login")
		return u, http.StatusServiceUnavailable, "The server is busy. Try again in a moment.", nil
	case err != nil:
		return u, 0, "", err
	}
	return u, http.StatusOK, "", nil
}

// changePassword sets a new password. Every session of the user ends (as
// the CLI's passwd does); this browser gets a new one, so it stays signed in.
func (s *Server) changePassword(c echo.Context) error {
	p := s.accountView(c)
	c.FormParams()
	form := c.Request().PostForm // the body only: passwords never come in the URL
	u, status, msg, err := s.checkOwnPassword(c, form.Get("password"))
	if err != nil {
		return err
	}
	if msg != "" {
		p.PasswordError = msg
		return render(c, status, views.Account(p))
	}
	ctx := c.Request().Context()
	err = s.deps.Accounts.SetPassword(ctx, p.User, form.Get("new_password"))
	switch {
	case errors.Is(err, accounts.ErrBadPassword):
		p.PasswordError = "The new password: " + err.Error() + "."
		return render(c, http.StatusBadRequest, views.Account(p))
	case errors.Is(err, accounts.ErrBusy):
		s.hashBusy(c, "password")
		p.PasswordError = "The server is busy. Try again in a moment."
		return render(c, http.StatusServiceUnavailable, views.Account(p))
	case err != nil:
		return err
	}
	// The change revoked this session too: start a new one for this browser.
	issued, err := s.deps.Auth.StartSession(ctx, u, meta(c, store.SessionBrowser))
	if err != nil {
		return err
	}
	s.record(c, audit.PasswordChanged, u.Name, u.Name, issued.Identity.SessionID, "all other sessions ended")
	s.setSessionCookie(c, issued.Token, issued.Identity.ExpiresAt)
	s.renewCSRF(c)
	return c.Redirect(http.StatusSeeOther, "/account?done=password")
}

// deleteAccount deletes the signed-in user's account and logs them out.
func (s *Server) deleteAccount(c echo.Context) error {
	p := s.accountView(c)
	c.FormParams()
	_, status, msg, err := s.checkOwnPassword(c, c.Request().PostForm.Get("password"))
	if err != nil {
		return err
	}
	if msg != "" {
		p.DeleteError = msg
		return render(c, status, views.Account(p))
	}
	// Deleting ends every session; their sockets close through the revocation watcher.
	if err := s.deps.Accounts.Delete(c.Request().Context(), p.User); err != nil {
		return err
	}
	s.record(c, audit.AccountDeleted, p.User, p.User, identity(c).SessionID, "")
	s.clearSessionCookie(c)
	return c.Redirect(http.StatusSeeOther, "/login")
}
