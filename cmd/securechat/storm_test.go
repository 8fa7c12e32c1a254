package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"securechat/app/admission"
)

// A reconnect storm meets a bound: with every handshake slot taken (held
// here by the test, so nothing depends on timing), a socket handshake waits
// --handshake-wait, then gets 503 with Retry-After before its token is even
// checked, on /ws and /secured-ws alike; the page's /ws/ready says the same
// without waiting; each refusal is counted; a freed slot lets sockets in again.
func TestHandshakeAdmission(t *testing.T) {
	metricsAddr := freeAddr(t)
	gates := make(chan *admission.Gate, 1)
	s := startServerOpts(t, "", nil, options{handshakes: func(g *admission.Gate) { gates <- g }},
		"--handshake-concurrency", "2", "--handshake-wait", "50ms", "--metrics-addr", metricsAddr)
	g := <-gates
	s.addUser("alice", pw)
	bearer := http.Header{"Authorization": {"Bearer " + s.token("alice", pw)}}

	ready := func(h http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/ws/ready", nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := ready(bearer); r.StatusCode != http.StatusNoContent {
		t.Fatalf("/ws/ready with free slots: %d, want 204", r.StatusCode)
	}
	if r := ready(nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/ws/ready without credentials: %d, want 401 (the page then logs in again)", r.StatusCode)
	}
	s.dialBearer(bearer.Get("Authorization")[len("Bearer "):]).until("joined", nil)

	var held []func()
	for range g.Size() {
		rel, err := g.Acquire(context.Background())
		if err != nil {
			t.Fatalf("hold a slot: %v", err)
		}
		held = append(held, rel)
	}
	for _, path := range []string{"/ws", "/secured-ws", "/ws"} {
		_, resp, err := s.dial(path, bearer)
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s with every slot taken: %v %v, want 503", path, err, resp)
		}
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Errorf("%s refused with Retry-After %q, want whole seconds in [1, 60]", path, resp.Header.Get("Retry-After"))
		}
		// Refused before the middleware chain, with the headers every response carries.
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s refused without the security headers: %v", path, resp.Header)
		}
	}
	r := ready(bearer)
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); r.StatusCode != http.StatusServiceUnavailable || err != nil || ra < 1 || ra > 60 {
		t.Fatalf("/ws/ready with every slot taken: %d, Retry-After %q; want 503 and whole seconds in [1, 60]", r.StatusCode, r.Header.Get("Retry-After"))
	}
	// The refusals cost no token check: no auth failure, no rejection logged.
	if lines := s.log.matching("auth failure"); len(lines) > 1 { // the one 401 above
		t.Errorf("refused handshakes were logged as auth failures: %q", lines)
	}
	for path, want := range map[string]float64{"/ws": 2, "/secured-ws": 1, "/ws/ready": 1} {
		name := `securechat_handshake_refusals_total{path="` + path + `",reason="slots"}`
		if got := scrape(t, metricsAddr, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	held[0]()
	conn, resp, err := s.dial("/ws", bearer)
	if err != nil {
		t.Fatalf("a freed slot did not let a socket in: %v (%v)", err, resp)
	}
	conn.Close()
	for _, rel := range held[1:] {
		rel()
	}
	// A handshake that gets its slot within the wait is not refused.
	wait := startServerOpts(t, "", nil, options{handshakes: func(g *admission.Gate) { gates <- g }},
		"--handshake-concurrency", "1", "--handshake-wait", "1h")
	g = <-gates
	wait.addUser("bob", pw)
	bob := http.Header{"Authorization": {"Bearer " + wait.token("bob", pw)}}
	rel, _ := g.Acquire(context.Background())
	done := make(chan *http.Response, 1)
	go func() {
		conn, resp, err := wait.dial("/ws", bob)
		if err == nil {
			conn.Close()
		}
		done <- resp
	}()
	select {
	case resp := <-done:
		t.Fatalf("a handshake with the only slot taken and an hour's wait ended: %v", resp)
	case <-time.After(200 * time.Millisecond): // not a timing assertion: it must not end at all
	}
	rel()
	if resp := <-done; resp == nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("the waiting handshake after the slot freed: %v, want 101", resp)
	}
}

