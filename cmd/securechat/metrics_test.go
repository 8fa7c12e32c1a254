package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestMetrics(t *testing.T) {
	addr := freeAddr(t)
	s := startServer(t, "", "--metrics-addr", addr)
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	a := s.dialBearer(s.token("alice", pw))
	b := s.dialBearer(s.token("bob", pw))
	a.until("joined", nil)
	b.until("joined", nil)
	a.send(map[string]any{"type": "send", "room": "general", "text": "counted"})
	a.until("message", nil)
	b.until("message", nil)
	s.dial("/ws", nil) // a 401

	metric := func(body, name string) float64 {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %s in /metrics", name)
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if metric(body, "securechat_deliveries_total") >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := map[string]float64{
		"securechat_sockets_open":                             2,
		"securechat_handshakes_total":                         2,
		"securechat_messages_in_total":                        1,
		"securechat_deliveries_total":                         2,
		`securechat_handshake_rejections_total{status="401"}`: 1,
		"securechat_history_write_seconds_count":              1,
	}
	for name, v := range want {
		if got := metric(body, name); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	// Both sockets, idle now, wait for their next frame without a goroutine
	// (app/readiness), and the gauge says so.
	waitFor(t, 5*time.Second, "idle sockets parked", func() string {
		if got := scrape(t, addr, "securechat_sockets_parked"); got != 2 {
			return fmt.Sprintf("securechat_sockets_parked = %v, want 2", got)
		}
		return ""
	})
	// The public address does not serve them.
	resp, err := noRedirect(nil).Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Error("/metrics is served on the public address")
	}
}

// TestMetricsPprofOnlyWithFlag: the profiles show the program's insides and
// cost it while they run, so --metrics-addr serves them only with --pprof.
func TestMetricsPprofOnlyWithFlag(t *testing.T) {
	cases := []struct {
		flags     []string
		wantPprof int
	}{
		{nil, http.StatusNotFound},
		{[]string{"--pprof"}, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(strings.Join(append([]string{"flags"}, tc.flags...), " "), func(t *testing.T) {
			addr := freeAddr(t)
			startServer(t, "", append([]string{"--metrics-addr", addr}, tc.flags...)...)
			for path, want := range map[string]int{"/metrics": http.StatusOK, "/debug/pprof/": tc.wantPprof, "/debug/pprof/goroutine?debug=1": tc.wantPprof} {
				resp, err := http.Get("http://" + addr + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
				}
			}
		})
	}
}
