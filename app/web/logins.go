package web

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"securechat/app/accounts"
	"securechat/app/audit"
	"securechat/app/throttle"
	"securechat/app/tokens"
)

// The login limits count failures, not attempts: an attempt is checked
// against every limit before its password is hashed (so a refused guess costs
// no hash), and only a wrong password uses them up. So colleagues behind one
// address who log in correctly never hold each other up, and a guesser is
// stopped
//   - per address, whatever names it tries;
//   - per username and address together, tighter, for one address guessing one name;
//   - per username from anywhere, the ceiling a distributed guesser meets.
//
// The ceiling alone would let guessers lock the owner out, so a browser that
// has logged in as that user before passes it with its device cookie (OWASP's
// "device cookies"): signed with the token keys, naming the user, useless for
// any other user, and limited itself like an address, so a stolen one buys a
// guesser nothing more than an address would.

// deviceCookieAge is how long a browser that logged in is remembered.
const deviceCookieAge = 365 * 24 * time.Hour

// busyRetry is the Retry-After sent when password hashing is too busy.
const busyRetry = 2 * time.Second

// loginAttempt is the keys of the failure limits one attempt is checked against.
type loginAttempt struct {
	addr   string
	pair   string // username and address
	user   string // the per-username ceiling; "" when the browser's device cookie names this user
	device string // the device cookie's own key, when it names this user
}

func (s *Server) newLoginAttempt(c echo.Context, username string) loginAttempt {
	name, err := accounts.NormalizeName(username)
	if err != nil {
		name = "?invalid" // malformed names share one bucket
	}
	addr := c.RealIP()
	a := loginAttempt{addr: addr, pair: name + "\x00" + addr, user: name}
	if d, ok := s.deviceOf(c); ok && d.User == name {
		// No username starts with NUL, so this key is no (username, address) pair.
		a.user, a.device = "", "\x00device\x00"+d.ID
	}
	return a
}

// beginLogin checks an attempt against every limit before its password is
// hashed, and if it may go on returns finish, to be called with whether the
// password was wrong. The limits on one name (per username, per pair, per
// device) count attempts still in progress as failures to come, so a burst
// of simultaneous guesses for one account cannot all pass the check before
// the first has failed; a legitimate user rarely has two logins in flight.
// The limit per address only counts finished failures, so an office's
// simultaneous logins never hold each other up; a burst from one address
// leaves it in debt, blocked for longer afterwards.
func (s *Server) beginLogin(a loginAttempt) (finish func(failed bool), wait time.Duration, refused bool) {
	var first string
	refuse := func(name string, d time.Duration) {
		if first == "" {
			first = name
		}
		wait = max(wait, d)
	}
	if blocked, d := s.failsByAddr.Blocked(a.addr); blocked {
		refuse("addr", d)
	}
	var dones []func(bool)
	for _, l := range s.nameLimits(a) {
		done, d, ok := l.k.Begin(l.key)
		if !ok {
			refuse(l.name, d)
			continue
		}
		dones = append(dones, done)
	}
	finish = func(failed bool) {
		if failed {
			s.failsByAddr.Fail(a.addr)
		}
		for _, done := range dones {
			done(failed)
		}
	}
	if first != "" {
		finish(false)
		s.deps.Metrics.LoginRefused(first)
		return nil, wait, true
	}
	return finish, 0, false
}

// attemptLimit is one limit of login failures and the key an attempt counts
// against; the name labels refusals in the metric and the audit log.
type attemptLimit struct {
	name string
	k    *throttle.Keyed
	key  string
}

// nameLimits are the limits on the name an attempt tries (per username and
// address, per username, per device cookie), leaving out those the attempt
// has no key for; the limit per address is apart, counted differently.
func (s *Server) nameLimits(a loginAttempt) []attemptLimit {
	var out []attemptLimit
	for _, l := range []attemptLimit{
		{"user_addr", s.failsByPair, a.pair},
		{"user", s.failsByUser, a.user},
		{"device", s.failsByPair, a.device},
	} {
		if l.key != "" {
			out = append(out, l)
		}
	}
	return out
}

// deviceOf returns the request's device cookie, if it is valid.
func (s *Server) deviceOf(c echo.Context) (tokens.Device, bool) {
	ck, err := c.Cookie(s.names(c).device)
	if err != nil || s.deps.Tokens == nil {
		return tokens.Device{}, false
	}
	d, err := s.deps.Tokens.DecodeDevice(ck.Value, deviceCookieAge)
	return d, err == nil
}

// setDeviceCookie remembers that this browser logged in as user (a
// normalized name). A browser keeps one: the last user to log in on it.
func (s *Server) setDeviceCookie(c echo.Context, user string) {
	if s.deps.Tokens == nil {
		return
	}
	b := make([]byte, 16)
	rand.Read(b)
	v, err := s.deps.Tokens.EncodeDevice(tokens.Device{User: user, ID: base64.RawURLEncoding.EncodeToString(b), IssuedAt: s.deps.Now().Unix()})
	if err != nil {
		s.log.Warn("device cookie", "err", err)
		return
	}
	c.SetCookie(&http.Cookie{
		Name:     s.names(c).device,
		Value:    v,
		Path:     "/",
		MaxAge:   int(deviceCookieAge.Seconds()),
		HttpOnly: true,
		Secure:   s.secure(c),
		SameSite: http.SameSiteStrictMode,
	})
}

// loginRefused records a login refused by a limit, when its log line was
// written (see authFailure).
func (s *Server) loginRefused(c echo.Context, where, username string, logged bool) {
	if logged {
		s.record(c, audit.LoginFailed, "", truncateName(username), "", audit.ReasonRateLimited+" ("+where+")")
	}
}

// loginFailed records a wrong password, and that throttling engaged if this
// failure is the one that tipped a limit of the attempt into refusing.
func (s *Server) loginFailed(c echo.Context, where, username string, a loginAttempt) {
	name := truncateName(username)
	s.record(c, audit.LoginFailed, "", name, "", audit.ReasonBadCredentials+" ("+where+")")
	limits := append([]attemptLimit{{"addr", s.failsByAddr, a.addr}}, s.nameLimits(a)...)
	for _, l := range limits {
		if blocked, _ := l.k.Blocked(l.key); blocked {
			s.record(c, audit.Throttled, "", name, "", "login limit "+l.name)
			return
		}
	}
}
