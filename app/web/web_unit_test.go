package web

// In-package tests of the web layer against the real Echo instance (New),
// with the real accounts and auth services over SQLite in a temporary folder:
// the socket gate and the page redirects, in well under a second. The
// end-to-end suite (cmd/securechat) proves the same through the binary.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gorilla/websocket"

	"securechat/app/accounts"
	"securechat/app/auth"
	"securechat/app/chat"
	"securechat/app/store/sqlite"
	"securechat/app/throttle"
	"securechat/app/tokens"
)

const unitPassword = "correct horse"

// unitSite is a web server on a loopback listener with its services.
type unitSite struct {
	*httptest.Server
	accounts *accounts.Service
	auth     *auth.Service
	codec    *tokens.Codec
}

// newUnitSite starts the web layer over a fresh SQLite store with cfg, and
// a hub that lets each user open sockets sockets.
func newUnitSite(t *testing.T, cfg Config, sockets int) *unitSite {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, err := tokens.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	codec, err := tokens.NewCodec([]tokens.Key{key}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	acc := accounts.NewService(db, accounts.NewHasher(1, 16, 10*time.Second), time.Now)
	au := auth.NewService(acc, db, codec, 15*time.Minute, 24*time.Hour, time.Now)
	generous := throttle.Limit{Rate: 1000, Burst: 1000}
	hub := chat.NewHub(chat.Deps{Store: db, Sessions: TokenPeers{Auth: au}, Now: time.Now, Log: log}, chat.Limits{
		ReadLimit: 1 << 16, MaxText: 4000, SendQueue: 256, SendQueueBytes: 1 << 20,
		MessageRate: generous, RequestRate: generous, MaxSocketsPerUser: sockets,
	})
	for _, l := range []*throttle.Limit{&cfg.LoginLimitUser, &cfg.LoginLimitAddr, &cfg.LoginLimitPair, &cfg.SignupLimitAddr, &cfg.RefreshLimit} {
		if *l == (throttle.Limit{}) {
			*l = generous
		}
	}
	srv := httptest.NewServer(New(cfg, Deps{Accounts: acc, Auth: au, Hub: hub, Tokens: codec,
		Static: fstest.MapFS{}, Log: log, Now: time.Now}))
	t.Cleanup(func() {
		srv.Close()
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		hub.Shutdown(sctx)
	})
	return &unitSite{Server: srv, accounts: acc, auth: au, codec: codec}
}

// login creates user (if new) and returns a token of a new session.
func (s *unitSite) login(t *testing.T, user string) auth.Issued {
	t.Helper()
	ctx := context.Background()
	if _, err := s.accounts.Create(ctx, user, unitPassword); err != nil && !errors.Is(err, accounts.ErrTaken) {
		t.Fatalf("create %s: %v", user, err)
	}
	issued, err := s.auth.Login(ctx, user, unitPassword)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return issued
}

// forge re-signs a token's claims after change: a valid signature over
// claims the server never issued.
func (s *unitSite) forge(t *testing.T, token string, change func(*tokens.Claims)) string {
	t.Helper()
	claims, err := s.codec.Decode(token)
	if err != nil {
		t.Fatal(err)
	}
	change(&claims)
	out, err := s.codec.Encode(claims)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The gate's rules: a Bearer header wins; a cookie counts only from this
// origin, an allowed one, or none; every refusal is an HTTP status before
// the upgrade, 401s with a Bearer challenge.
func TestGateRules(t *testing.T) {
	// Sockets closed by one case may not have ended on the server before the
	// next case opens one: the per-user limit is not what this is about.
	s := newUnitSite(t, Config{AllowedOrigins: []string{"https://chat.example"}}, 1000)
	good := s.login(t, "alice").Token
	cookie := "securechat=" + s.login(t, "alice").Token
	loggedOut := s.login(t, "alice")
	if err := s.auth.Logout(context.Background(), loggedOut.Identity.SessionID); err != nil {
		t.Fatal(err)
	}
	expired := s.forge(t, good, func(c *tokens.Claims) { c.ExpiresAt = time.Now().Add(-time.Minute).Unix() })
	otherUser := s.forge(t, good, func(c *tokens.Claims) { c.UserID++ })

	cases := []struct {
		name      string
		header    http.Header
		status    int    // 101: the upgrade must succeed
		challenge string // the WWW-Authenticate of a 401
	}{
		{"no credentials", nil, 401, "Bearer"},
		{"bearer", http.Header{"Authorization": {"Bearer " + good}}, 101, ""},
		{"bearer, lower-case scheme", http.Header{"Authorization": {"bearer " + good}}, 101, ""},
		{"bearer without token", http.Header{"Authorization": {"Bearer"}}, 403, ""},
		{"basic scheme", http.Header{"Authorization": {"Basic YWxpY2U6eA=="}}, 403, ""},
		{"two headers", http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, 403, ""},
		{"garbage token", http.Header{"Authorization": {"Bearer tokenizedalice"}}, 401, `Bearer error="invalid_token"`},
		{"expired", http.Header{"Authorization": {"Bearer " + expired}}, 401, `Bearer error="invalid_token"`},
		{"claims of another user", http.Header{"Authorization": {"Bearer " + otherUser}}, 401, `Bearer error="invalid_token"`},
		{"logged out", http.Header{"Authorization": {"Bearer " + loggedOut.Token}}, 401, `Bearer error="invalid_token"`},
		{"cookie, same origin", http.Header{"Cookie": {cookie}, "Origin": {s.URL}}, 101, ""},
		{"cookie, allowed origin", http.Header{"Cookie": {cookie}, "Origin": {"https://chat.example"}}, 101, ""},
		{"cookie, no origin (not a browser)", http.Header{"Cookie": {cookie}}, 101, ""},
		{"cookie, cross-site origin", http.Header{"Cookie": {cookie}, "Origin": {"https://evil.example"}}, 403, ""},
		{"cookie, same host other scheme", http.Header{"Cookie": {cookie}, "Origin": {strings.Replace(s.URL, "http", "https", 1)}}, 403, ""},
		{"cookie, null origin", http.Header{"Cookie": {cookie}, "Origin": {"null"}}, 403, ""},
		{"bad cookie", http.Header{"Cookie": {"securechat=garbage"}, "Origin": {s.URL}}, 401, `Bearer error="invalid_token"`},
		{"bearer wins over a cross-site cookie", http.Header{"Authorization": {"Bearer " + good}, "Cookie": {cookie}, "Origin": {"https://evil.example"}}, 101, ""},
	}
	for _, path := range []string{"/ws", "/secured-ws"} {
		for _, tc := range cases {
			t.Run(path+" "+tc.name, func(t *testing.T) {
				conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.URL, "http")+path, tc.header)
				if tc.status == 101 {
					if err != nil {
						t.Fatalf("dial: %v (response %v)", err, resp)
					}
					conn.Close()
					return
				}
				if err == nil {
					conn.Close()
					t.Fatalf("upgraded; want %d", tc.status)
				}
				if resp == nil || resp.StatusCode != tc.status {
					t.Fatalf("response %v, want %d", resp, tc.status)
				}
				if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge {
					t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
				}
			})
		}
	}
}