// Each refused handshake is given its own time to come back: with one slot
// held and no wait, on a server clock that stands still (so the gate counts
// on its floor, 200 handshakes a second a slot: places 5 ms apart), the
// first 200 refusals get Retry-After 1, the next 200 2, and so on, in the
// order they came, on /ws, /secured-ws and /ws/ready alike; a browser's refused
// handshake, whose page cannot read the answer and asks /ws/ready next, is
// told the next place without taking it; places pass as the clock moves.
// With a wait, a handshake that finds more waiting than the wait can serve is
// refused at once, after a reservation behind them, and counted as reason
// "queue".
func TestHandshakeReservations(t *testing.T) {
	clk := newFakeClock()
	metricsAddr := freeAddr(t)
	gates := make(chan *admission.Gate, 1)
	s := startServerOpts(t, "", nil, options{clock: clk, handshakes: func(g *admission.Gate) { gates <- g }},
		"--handshake-concurrency", "1", "--handshake-wait", "0", "--metrics-addr", metricsAddr)
	g := <-gates
	s.addUser("alice", pw)
	bearer := http.Header{"Authorization": {"Bearer " + s.token("alice", pw)}}
	b := s.newBrowser()
	b.login("alice", pw)
	page := http.Header{"Cookie": {"securechat=" + b.sessionCookie()}, "Origin": {s.URL}}

	rel, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	refused := func(path string, h http.Header) string {
		t.Helper()
		var resp *http.Response
		if path == "/ws/ready" {
			req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
			req.Header = h.Clone()
			if resp, err = http.DefaultClient.Do(req); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		} else {
			var conn interface{ Close() error }
			if conn, resp, err = s.dial(path, h); err == nil {
				conn.Close()
			}
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s with the only slot taken: %v, want 503", path, statusOf(resp))
		}
		return resp.Header.Get("Retry-After")
	}
	for i := 1; i <= 398; i++ {
		want := "1"
		if i > 200 {
			want = "2"
		}
		if got := refused("/ws", bearer); got != want {
			t.Fatalf("refusal %d: Retry-After %q, want %q", i, got, want)
		}
	}
	steps := []struct {
		what, path string
		h          http.Header
		advance    time.Duration // the server's clock moves this much first
		want       string
	}{
		{"another path (place 399)", "/secured-ws", bearer, 0, "2"},
		{"a page's handshake: told place 400, not given it", "/ws", page, 0, "2"},
		{"a page's handshake again: place 400 still", "/ws", page, 0, "2"},
		{"the page asks /ws/ready: given place 400", "/ws/ready", page, 0, "2"},
		{"a script's handshake after it: place 401", "/ws", bearer, 0, "3"},
		{"three seconds later", "/ws", bearer, 3 * time.Second, "1"},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		if got := refused(st.path, st.h); got != st.want {
			t.Errorf("%s (%s): Retry-After %q, want %q", st.what, st.path, got, st.want)
		}
	}
	rel()
	if conn, resp, err := s.dial("/ws", bearer); err != nil {
		t.Fatalf("the freed slot did not let a socket in: %v (%v)", err, statusOf(resp))
	} else {
		conn.Close()
	}

	// A queue: one slot held and a wait of 10 s, so at 200 a second
	// two thousand may wait: two thousand wait in the gate itself (the wait is real
	// time: generous, so none gives up), and the next handshake is refused
	// at once, its place after theirs.
	qMetrics := freeAddr(t)
	q := startServerOpts(t, "", nil, options{clock: clk, handshakes: func(g *admission.Gate) { gates <- g }},
		"--handshake-concurrency", "1", "--handshake-wait", "10s", "--metrics-addr", qMetrics)
	g = <-gates
	q.addUser("bob", pw)
	bob := http.Header{"Authorization": {"Bearer " + q.token("bob", pw)}}
	if rel, err = g.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	waiters := make(chan error, 2000)
	for range 2000 {
		go func() {
			rel, err := g.Acquire(context.Background())
			if err == nil {
				rel()
			}
			waiters <- err
		}()
	}
	waitFor(t, 30*time.Second, "handshakes waiting", func() string {
		if n := g.Waiting(); n != 2000 {
			return fmt.Sprintf("%d waiting, want 2000", n)
		}
		return ""
	})
	_, resp, err := q.dial("/ws", bob)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a handshake behind a full queue: %v %v, want 503", err, statusOf(resp))
	}
	// Its place is after the two thousand waiting, 5 ms each: 10.005 s.
	if ra := resp.Header.Get("Retry-After"); ra != "11" {
		t.Errorf("behind two thousand waiting: Retry-After %q, want 11", ra)
	}
	rel()
	for range 2000 {
		if err := <-waiters; err != nil {
			t.Errorf("a waiting handshake: %v (the slot freed within its wait)", err)
		}
	}
	for _, m := range []struct {
		addr, labels string
		want         float64
	}{
		{metricsAddr, `path="/ws",reason="slots"`, 402},
		{metricsAddr, `path="/secured-ws",reason="slots"`, 1},
		{metricsAddr, `path="/ws/ready",reason="slots"`, 1},
		{qMetrics, `path="/ws",reason="queue"`, 1},
		{qMetrics, `path="/ws",reason="slots"`, -1}, // none: every waiter got its slot
	} {
		name := "securechat_handshake_refusals_total{" + m.labels + "}"
		if got := scrape(t, m.addr, name); got != m.want {
			t.Errorf("%s = %v, want %v", name, got, m.want)
		}
	}
}
