package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// slowBody is a request that declares 60,000 bytes of body and sends 10.
const slowBody = "POST /login HTTP/1.1\r\nHost: chat\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\nusername=a"

// holdSlowBody opens a connection, sends slowBody and reports on closed when
// the server closes it (or refused it at once).
func holdSlowBody(t *testing.T, host string, closed chan<- error) {
	t.Helper()
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		_, err := io.WriteString(c, slowBody)
		if err == nil {
			_, err = io.Copy(io.Discard, c)
		}
		closed <- err
	}()
}

// TestSlowBodiesFromOneAddress: one address holds as many slow-body
// connections as it may; the ones past --max-conns-per-addr are closed at
// once, and meanwhile another address gets /healthz and logs in.
func TestSlowBodiesFromOneAddress(t *testing.T) {
	const limit, extra = 50, 20
	metricsAddr := freeAddr(t)
	s := startServer(t, "", "--max-conns-per-addr", strconv.Itoa(limit), "--body-timeout", "1h", "--metrics-addr", metricsAddr)
	s.addUser("alice", pw)
	host := strings.TrimPrefix(s.URL, "http://")

	closed := make(chan error, limit+extra)
	for range limit + extra {
		holdSlowBody(t, host, closed)
	}
	for n := range extra {
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of the %d connections past the limit were closed", n, extra)
		}
	}

	other := clientFrom("127.0.0.2", newJar())
	resp, err := other.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatalf("/healthz from another address while one holds its limit: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz from another address: %d", resp.StatusCode)
	}
	b := &browser{s: s, client: other}
	b.login("alice", pw)

	select {
	case err := <-closed:
		t.Fatalf("a connection within the limit was closed (%v): more than %d refused", err, extra)
	default:
	}
	if got := scrape(t, metricsAddr, "securechat_connections_refused_total"); got != extra {
		t.Errorf("securechat_connections_refused_total = %v, want %d", got, extra)
	}
}

