package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// from returns a client whose connections leave from the loopback address
// src (127.0.0.0/8 is all local on Linux), so the server sees that peer.
func from(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext},
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends one request with the given headers and returns the response
// with its body read.
func do(t *testing.T, client *http.Client, method, rawURL string, form url.Values, h http.Header) *http.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// failedTokens posts wrong passwords to /token, one username each, and
// returns the statuses.
func failedTokens(t *testing.T, client *http.Client, s *testServer, n int, h func(i int) http.Header) []int {
	t.Helper()
	var statuses []int
	for i := range n {
		form := url.Values{"username": {"nobody" + string(rune('a'+i))}, "password": {"wrong"}}
		statuses = append(statuses, do(t, client, "POST", s.URL+"/token", form, h(i)).StatusCode)
	}
	return statuses
}

// TestForgedForwardedHeadersIgnored: X-Forwarded-For and X-Forwarded-Proto
// sent straight to the server (no --trusted-proxies, or from a peer not in
// the list) are not believed: failed logins under ever-changing forged
// addresses all count against the connection's address, the log names it,
// and "https" earns no __Host- cookie and no HSTS.
func TestForgedForwardedHeadersIgnored(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		src   string
	}{
		{"no trusted proxies", nil, "127.0.0.1"},
		{"peer not trusted", []string{"--trusted-proxies", "127.0.0.1/32"}, "127.0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, "", append([]string{"--login-limit-addr", "3/1h", "--login-limit-user-addr", "100/1h"}, tc.flags...)...)
			client := from(tc.src)
			statuses := failedTokens(t, client, s, 5, func(i int) http.Header {
				return http.Header{"X-Forwarded-For": {"198.51.100." + string(rune('1'+i))}, "X-Forwarded-Proto": {"https"}}
			})
			if statuses[2] != http.StatusBadRequest || statuses[3] != http.StatusTooManyRequests || statuses[4] != http.StatusTooManyRequests {
				t.Fatalf("failed logins under forged addresses: %v; want the 4th and 5th refused by the limit per address", statuses)
			}
			if lines := s.log.matching(`msg="auth failure"`, "remote="+tc.src+" "); len(lines) != 5 {
				t.Errorf("%d auth failure lines name the peer %s, want 5:\n%s", len(lines), tc.src, strings.Join(s.log.matching(`msg="auth failure"`), "\n"))
			}
			if forged := s.log.matching("remote=198.51.100."); len(forged) != 0 {
				t.Errorf("a forged address was logged: %q", forged)
			}
			resp := do(t, client, "GET", s.URL+"/login", nil, http.Header{"X-Forwarded-Proto": {"https"}})
			if resp.Header.Get("Strict-Transport-Security") != "" {
				t.Errorf("HSTS on plain http with a forged X-Forwarded-Proto")
			}
			for _, c := range resp.Cookies() {
				if c.Secure || strings.HasPrefix(c.Name, "__Host-") {
					t.Errorf("cookie %s (Secure %v) on plain http with a forged X-Forwarded-Proto", c.Name, c.Secure)
				}
			}
		})
	}
}

// TestTrustedProxyClientAddress: from a trusted proxy the client address is
// the rightmost X-Forwarded-For entry that is not a trusted proxy, whatever
// the client wrote to the left of it: the limit per address, the auth
// failure log and the socket's connect line all use it.
func TestTrustedProxyClientAddress(t *testing.T) {
	s := startServer(t, "", "--trusted-proxies", "127.0.0.1/32,10.0.0.0/8", "--login-limit-addr", "2/1h", "--login-limit-user-addr", "100/1h")
	s.addUser("alice", pw)
	proxy := from("127.0.0.1")
	// A client that writes its own X-Forwarded-For to change its address
	// each time; the proxies (10.0.0.7, then 127.0.0.1) append what they saw.
	forged := func(client string) func(int) http.Header {
		return func(i int) http.Header {
			return http.Header{"X-Forwarded-For": {"203.0.113." + string(rune('1'+i)) + ", " + client + ", 10.0.0.7"}}
		}
	}
	if got := failedTokens(t, proxy, s, 3, forged("198.51.100.1")); got[1] != http.StatusBadRequest || got[2] != http.StatusTooManyRequests {
		t.Fatalf("client 198.51.100.1 behind the proxy: %v; want the 3rd refused by the limit per address", got)
	}
	if got := failedTokens(t, proxy, s, 1, forged("198.51.100.2")); got[0] != http.StatusBadRequest {
		t.Fatalf("another client behind the same proxy: %v; want its own limit", got)
	}
	if n := len(s.log.matching(`msg="auth failure"`, "remote=198.51.100.1 ")); n != 3 {
		t.Errorf("%d auth failure lines name 198.51.100.1, want 3", n)
	}
	if n := len(s.log.matching("remote=203.0.113.")); n != 0 {
		t.Errorf("a client-written address was logged")
	}

	// The socket's connect and disconnect lines name the client too.
	tok := s.token("alice", pw)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}).DialContext}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/ws", http.Header{
		"Authorization":   {"Bearer " + tok},
		"X-Forwarded-For": {"203.0.113.9, 198.51.100.3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	waitLog(t, s, `msg=disconnect`, "remote=198.51.100.3")
	if n := len(s.log.matching(`msg=connect`, "remote=198.51.100.3")); n != 1 {
		t.Errorf("%d connect lines name 198.51.100.3, want 1", n)
	}
}

