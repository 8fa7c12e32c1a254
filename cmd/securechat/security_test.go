package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestMessageRateLimitAndAbuseClose(t *testing.T) {
	s := startServer(t, "", "--message-rate", "10/s:20")
	s.addUser("flood", pw)
	s.addUser("bob", pw)
	flood := s.dialBearer(s.token("flood", pw))
	bob := s.dialBearer(s.token("bob", pw))
	flood.until("joined", nil)
	bob.until("joined", nil)

	// Bob chats through the flood and feels nothing of it.
	bobDone := make(chan error, 1)
	go func() {
		for i := range 5 {
			if err := bob.conn.WriteJSON(map[string]any{"type": "send", "room": "general", "text": fmt.Sprintf("bob %d", i)}); err != nil {
				bobDone <- err
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		bobDone <- nil
	}()
	for i := range 60 {
		if err := flood.conn.WriteJSON(map[string]any{"type": "send", "room": "general", "text": fmt.Sprintf("flood %d", i)}); err != nil {
			break // closed for abuse
		}
	}
	limited := 0
	code := 0
	for code == 0 {
		flood.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := flood.conn.ReadMessage()
		if ce, ok := err.(*websocket.CloseError); ok {
			code = ce.Code
			break
		}
		if err != nil {
			t.Fatalf("flood socket: %v", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			var f map[string]any
			json.Unmarshal([]byte(line), &f)
			if f["type"] == "error" && f["code"] == "rate_limited" {
				limited++
			}
		}
	}
	if limited < 10 || code != 1008 {
		t.Fatalf("rate limited %d, close %d: want warnings, then 1008", limited, code)
	}
	if err := <-bobDone; err != nil {
		t.Fatal(err)
	}
	// Bob's five messages all arrive; of the flood, only about the burst does.
	fromFlood, fromBob := 0, 0
	for fromBob < 5 {
		m := bob.until("message", nil)
		if m["user"] == "flood" {
			fromFlood++
		} else if m["text"] != fmt.Sprintf("bob %d", fromBob) {
			t.Fatalf("bob got %v", m)
		} else {
			fromBob++
		}
	}
	bob.send(map[string]any{"type": "send", "room": "general", "text": "end"})
	for bob.until("message", nil)["text"] != "end" {
		fromFlood++
	}
	if fromFlood < 20 || fromFlood > 25 {
		t.Fatalf("%d flood messages got through, want the burst of 20 (plus what refilled)", fromFlood)
	}
}

func TestSocketsPerUserLimit(t *testing.T) {
	s := startServer(t, "", "--max-sockets-per-user", "3")
	s.addUser("alice", pw)
	tok := s.token("alice", pw)
	var open []*wsClient
	for range 3 {
		c := s.dialBearer(tok)
		c.until("joined", nil)
		open = append(open, c)
	}
	for _, path := range []string{"/ws", "/secured-ws"} {
		_, resp, err := s.dial(path, http.Header{"Authorization": {"Bearer " + tok}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("4th socket on %s: %v %v, want 429", path, err, statusOf(resp))
		}
	}
	open[0].conn.Close()
	// The slot is given back once the server has seen the socket end.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, resp, err := s.dial("/ws", http.Header{"Authorization": {"Bearer " + tok}})
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("after closing one: %v %v", err, statusOf(resp))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLoginAttemptLimits(t *testing.T) {
	s := startServer(t, "", "--login-limit", "3/1m", "--login-limit-addr", "8/1m")
	s.addUser("alice", pw)
	post := func(user, password string) *http.Response {
		t.Helper()
		resp, err := http.PostForm(s.URL+"/token", url.Values{"username": {user}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 3 {
		if r := post("alice", "wrong"); r.StatusCode != 400 {
			t.Fatalf("attempt %d: %d", i, r.StatusCode)
		}
	}
	// Past the limit even the right password waits: a guesser learns nothing.
	r := post("ALICE", pw)
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th attempt for alice: %d, want 429", r.StatusCode)
	}
	if sec, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || sec < 1 || sec > 60 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// The login form shares the same limit.
	b := s.newBrowser()
	if resp := b.post("/login", "/login", url.Values{"username": {"alice"}, "password": {pw}}); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("login form past the limit: %d", resp.StatusCode)
	}
	// Per address: many usernames from one address are stopped too. Failures
	// count, not refused attempts: three came from this address so far; the
	// limit is 8.
	statuses := []int{}
	for i := range 6 {
		statuses = append(statuses, post(fmt.Sprintf("user%d", i), "x").StatusCode)
	}
	if statuses[4] != 400 || statuses[5] != http.StatusTooManyRequests {
		t.Fatalf("attempts for other users from one address: %v, want the one after the 8th failure refused with 429", statuses)
	}
}

// TestSlowReaderNeverSlowsItsRoom has a member that never reads while its
// room gets 2,000 messages of 4,000 characters (far more than socket buffers
// hold): the other member gets every message promptly, and the stuck one is
// closed rather than allowed to grow a backlog.
func TestSlowReaderNeverSlowsItsRoom(t *testing.T) {
	s := startServer(t, "", append([]string{"--send-queue", "256"}, unlimited...)...)
	for _, u := range []string{"sender", "fast", "stuck"} {
		s.addUser(u, pw)
	}
	// The stuck client's receive buffer is small, so its backlog lands on the server.
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			conn.(*net.TCPConn).SetReadBuffer(4096)
		}
		return conn, err
	}}
	stuckConn, _, err := d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/ws", http.Header{"Authorization": {"Bearer " + s.token("stuck", pw)}})
	if err != nil {
		t.Fatal(err)
	}
	defer stuckConn.Close()
	fast := s.dialBearer(s.token("fast", pw))
	sender := s.dialBearer(s.token("sender", pw))
	fast.until("joined", nil)
	sender.until("joined", nil)

	const n = 2000
	text := strings.Repeat("x", 3990)
	go func() {
		// The sender is a member too: it reads its acknowledgements.
		for {
			if _, _, err := sender.conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	go func() {
		// About 1,000 a second: what a reading member keeps up with, and
		// about 4 MB a second piling up for the one that does not read.
		for i := range n {
			if sender.conn.WriteJSON(map[string]any{"type": "send", "room": "general", "text": fmt.Sprintf("%05d%s", i, text)}) != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	start := time.Now()
	var worst time.Duration
	for i := range n {
		m := fast.until("message", nil)
		if want := fmt.Sprintf("%05d", i); !strings.HasPrefix(m["text"].(string), want) {
			t.Fatalf("message %d: got %.5s", i, m["text"])
		}
		ts, _ := time.Parse(time.RFC3339Nano, m["ts"].(string))
		worst = max(worst, time.Since(ts))
	}
	t.Logf("worst latency for the reading member: %v; all %d read after %v", worst, n, time.Since(start))
	// A member held up by the stuck one would wait for its write timeout (10 s).
	if worst > 3*time.Second {
		t.Fatalf("the reading member waited %v for a message", worst)
	}
	// The stuck socket was closed: reading what it has ends in a close, not more data forever.
	stuckConn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := 0
	for {
		_, data, err := stuckConn.ReadMessage()
		if err != nil {
			// 1013 if the close frame got out, or the connection simply ended
			// if the server could not write even that; never a read timeout.
			ce, ok := err.(*websocket.CloseError)
			if ok && ce.Code != 1013 && ce.Code != websocket.CloseAbnormalClosure || !ok && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("stuck socket ended with %v, want 1013 or the connection closed", err)
			}
			t.Logf("stuck socket ended with %v after %v", err, time.Since(start))
			break
		}
		got += strings.Count(string(data), `"type":"message"`)
	}
	if got >= n {
		t.Fatalf("the stuck socket got all %d messages: it was never behind", got)
	}
	t.Logf("stuck socket received %d of %d before it was closed", got, n)
}

// The server runs on a clock the test moves, in hours so that no real timer
// could stand in for it: a session's life passes without waiting for it, and
// each expiry falls exactly where expected.
func TestSessionRefreshKeepsActiveSocketsOpen(t *testing.T) {
	clk := newFakeClock()
	s := startServerClock(t, clk, "--token-ttl", "4h")
	loggedIn := clk.Now()
	s.addUser("alice", pw)
	s.addUser("bob", pw)

	// The page: its socket lives on while the page renews the cookie.
	b := s.newBrowser()
	b.login("alice", pw)
	conn, _, err := s.dial("/ws", http.Header{"Cookie": {"securechat=" + b.sessionCookie()}, "Origin": {s.URL}})
	if err != nil {
		t.Fatal(err)
	}
	page := &wsClient{t: t, conn: conn}
	page.until("joined", nil)

	// The script: a newer token of its session, presented in band.
	tok := s.token("bob", pw)
	script := s.dialBearer(tok)
	script.until("joined", nil)

	clk.Advance(2 * time.Hour)
	resp := b.post("/session/refresh", "/", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("session refresh: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", s.URL+"/token/refresh", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(r2.Body).Decode(&body)
	r2.Body.Close()
	if r2.StatusCode != 200 || body.AccessToken == "" || body.AccessToken == tok {
		t.Fatalf("token refresh: %d", r2.StatusCode)
	}
	script.send(map[string]any{"type": "refresh", "token": body.AccessToken})
	if f := script.until("refreshed", nil); f["expires"] == "" {
		t.Fatalf("refreshed %v", f)
	}
	// Someone else's token does not extend this socket.
	script.send(map[string]any{"type": "refresh", "token": s.token("alice", pw)})
	if f := script.until("error", nil); f["code"] != "bad_token" {
		t.Fatalf("foreign refresh: %v", f)
	}

	// Both outlive the first expiry (4 h after login): they still answer
	// after it, and just before the refreshed one (6 h after login)...
	for _, at := range []time.Duration{4*time.Hour + 30*time.Minute, 6*time.Hour - time.Millisecond} {
		clk.AdvanceTo(loggedIn.Add(at))
		for _, c := range []*wsClient{page, script} {
			c.send(map[string]any{"type": "rooms"})
			c.until("rooms", nil)
		}
	}
	// ...and, left idle, end at the refreshed expiry.
	clk.AdvanceTo(loggedIn.Add(6 * time.Hour))
	for _, c := range []*wsClient{page, script} {
		if code, _ := c.closeCode(5 * time.Second); code != 4401 {
			t.Fatalf("idle socket closed with %d, want 4401", code)
		}
	}
	// A refresh needs a live session.
	req, _ = http.NewRequest("POST", s.URL+"/token/refresh", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r3, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r3.Body.Close()
	if r3.StatusCode != 401 {
		t.Fatalf("refresh of an expired token: %d", r3.StatusCode)
	}
}

func TestTLSSecureCookieAndHSTS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	s := startServer(t, "", "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(s.URL, "https://") {
		t.Fatalf("URL %s", s.URL)
	}
	s.addUser("alice", pw)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Transport: tr, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	b := &browser{s: s, client: client}
	resp, err := client.Get(s.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS under TLS")
	}
	resp = b.post("/login", "/login", url.Values{"username": {"alice"}, "password": {pw}})
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-securechat" {
			session = c
		}
	}
	if resp.StatusCode != 303 || session == nil || !session.Secure || !session.HttpOnly || session.Path != "/" || session.Domain != "" {
		t.Fatalf("login under TLS: %d, cookie %+v", resp.StatusCode, session)
	}
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}}
	wsURL := "wss" + strings.TrimPrefix(s.URL, "https")
	conn, _, err := d.Dial(wsURL+"/ws", http.Header{"Cookie": {session.Name + "=" + session.Value}, "Origin": {s.URL}})
	if err != nil {
		t.Fatalf("wss with the cookie: %v", err)
	}
	conn.Close()
	// The plain-http origin of the same host is another origin.
	_, r, err := d.Dial(wsURL+"/ws", http.Header{"Cookie": {session.Name + "=" + session.Value}, "Origin": {"http" + strings.TrimPrefix(s.URL, "https")}})
	if err == nil || r.StatusCode != 403 {
		t.Fatalf("http origin against https server: %v %v", err, statusOf(r))
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key, and returns
// a pool that trusts it.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "securechat test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