// TestSlowBodyTimesOut: a request whose body does not come is closed after
// --body-timeout, while sockets upgraded before it stay open past it.
func TestSlowBodyTimesOut(t *testing.T) {
	metricsAddr := freeAddr(t)
	s := startServer(t, "", "--body-timeout", "1s", "--metrics-addr", metricsAddr)
	s.addUser("alice", pw)
	tok := s.token("alice", pw)
	chat := s.dialBearer(tok)
	chat.until("joined", nil)
	echo, _, err := s.dial("/secured-ws", http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	echo.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := echo.ReadMessage(); err != nil || !strings.HasPrefix(string(msg), "Welcome") {
		t.Fatalf("/secured-ws welcome: %q %v", msg, err)
	}

	// A body read by the handler (the form), one nobody reads (an unknown
	// path), and one declared on a socket handshake, which must not escape
	// the deadline that way.
	slow := []string{
		slowBody,
		strings.Replace(slowBody, "POST /login", "POST /no/such/page", 1),
		"GET /ws HTTP/1.1\r\nHost: chat\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer nope\r\nContent-Length: 60000\r\n\r\n0123456789",
	}
	results := make(chan error, len(slow))
	for _, req := range slow {
		c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			if _, err := io.WriteString(c, req); err != nil {
				results <- err
				return
			}
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			answer, err := io.ReadAll(c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				results <- fmt.Errorf("%.25q: a request with a missing body still held its connection after 30s (--body-timeout 1s)", req)
				return
			}
			if !strings.HasPrefix(string(answer), "HTTP/1.1 4") {
				results <- fmt.Errorf("%.25q: answer to a cut-off body: %.40q, want a 4xx", req, answer)
				return
			}
			results <- nil
		}()
	}
	for range slow {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}

	// Both sockets have now lived past the body timeout and still work.
	chat.send(map[string]any{"type": "send", "room": "general", "text": "still here"})
	chat.until("message", func(f map[string]any) bool { return f["text"] == "still here" })
	if err := echo.WriteMessage(1, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	echo.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := echo.ReadMessage(); err != nil || string(msg) != "You wrote: hi" {
		t.Fatalf("/secured-ws after the body timeout: %q %v", msg, err)
	}
	// Counted where a body is read: the two posts' forms (the CSRF check
	// reads them); nobody reads the handshake's.
	if got := scrape(t, metricsAddr, "securechat_body_timeouts_total"); got != 2 {
		t.Errorf("securechat_body_timeouts_total = %v, want 2", got)
	}
}

// TestHeadWhereverGet: HEAD answers as GET does (status and headers, no
// body) on every kind of route, as health checkers and curl -I expect.
func TestHeadWhereverGet(t *testing.T) {
	s := startServer(t, "")
	for _, path := range []string{"/healthz", "/static/app.css", "/static/js/main.js", "/login", "/signup", "/", "/no-such-page"} {
		var got [2]*http.Response
		var bodies [2]int
		for i, method := range []string{http.MethodGet, http.MethodHead} {
			req, _ := http.NewRequest(method, s.URL+path, nil)
			resp, err := noRedirect(nil).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got[i], bodies[i] = resp, len(b)
		}
		get, head := got[0], got[1]
		if head.StatusCode != get.StatusCode || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") ||
			head.Header.Get("Location") != get.Header.Get("Location") || head.Header.Get("ETag") != get.Header.Get("ETag") {
			t.Errorf("HEAD %s: %d %q %q %q; GET: %d %q %q %q", path,
				head.StatusCode, head.Header.Get("Content-Type"), head.Header.Get("Location"), head.Header.Get("ETag"),
				get.StatusCode, get.Header.Get("Content-Type"), get.Header.Get("Location"), get.Header.Get("ETag"))
		}
		if bodies[1] != 0 {
			t.Errorf("HEAD %s: %d bytes of body, want none", path, bodies[1])
		}
		if path == "/healthz" && head.StatusCode != http.StatusOK {
			t.Errorf("HEAD /healthz: %d, want 200", head.StatusCode)
		}
	}
}

// TestCredentialsOnlyInBody: a username or password in the URL (kept by
// proxies and access logs) is refused with a clear error and never works,
// even when the body is right too.
func TestCredentialsOnlyInBody(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	creds := url.Values{"username": {"alice"}, "password": {pw}}.Encode()
	t.Run("token", func(t *testing.T) {
		cases := []struct{ name, query, body string }{
			{"both in the query", creds, ""},
			{"password in the query", "password=" + url.QueryEscape(pw), "username=alice"},
			{"body right, query too", creds, creds},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp, err := http.Post(s.URL+"/token?"+tc.query, "application/x-www-form-urlencoded", strings.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var body map[string]string
				json.NewDecoder(resp.Body).Decode(&body)
				if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_request" || !strings.Contains(body["error_description"], "URL") {
					t.Fatalf("status %d %v, want 400 invalid_request about the URL", resp.StatusCode, body)
				}
			})
		}
	})
	t.Run("login form", func(t *testing.T) {
		for _, withBody := range []bool{false, true} {
			b := s.newBrowser()
			form := url.Values{"_csrf": {b.csrf("/login")}}
			if withBody {
				form.Set("username", "alice")
				form.Set("password", pw)
			}
			resp, err := b.client.PostForm(s.URL+"/login?"+creds, form)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(page), "never in the address") {
				t.Fatalf("login with the credentials in the URL (body too: %v): %d", withBody, resp.StatusCode)
			}
			if b.sessionCookie() != "" {
				t.Fatal("credentials in the URL logged in")
			}
		}
		// The same form with the credentials in its body works.
		s.newBrowser().login("alice", pw)
	})
}