// The per-user socket limit is answered before the upgrade with 429, and a
// closed socket gives its place back.
func TestGateSocketsPerUser(t *testing.T) {
	s := newUnitSite(t, Config{}, 2)
	h := http.Header{"Authorization": {"Bearer " + s.login(t, "alice").Token}}
	u := "ws" + strings.TrimPrefix(s.URL, "http") + "/ws"
	var open []*websocket.Conn
	for range 2 {
		conn, _, err := websocket.DefaultDialer.Dial(u, h)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, conn)
	}
	_, resp, err := websocket.DefaultDialer.Dial(u, h)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third socket: %v %v, want 429", err, resp)
	}
	open[0].Close()
	// The place comes back once the hub has seen the socket end.
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, _, err := websocket.DefaultDialer.Dial(u, h)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed socket's place never came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	open[1].Close()
}

// Pages: a visitor without a live session goes to the login page with the
// page as next; a logged-in user gets the chat page, a 404 elsewhere, and is
// sent home from the login page.
func TestPageRedirects(t *testing.T) {
	s := newUnitSite(t, Config{}, 10)
	session := s.login(t, "alice").Token
	cases := []struct {
		name, path, cookie string
		status             int
		location           string
	}{
		{"home, no session", "/", "", 303, "/login?next=%2F"},
		{"a room, no session", "/rooms/x?tab=2", "", 303, "/login?next=%2Frooms%2Fx%3Ftab%3D2"},
		{"anything, no session", "/anything", "", 303, "/login?next=%2Fanything"},
		{"forged cookie", "/", "tokenizedalice", 303, "/login?next=%2F"},
		{"home, session", "/", session, 200, ""},
		{"unknown page, session", "/anything", session, 404, ""},
		{"login page, session", "/login", session, 303, "/"},
		{"login page, no session", "/login", "", 200, ""},
		{"signup page, sign-up off", "/signup", "", 404, ""},
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.URL+tc.path, nil)
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "securechat", Value: tc.cookie})
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
				t.Errorf("GET %s: %d %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
			}
		})
	}
}