// waitLog waits for a log line with every part, with a generous deadline.
func waitLog(t *testing.T, s *testServer, parts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(s.log.matching(parts...)) == 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("no log line with %q", parts)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestTrustedProxyHTTPS: a request a trusted proxy says came over https
// (X-Forwarded-Proto) gets HSTS and Secure, __Host- cookies, reads them back
// under the same names (the CSRF check, the session, the socket), and the
// socket's same-origin check wants the public https origin. The same proxy
// saying http gets the plain names.
func TestTrustedProxyHTTPS(t *testing.T) {
	s := startServer(t, "", "--trusted-proxies", "127.0.0.1/32")
	s.addUser("alice", pw)
	proxy := from("127.0.0.1")
	host := strings.TrimPrefix(s.URL, "http://")
	https := http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {"198.51.100.1"}}
	with := func(h http.Header, kv ...string) http.Header {
		h = h.Clone()
		for i := 0; i+1 < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	cookie := func(resp *http.Response, name string) *http.Cookie {
		for _, c := range resp.Cookies() {
			if c.Name == name {
				return c
			}
		}
		return nil
	}

	page, err := proxy.Do(&http.Request{Method: "GET", URL: mustURL(t, s.URL+"/login"), Header: https})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(page.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS behind a trusted proxy that says https")
	}
	csrf := cookie(page, "__Host-csrf")
	if csrf == nil || !csrf.Secure || csrf.Path != "/" {
		t.Fatalf("CSRF cookie behind https: %+v; cookies %v", csrf, page.Cookies())
	}
	field := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindSubmatch(body)
	if field == nil {
		t.Fatal("no CSRF field")
	}
	login := do(t, proxy, "POST", s.URL+"/login", url.Values{"username": {"alice"}, "password": {pw}, "_csrf": {string(field[1])}},
		with(https, "Cookie", csrf.Name+"="+csrf.Value, "Origin", "https://"+host, "Sec-Fetch-Site", "same-origin"))
	session, device := cookie(login, "__Host-securechat"), cookie(login, "__Host-securechat-device")
	if login.StatusCode != http.StatusSeeOther || session == nil || !session.Secure || !session.HttpOnly || device == nil || !device.Secure {
		t.Fatalf("login behind https: %d, session %+v, device %+v", login.StatusCode, session, device)
	}
	if cookie(login, "securechat") != nil {
		t.Errorf("a plain session cookie set behind https")
	}
	// The session cookie is read under the name it was set with.
	if home := do(t, proxy, "GET", s.URL+"/", nil, with(https, "Cookie", session.Name+"="+session.Value)); home.StatusCode != http.StatusOK {
		t.Errorf("home with the __Host- session behind https: %d", home.StatusCode)
	}

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}).DialContext}
	ws := "ws://" + host + "/ws"
	conn, _, err := d.Dial(ws, with(https, "Cookie", session.Name+"="+session.Value, "Origin", "https://"+host))
	if err != nil {
		t.Fatalf("socket with the cookie from the public https origin: %v", err)
	}
	conn.Close()
	if _, r, err := d.Dial(ws, with(https, "Cookie", session.Name+"="+session.Value, "Origin", "http://"+host)); err == nil || statusOf(r) != http.StatusForbidden {
		t.Errorf("socket from the http origin behind https: %v, %v; want 403", err, statusOf(r))
	}

	// The same proxy saying http: plain names, no Secure, no HSTS.
	plain := do(t, proxy, "GET", s.URL+"/login", nil, http.Header{"X-Forwarded-Proto": {"http"}})
	if plain.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("HSTS behind a proxy that says http")
	}
	if c := cookie(plain, "_csrf"); c == nil || c.Secure {
		t.Errorf("CSRF cookie behind http: %+v", c)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