// TestCSRFOtherOriginsOfTheSite: a sibling subdomain can plant the CSRF
// cookie (cookie tossing), so a state-changing post the browser marks
// same-site is refused even with a matching token, unless its Origin is in
// --allowed-origins.
func TestCSRFOtherOriginsOfTheSite(t *testing.T) {
	s := startServer(t, "", "--allowed-origins", "http://app.chat.test")
	s.addUser("alice", pw)
	post := func(site, origin string, planted bool) *http.Response {
		t.Helper()
		form := url.Values{"username": {"alice"}, "password": {pw}}
		if planted {
			form.Set("_csrf", "planted-by-a-sibling")
		}
		req, _ := http.NewRequest("POST", s.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", site)
		req.Header.Set("Origin", origin)
		if planted {
			req.AddCookie(&http.Cookie{Name: "_csrf", Value: "planted-by-a-sibling"})
		}
		resp, err := noRedirect(nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	cases := []struct {
		name, site, origin string
		planted            bool
		want               int
	}{
		{"same-site with a planted token", "same-site", "http://evil.chat.test", true, http.StatusForbidden},
		{"same-site without a token", "same-site", "http://evil.chat.test", false, http.StatusForbidden},
		{"cross-site with a planted token", "cross-site", "https://evil.example", true, http.StatusForbidden},
		{"same-site from an allowed origin", "same-site", "http://app.chat.test", false, http.StatusSeeOther},
		{"same-origin", "same-origin", s.URL, false, http.StatusSeeOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.site, tc.origin, tc.planted).StatusCode; got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}
}

// TestCSRFTokenRenewedAtLogin: the token a browser had before logging in or
// signing up (planted, or read on a shared machine) is worth nothing after.
func TestCSRFTokenRenewedAtLogin(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	for _, tc := range []struct{ page, user string }{{"/login", "alice"}, {"/signup", "newcomer"}} {
		t.Run(tc.page, func(t *testing.T) {
			b := s.newBrowser()
			before := b.csrf(tc.page)
			resp, err := b.client.PostForm(s.URL+tc.page, url.Values{"_csrf": {before}, "username": {tc.user}, "password": {pw}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("POST %s: %d", tc.page, resp.StatusCode)
			}
			after := b.csrf("/")
			if after == before {
				t.Fatalf("CSRF token %q unchanged by %s", before, tc.page)
			}
			// The old token no longer passes: logging out with it is refused.
			resp, err = b.client.PostForm(s.URL+"/logout", url.Values{"_csrf": {before}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("logout with the token from before %s: %d, want 403", tc.page, resp.StatusCode)
			}
		})
	}
}

// TestCSRFCookieUnderTLS: under TLS the CSRF cookie is __Host- prefixed
// (Secure, Path=/, no Domain), which a sibling subdomain cannot set.
func TestCSRFCookieUnderTLS(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t, t.TempDir())
	s := startServer(t, "", "--tls-cert", certFile, "--tls-key", keyFile)
	s.addUser("alice", pw)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(s.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var csrf *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.Contains(strings.ToLower(c.Name), "csrf") {
			csrf = c
		}
	}
	if csrf == nil || csrf.Name != "__Host-csrf" || !csrf.Secure || csrf.Path != "/" || csrf.Domain != "" || !csrf.HttpOnly {
		t.Fatalf("CSRF cookie under TLS: %+v, want __Host-csrf, Secure, HttpOnly, Path=/, no Domain", csrf)
	}
	// And the forms work with it.
	b := &browser{s: s, client: client}
	b.login("alice", pw)
}

// TestAuthFailureLogIsBounded: a client that sends bad tokens in a loop gets
// a bounded number of log lines; the counter keeps every failure, and a
// summary line says how many lines were left out.
func TestAuthFailureLogIsBounded(t *testing.T) {
	const attempts, burst = 300, 3
	metricsAddr := freeAddr(t)
	s := startServer(t, "", "--auth-log-rate", "1/1h:"+strconv.Itoa(burst), "--metrics-addr", metricsAddr)
	client := &http.Client{Timeout: 30 * time.Second}
	for i := range attempts {
		req, _ := http.NewRequest("GET", s.URL+"/ws", nil)
		req.Header.Set("Authorization", "Bearer not-a-token-"+strconv.Itoa(i))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad token %d: %d, want 401", i, resp.StatusCode)
		}
	}
	if got := scrape(t, metricsAddr, `securechat_auth_failures_total{where="/ws"}`); got != attempts {
		t.Errorf("securechat_auth_failures_total = %v, want %d", got, attempts)
	}
	if got := scrape(t, metricsAddr, "securechat_auth_log_suppressed_total"); got != attempts-burst {
		t.Errorf("securechat_auth_log_suppressed_total = %v, want %d", got, attempts-burst)
	}
	s.Stop() // the last summary is logged as the server stops
	if got := len(s.log.matching(`msg="auth failure"`)); got != burst {
		t.Errorf("%d auth failure lines for %d bad tokens, want %d", got, attempts, burst)
	}
	suppressed := 0
	for _, line := range s.log.matching("auth failure lines suppressed") {
		m := regexp.MustCompile(`suppressed=(\d+)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("summary without a count: %s", line)
		}
		n, _ := strconv.Atoi(m[1])
		suppressed += n
	}
	if suppressed != attempts-burst {
		t.Errorf("summary lines count %d suppressed, want %d", suppressed, attempts-burst)
	}
}

// TestDataFileModesTightenedAtStart: a data folder and files left readable by
// others (an older version, a copy, an umask) are set back to 0700 and 0600
// when the server starts, with a log line for each.
func TestDataFileModesTightenedAtStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := startServer(t, dir)
	first.addUser("alice", pw) // the database and the key file exist now
	first.Stop()
	loose := map[string]os.FileMode{dir: 0o755, filepath.Join(dir, "securechat.db"): 0o644, filepath.Join(dir, "token-keys"): 0o644}
	for path, mode := range loose {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	s := startServer(t, dir)
	for path, was := range loose {
		want := os.FileMode(0o600)
		if path == dir {
			want = 0o700
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", path, info.Mode().Perm(), want)
		}
		if len(s.log.matching("mode tightened", "path="+path+" ", fmt.Sprintf("was=%04o", was))) != 1 {
			t.Errorf("no log line for %s", path)
		}
	}
	// And the server works with them: alice's account and token keys are read.
	s.token("alice", pw)
}

// TestConnLimitUnderTLS: the per-address limit sits under TLS, so a refused
// connection costs no handshake.
func TestConnLimitUnderTLS(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t, t.TempDir())
	metricsAddr := freeAddr(t)
	s := startServer(t, "", "--tls-cert", certFile, "--tls-key", keyFile, "--max-conns-per-addr", "2", "--metrics-addr", metricsAddr)
	host := strings.TrimPrefix(s.URL, "https://")
	cfg := &tls.Config{RootCAs: pool}
	for range 2 {
		c, err := tls.Dial("tcp", host, cfg)
		if err != nil {
			t.Fatalf("a connection within the limit: %v", err)
		}
		defer c.Close()
	}
	d := &net.Dialer{Timeout: 30 * time.Second}
	if c, err := tls.DialWithDialer(d, "tcp", host, cfg); err == nil {
		c.Close()
		t.Fatal("a third TLS connection from one address was served with --max-conns-per-addr 2")
	}
	other := clientFrom("127.0.0.2", newJar())
	other.Transport.(*http.Transport).TLSClientConfig = cfg
	resp, err := other.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatalf("/healthz from another address: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz from another address: %d", resp.StatusCode)
	}
	if got := scrape(t, metricsAddr, "securechat_connections_refused_total"); got != 1 {
		t.Errorf("securechat_connections_refused_total = %v, want 1", got)
	}
}

// newJar is an empty cookie jar.
func newJar() http.CookieJar {
	jar, _ := cookiejar.New(nil)
	return jar
}
