package main

import (
	"context"
	"net/http"
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
		if ra := resp.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("%s refused with Retry-After %q, want 1", path, ra)
		}
	}
	r := ready(bearer)
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("/ws/ready with every slot taken: %d, Retry-After %q; want 503 and 1", r.StatusCode, r.Header.Get("Retry-After"))
	}
	// The refusals cost no token check: no auth failure, no rejection logged.
	if lines := s.log.matching("auth failure"); len(lines) > 1 { // the one 401 above
		t.Errorf("refused handshakes were logged as auth failures: %q", lines)
	}
	for path, want := range map[string]float64{"/ws": 2, "/secured-ws": 1, "/ws/ready": 1} {
		name := `securechat_handshake_refusals_total{path="` + path + `"}`
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