// The login form: credentials in the body and a CSRF token; success sends
// the browser to a local next only, with a session cookie.
func TestLoginForm(t *testing.T) {
	s := newUnitSite(t, Config{}, 10)
	s.login(t, "alice")
	cases := []struct {
		name     string
		query    string // on the POST's URL
		form     url.Values
		noCSRF   bool
		status   int
		location string
		session  bool // a session cookie is set
	}{
		{name: "good, local next", form: url.Values{"username": {"alice"}, "password": {unitPassword}, "next": {"/rooms/x"}},
			status: 303, location: "/rooms/x", session: true},
		{name: "good, next to another site", form: url.Values{"username": {"alice"}, "password": {unitPassword}, "next": {"//evil.example"}},
			status: 303, location: "/", session: true},
		{name: "wrong password", form: url.Values{"username": {"alice"}, "password": {"wrong"}}, status: 401},
		{name: "missing password", form: url.Values{"username": {"alice"}}, status: 400},
		// Refused even with good ones in the body too: the URL was already logged.
		{name: "credentials in the URL", query: "?username=alice&password=x",
			form: url.Values{"username": {"alice"}, "password": {unitPassword}}, status: 400},
		{name: "no CSRF token", form: url.Values{"username": {"alice"}, "password": {unitPassword}}, noCSRF: true, status: 403},
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The form's GET sets the CSRF cookie the POST must echo.
			resp, err := c.Get(s.URL + "/login")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var csrf *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == "_csrf" {
					csrf = ck
				}
			}
			if csrf == nil {
				t.Fatal("the login form set no CSRF cookie")
			}
			form := tc.form
			if !tc.noCSRF {
				form.Set(csrfField, csrf.Value)
			}
			req, _ := http.NewRequest("POST", s.URL+"/login"+tc.query, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(csrf)
			resp, err = c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
				t.Errorf("POST /login: %d %q, want %d %q", resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
			}
			got := false
			for _, ck := range resp.Cookies() {
				if ck.Name == "securechat" && ck.Value != "" {
					got = true
					if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode && ck.SameSite != http.SameSiteStrictMode {
						t.Errorf("session cookie HttpOnly=%v SameSite=%v", ck.HttpOnly, ck.SameSite)
					}
				}
			}
			if got != tc.session {
				t.Errorf("session cookie set: %v, want %v", got, tc.session)
			}
		})
	}
}
