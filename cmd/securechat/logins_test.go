package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"securechat/app/accounts"
	"securechat/app/store/sqlite"
)

// clientFrom is an HTTP client whose connections come from ip: Linux routes
// all of 127/8 to the loopback, and the server takes the TCP peer as the
// client's address. It keeps cookies in jar, and reports redirects.
func clientFrom(ip string, jar http.CookieJar) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// browserFrom is a cookie-keeping browser whose requests come from ip.
func (s *testServer) browserFrom(ip string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{s: s, client: clientFrom(ip, jar)}
}

// postToken asks /token with client and returns the status and Retry-After.
func (s *testServer) postToken(c *http.Client, user, password string) (int, string) {
	s.t.Helper()
	resp, err := c.PostForm(s.URL+"/token", url.Values{"username": {user}, "password": {password}})
	if err != nil {
		s.t.Errorf("POST /token: %v", err)
		return 0, ""
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// addUsersFast creates accounts straight in the server's SQLite database,
// all with the hash of one password: hashing each would take most of the test.
func (s *testServer) addUsersFast(password string, names ...string) {
	s.t.Helper()
	ctx := context.Background()
	hash, err := accounts.NewHasher(1, -1, 0).Hash(ctx, password)
	if err != nil {
		s.t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, s.Data)
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	for _, n := range names {
		if _, err := db.CreateUser(ctx, n, hash, time.Now()); err != nil {
			s.t.Fatalf("create %s: %v", n, err)
		}
	}
}

// metricValue reads one sample (name with its labels, as exposed) from the
// server's /metrics, 0 when it has not been recorded yet.
func metricValue(t *testing.T, addr, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestOfficeLogsInFromOneAddress: 200 colleagues behind one address log in
// within a minute, with the default limits; successes use up no limit.
func TestOfficeLogsInFromOneAddress(t *testing.T) {
	s := startServer(t, "")
	names := make([]string, 200)
	for i := range names {
		names[i] = fmt.Sprintf("colleague%03d", i)
	}
	s.addUsersFast(pw, names...)
	c := clientFrom("127.0.0.1", nil)
	var refused atomic.Int32
	var wg sync.WaitGroup
	work := make(chan string)
	for range 4 {
		wg.Go(func() {
			for n := range work {
				if status, _ := s.postToken(c, n, pw); status != http.StatusOK {
					refused.Add(1)
					t.Errorf("login of %s: %d, want 200", n, status)
				}
			}
		})
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	if n := refused.Load(); n > 0 {
		t.Fatalf("%d of 200 logins from one address failed", n)
	}
}

// TestGuessersCannotLockOutTheOwner: 1,100 wrong guesses for alice come from
// 100 other addresses (11 each). Each address is refused with 429 and
// Retry-After after at most 10 wrong passwords, and meanwhile alice logs in at
// the first try from the browser she used before, whose device cookie lets
// her past the per-username ceiling the guessers have spent. A browser
// without it is held by the ceiling; her device cookie is no use for another
// user; and a device cookie that guesses is locked out itself.
func TestGuessersCannotLockOutTheOwner(t *testing.T) {
	metrics := freeAddr(t)
	s := startServer(t, "", "--metrics-addr", metrics)
	s.addUser("alice", pw)
	s.addUsersFast(pw, "bob")
	home := s.browserFrom("127.0.0.1")
	home.login("alice", pw)
	home.post("/logout", "/", nil)

	var answered atomic.Int32
	var wg sync.WaitGroup
	guessers := make(chan int)
	for range 10 {
		wg.Go(func() {
			for i := range guessers {
				ip := fmt.Sprintf("127.0.%d.%d", 1+i/50, 2+i%50)
				c := clientFrom(ip, nil)
				wrongBefore, refused := 0, false
				for n := 1; n <= 11; n++ {
					status, retry := s.postToken(c, "alice", fmt.Sprintf("guess-%d-%d", i, n))
					answered.Add(1)
					switch status {
					case http.StatusBadRequest:
						if !refused {
							wrongBefore++
						}
					case http.StatusTooManyRequests:
						if sec, err := strconv.Atoi(retry); err != nil || sec < 1 {
							t.Errorf("%s: 429 with Retry-After %q", ip, retry)
						}
						refused = true
					default:
						t.Errorf("%s: guess %d answered %d", ip, n, status)
					}
				}
				if !refused || wrongBefore > 10 {
					t.Errorf("%s: %d wrong-password answers before any 429 (refused: %v); want a 429 within 10 wrong guesses", ip, wrongBefore, refused)
				}
			}
		})
	}
	go func() {
		for i := range 100 {
			guessers <- i
		}
		close(guessers)
	}()
	// Alice comes home while the guesses arrive.
	for deadline := time.Now().Add(30 * time.Second); answered.Load() < 300; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d guesses answered in 30s", answered.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp := home.post("/login", "/login", url.Values{"username": {"alice"}, "password": {pw}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("alice's login from her browser during the attack: %d, want 303", resp.StatusCode)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if n := answered.Load(); n != 1100 {
		t.Fatalf("%d guesses answered, want 1100", n)
	}
	// Most guesses were refused before hashing, by the per-username ceiling.
	if n := metricValue(t, metrics, `securechat_login_refusals_total{limit="user"}`); n < 900 {
		t.Errorf("%v guesses refused by the per-username ceiling, want most of 1,100", n)
	}

	// A browser that never logged in as alice is held by the ceiling, even
	// with the right password: the guessers cannot tell it from their own.
	if status, retry := s.postToken(clientFrom("127.0.0.1", nil), "alice", pw); status != http.StatusTooManyRequests || retry == "" {
		t.Fatalf("alice from a new browser during the attack: %d (Retry-After %q), want 429", status, retry)
	}
	// Her device cookie does not help another user whose ceiling is spent.
	for i := range 10 {
		s.postToken(clientFrom(fmt.Sprintf("127.0.3.%d", 2+i), nil), "bob", "wrong password")
	}
	if status, _ := s.postToken(home.client, "bob", pw); status != http.StatusTooManyRequests {
		t.Fatalf("bob with alice's device cookie: %d, want 429", status)
	}
	// A device cookie that produces failures is locked out itself (after
	// --login-limit-user-addr of them), from any address.
	jar := home.client.Jar
	stolen := 0
	for i := range 8 {
		status, _ := s.postToken(clientFrom(fmt.Sprintf("127.0.4.%d", 2+i), jar), "alice", "a guess")
		if status == http.StatusTooManyRequests {
			break
		}
		stolen++
	}
	if stolen != 5 {
		t.Fatalf("a device cookie got %d wrong-password answers before 429, want 5", stolen)
	}
	if n := metricValue(t, metrics, `securechat_login_refusals_total{limit="device"}`); n < 1 {
		t.Errorf("device refusals %v, want counted", n)
	}
}

// TestSignupLimitsAndHashQueue: 128 parallel sign-ups from one address and
// from several are limited per address (429 past it), and meanwhile another
// user's /token succeeds: logins do not wait behind sign-ups for a hash. From
// 128 addresses none is limited, so the sign-ups fill the hashing queue (503
// past it), and still the login goes first.
func TestSignupLimitsAndHashQueue(t *testing.T) {
	metrics := freeAddr(t)
	s := startServer(t, "", "--metrics-addr", metrics, "--signup-limit-addr", "5/1h")
	s.addUsersFast(pw, "bob")
	for _, spread := range []struct {
		name  string
		addrs int
	}{{"one address", 1}, {"eight addresses", 8}, {"128 addresses", 128}} {
		t.Run(spread.name, func(t *testing.T) {
			type attempt struct {
				b    *browser
				csrf string
				name string
			}
			var attempts []attempt
			for i := range spread.addrs {
				ip := fmt.Sprintf("127.0.%d.%d", 10+spread.addrs, 2+i)
				for j := range 128 / spread.addrs {
					b := s.browserFrom(ip)
					attempts = append(attempts, attempt{b, b.csrf("/signup"), fmt.Sprintf("new%d_%d_%d", spread.addrs, i, j)})
				}
			}
			var mu sync.Mutex
			statuses := map[int]int{}
			var wg sync.WaitGroup
			for _, a := range attempts {
				wg.Go(func() {
					resp, err := a.b.client.PostForm(s.URL+"/signup", url.Values{"_csrf": {a.csrf}, "username": {a.name}, "password": {pw}})
					if err != nil {
						t.Errorf("sign-up: %v", err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
						t.Errorf("429 without Retry-After")
					}
					mu.Lock()
					statuses[resp.StatusCode]++
					mu.Unlock()
				})
			}
			// The refused come back at once; the admitted are then hashing or
			// queued. When more are admitted than the queue (64) holds, the
			// first 503 says it is full.
			admitted := min(5, 128/spread.addrs) * spread.addrs
			wantRefused := 128 - admitted
			full := func() bool {
				return admitted <= 64+1 || metricValue(t, metrics, `securechat_hash_refusals_total{kind="signup"}`) >= 1
			}
			for deadline := time.Now().Add(30 * time.Second); ; {
				mu.Lock()
				n := statuses[http.StatusTooManyRequests]
				mu.Unlock()
				if n >= wantRefused && full() {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d sign-ups refused in 30s, want %d (queue full: %v)", n, wantRefused, full())
				}
				time.Sleep(10 * time.Millisecond)
			}
			start := time.Now()
			status, _ := s.postToken(clientFrom("127.0.0.1", nil), "bob", pw)
			took := time.Since(start)
			mu.Lock()
			createdBefore := statuses[http.StatusSeeOther]
			mu.Unlock()
			if status != http.StatusOK {
				t.Fatalf("bob's /token during the sign-ups: %d", status)
			}
			// The login took the next free slot: most of the queued sign-ups
			// were still waiting when it was answered.
			if admitted > 64 && createdBefore > admitted/2 {
				t.Errorf("%d of %d admitted sign-ups were created before bob's login was answered; logins must go first", createdBefore, admitted)
			}
			// A generous sanity bound only: behind 5-65 sign-up hashes it would be seconds.
			if took > 5*time.Second {
				t.Errorf("bob's /token took %v during the sign-ups", took)
			}
			wg.Wait()
			if statuses[http.StatusTooManyRequests] != wantRefused || statuses[http.StatusSeeOther]+statuses[http.StatusServiceUnavailable] != admitted {
				t.Fatalf("statuses %v: want %d refused with 429 and the %d admitted created (303) or, past the hashing queue, 503", statuses, wantRefused, admitted)
			}
		})
	}
	if n := metricValue(t, metrics, "securechat_signup_refusals_total"); n != 2*128-5-40 {
		t.Errorf("signup refusals counted %v, want %d", n, 2*128-5-40)
	}
	// A taken name is answered without a hash, and counts against the limit.
	b := s.browserFrom("127.0.1.99")
	if resp := b.post("/signup", "/signup", url.Values{"username": {"bob"}, "password": {pw}}); resp.StatusCode != http.StatusConflict {
		t.Fatalf("sign-up as bob: %d, want 409", resp.StatusCode)
	}
}

// TestHashQueueBound: with one hashing slot, one waiter allowed and a short
// wait, a burst of sign-ups gets 503 with Retry-After past the bound instead
// of queueing without end; and the server keeps serving.
func TestHashQueueBound(t *testing.T) {
	metrics := freeAddr(t)
	s := startServer(t, "", "--metrics-addr", metrics, "--hash-concurrency", "1", "--hash-queue", "1",
		"--hash-wait", "1s", "--signup-limit-addr", "1000/1h")
	var bs []*browser
	var csrfs []string
	for range 16 {
		b := s.browserFrom("127.0.0.1")
		bs = append(bs, b)
		csrfs = append(csrfs, b.csrf("/signup"))
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Go(func() {
			resp, err := b.client.PostForm(s.URL+"/signup", url.Values{"_csrf": {csrfs[i]}, "username": {fmt.Sprintf("burst%d", i)}, "password": {pw}})
			if err != nil {
				t.Errorf("sign-up: %v", err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				if sec, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || sec < 1 {
					t.Errorf("503 with Retry-After %q", resp.Header.Get("Retry-After"))
				}
			}
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[http.StatusSeeOther] < 1 || statuses[http.StatusServiceUnavailable] < 4 || statuses[http.StatusSeeOther]+statuses[http.StatusServiceUnavailable] != 16 {
		t.Fatalf("statuses %v: want some created, most refused with 503, nothing else", statuses)
	}
	if n := metricValue(t, metrics, `securechat_hash_refusals_total{kind="signup"}`); int(n) != statuses[http.StatusServiceUnavailable] {
		t.Errorf("hash refusals counted %v, want %d", n, statuses[http.StatusServiceUnavailable])
	}
	// Still serving: once the burst is over a sign-up goes through.
	if resp := s.newBrowser().post("/signup", "/signup", url.Values{"username": {"after"}, "password": {pw}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-up after the burst: %d", resp.StatusCode)
	}
}

// refreshToken calls /token/refresh and returns the status and body.
func (s *testServer) refreshToken(token string) (int, map[string]any, http.Header) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/token/refresh", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, resp.Header
}

// TestSessionMaxAge: with tokens of 2 h and sessions of at most 3 h, a client
// that keeps refreshing gets expiries that stop at login+3h, is refused past
// it ("log in again"), and its open socket closes with 4401 then; so does the
// page's cookie refresh. The server runs on a clock the test moves, in hours
// so that no real timer could stand in for it.
func TestSessionMaxAge(t *testing.T) {
	clk := newFakeClock()
	s := startServerClock(t, clk, "--token-ttl", "2h", "--session-max-age", "3h", "--refresh-limit", "100/1h")
	s.addUser("alice", pw)
	login := clk.Now()
	tok := s.token("alice", pw)
	ws := s.dialBearer(tok)
	ws.until("joined", nil)
	b := s.newBrowser()
	b.login("alice", pw)

	closed := make(chan int, 1)
	go func() {
		// Not ws.closeCode: a test may not fail from another goroutine.
		ws.conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		for {
			if _, _, err := ws.conn.ReadMessage(); err != nil {
				code := -1
				if ce, ok := err.(*websocket.CloseError); ok {
					code = ce.Code
				}
				closed <- code
				return
			}
		}
	}()
	var last int
	for clk.Now().Sub(login) < 5*time.Hour {
		status, body, h := s.refreshToken(tok)
		since := clk.Now().Sub(login)
		switch {
		case status == http.StatusOK:
			if since >= 3*time.Hour {
				t.Fatalf("refresh %v after login succeeded; the session's maximum age is 3h", since)
			}
			exp, _ := body["expires_in"].(float64)
			// expires_in counts from the server's now, in whole seconds of
			// an expiry kept to the second: never past login+3h.
			if time.Duration(exp)*time.Second > 3*time.Hour-since+time.Second {
				t.Fatalf("refresh %v after login: expires_in %v, past the maximum age", since, exp)
			}
			tok = body["access_token"].(string)
		case status == http.StatusUnauthorized:
			if since < 2*time.Hour {
				t.Fatalf("refresh refused %v after login, before the maximum age", since)
			}
			if body["error"] != "invalid_token" || h.Get("WWW-Authenticate") == "" {
				t.Fatalf("refused refresh: %v %v", body, h)
			}
		default:
			t.Fatalf("refresh: %d %v", status, body)
		}
		last = status
		clk.Advance(15 * time.Minute)
	}
	if last != http.StatusUnauthorized {
		t.Fatalf("refresh 5h after login: %d, want 401", last)
	}
	select {
	case code := <-closed:
		if code != 4401 {
			t.Fatalf("socket closed with %d, want 4401", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("socket still open past the session's maximum age")
	}
	if resp := b.post("/session/refresh", "/login", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("cookie refresh past the maximum age: %d, want 401", resp.StatusCode)
	}
}

// TestRefreshLimitPerSession: /token/refresh past --refresh-limit answers 429
// with Retry-After for that session only.
func TestRefreshLimitPerSession(t *testing.T) {
	metrics := freeAddr(t)
	s := startServer(t, "", "--metrics-addr", metrics, "--refresh-limit", "3/1h")
	s.addUser("alice", pw)
	tok, other := s.token("alice", pw), s.token("alice", pw)
	for i := range 3 {
		status, body, _ := s.refreshToken(tok)
		if status != http.StatusOK {
			t.Fatalf("refresh %d: %d %v", i, status, body)
		}
		tok = body["access_token"].(string)
	}
	status, body, h := s.refreshToken(tok)
	if sec, err := strconv.Atoi(h.Get("Retry-After")); status != http.StatusTooManyRequests || body["error"] != "slow_down" || err != nil || sec < 1 {
		t.Fatalf("4th refresh: %d %v Retry-After %q, want 429 slow_down", status, body, h.Get("Retry-After"))
	}
	if status, _, _ := s.refreshToken(other); status != http.StatusOK {
		t.Fatalf("another session's refresh: %d", status)
	}
	if n := metricValue(t, metrics, "securechat_refresh_refusals_total"); n != 1 {
		t.Errorf("refresh refusals counted %v, want 1", n)
	}
}

// TestDeviceCookieAttributes: the device cookie is set at a successful login
// only, HttpOnly, long-lived, and under TLS Secure with the __Host- prefix.
func TestDeviceCookieAttributes(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t, t.TempDir())
	for _, tc := range []struct {
		name  string
		flags []string
		tls   bool
	}{{"http", nil, false}, {"tls", []string{"--tls-cert", certFile, "--tls-key", keyFile}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, "", tc.flags...)
			s.addUsersFast(pw, "alice")
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			device := func(password string) *http.Cookie {
				resp, err := client.PostForm(s.URL+"/token", url.Values{"username": {"alice"}, "password": {password}})
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				for _, c := range resp.Cookies() {
					if strings.HasSuffix(c.Name, "securechat-device") {
						return c
					}
				}
				return nil
			}
			if c := device("wrong password"); c != nil {
				t.Fatalf("a failed login set a device cookie: %+v", c)
			}
			c := device(pw)
			wantName := "securechat-device"
			if tc.tls {
				wantName = "__Host-securechat-device"
			}
			if c == nil || c.Name != wantName || !c.HttpOnly || c.Secure != tc.tls || c.Path != "/" || c.Domain != "" || c.MaxAge < 300*24*3600 {
				t.Fatalf("device cookie %+v", c)
			}
		})
	}
}

// TestSimultaneousGuessesAreCounted: 50 wrong guesses for alice sent at once
// from one address cannot all pass the check before the first has failed:
// no more get a wrong-password answer (each one a hash) than the limit per
// username and address allows (5), the rest 429.
func TestSimultaneousGuessesAreCounted(t *testing.T) {
	s := startServer(t, "")
	s.addUsersFast(pw, "alice")
	c := clientFrom("127.0.5.2", nil)
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range 50 {
		wg.Go(func() {
			<-ready
			status, _ := s.postToken(c, "alice", fmt.Sprintf("guess %d", i))
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	close(ready)
	wg.Wait()
	if statuses[http.StatusBadRequest] > 5 || statuses[http.StatusBadRequest]+statuses[http.StatusTooManyRequests] != 50 {
		t.Fatalf("statuses %v: want at most 5 wrong-password answers, the rest 429", statuses)
	}
}
