package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// scrape reads one value from the server's /metrics; -1 if it is not there.
func scrape(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Errorf("scrape: %v", err)
		return -1
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// heapBytes is the live heap as of the last collection, and every heap
// object including garbage not yet collected.
func heapBytes() (live, objects uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// dialUnread opens /ws with a small receive buffer, for a client that never
// reads: its backlog lands on the server, not in the kernel.
func (s *testServer) dialUnread(token string) *websocket.Conn {
	s.t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			conn.(*net.TCPConn).SetReadBuffer(4096)
		}
		return conn, err
	}}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/ws", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		s.t.Fatalf("dial: %v", err)
	}
	s.t.Cleanup(func() { conn.Close() })
	return conn
}

// TestHistoryFloodBoundedInBytes is issue 11's first attack: one user's 20
// sockets (the default most) ask for the largest history pages of a room of
// 200 messages of 4,000 '<' as fast as they can and never read. Each socket
// is closed (1013 when it holds its byte bound, 1008 after its requests were
// refused again and again), what the server holds for all sockets stays
// under 20 × --send-queue-bytes, its live heap grows by well under 64 MiB,
// and another user's messages meanwhile are all acknowledged.
func TestHistoryFloodBoundedInBytes(t *testing.T) {
	const sockets = 20
	const perSocketBound = 1 << 20 // the default --send-queue-bytes
	addr := freeAddr(t)
	s := startServer(t, "", append([]string{"--metrics-addr", addr}, unlimited...)...)
	s.addUser("hog", pw)
	s.addUser("bob", pw)
	bob := s.dialBearer(s.token("bob", pw))
	bob.until("joined", nil)
	bob.joinRoom("big")
	text := strings.Repeat("<", 4000)
	for range 200 {
		bob.send(map[string]any{"type": "send", "room": "big", "text": text})
	}
	for range 200 {
		bob.until("message", inRoom("big"))
	}

	hogToken := s.token("hog", pw)
	hogs := make([]*websocket.Conn, sockets)
	for i := range hogs {
		hogs[i] = s.dialUnread(hogToken)
	}
	runtime.GC()
	baseLive, baseObjects := heapBytes()

	// Watch the server's memory while the flood runs.
	var maxLive, maxQueued atomic.Uint64
	over := make(chan string, 1)
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopWatch:
				return
			case <-tick.C:
			}
			live, objects := heapBytes()
			if live > baseLive && live-baseLive > maxLive.Load() {
				maxLive.Store(live - baseLive)
			}
			if live > baseLive+64<<20 || objects > baseObjects+512<<20 {
				// Stop at once: unbounded queues would take the machine's memory.
				select {
				case over <- fmt.Sprintf("live heap grew by %d MiB (all objects by %d MiB)", (live-baseLive)>>20, (objects-min(objects, baseObjects))>>20):
				default:
				}
				return
			}
			if i%5 == 0 {
				if q := scrape(t, addr, "securechat_send_queue_bytes"); q > float64(maxQueued.Load()) {
					maxQueued.Store(uint64(q))
				}
			}
		}
	}()

	// The flood: every socket asks for the largest page, as fast as it can
	// write, and reads nothing.
	var flood sync.WaitGroup
	for _, conn := range hogs {
		flood.Add(1)
		go func() {
			defer flood.Done()
			for range 40 {
				conn.SetWriteDeadline(time.Now().Add(15 * time.Second))
				if conn.WriteJSON(map[string]any{"type": "history", "room": "big", "limit": 200}) != nil {
					return // closed by the server
				}
			}
		}()
	}

	// Meanwhile bob's messages are all acknowledged.
	bobDone := make(chan error, 1)
	go func() {
		for i := range 30 {
			want := fmt.Sprintf("bob %d", i)
			if err := bob.conn.WriteJSON(map[string]any{"type": "send", "room": "general", "text": want}); err != nil {
				bobDone <- err
				return
			}
			for {
				f, err := bob.read(20 * time.Second)
				if err != nil {
					bobDone <- fmt.Errorf("waiting for the acknowledgement of %q: %w", want, err)
					return
				}
				if f["type"] == "message" && f["text"] == want {
					break
				}
			}
		}
		bobDone <- nil
	}()

	fail := func(format string, args ...any) {
		t.Helper()
		for _, c := range hogs {
			c.Close()
		}
		close(stopWatch)
		<-watched
		t.Fatalf(format, args...)
	}
	floodDone := make(chan struct{})
	go func() { flood.Wait(); close(floodDone) }()
	// Every hog socket is closed by the server: 1013 when it holds its byte
	// bound, 1008 after its refused requests. The server's count is the
	// witness: a client that never reads may not see the close (its window is
	// shut, so the reset after the close grace can miss it).
	closed := func() float64 {
		return max(0, scrape(t, addr, `securechat_closes_total{code="1013"}`)) + max(0, scrape(t, addr, `securechat_closes_total{code="1008"}`))
	}
	deadline := time.Now().Add(60 * time.Second)
	for closed() < sockets {
		select {
		case msg := <-over:
			fail("the flood was not bounded: %s", msg)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			fail("%v of %d hog sockets closed with 1013 or 1008 after 60 s", closed(), sockets)
		}
	}
	if open := scrape(t, addr, "securechat_sockets_open"); open != 1 {
		fail("%v sockets open after the hogs were closed, want bob's only", open)
	}
	<-floodDone
	if err := <-bobDone; err != nil {
		fail("bob during the flood: %v", err)
	}
	select {
	case msg := <-over:
		fail("the flood was not bounded: %s", msg)
	default:
	}
	close(stopWatch)
	<-watched
	t.Logf("hog sockets closed 1013: %v, 1008: %v; live heap grew by at most %.1f MiB; the server held at most %.1f MiB for its sockets",
		scrape(t, addr, `securechat_closes_total{code="1013"}`), scrape(t, addr, `securechat_closes_total{code="1008"}`), float64(maxLive.Load())/(1<<20), float64(maxQueued.Load())/(1<<20))
	if q := maxQueued.Load(); q > (sockets+1)*perSocketBound {
		t.Errorf("the server held %d bytes for its sockets, bound %d", q, (sockets+1)*perSocketBound)
	}
	drops := scrape(t, addr, `securechat_queue_drops_total{bound="bytes"}`)
	refusals := scrape(t, addr, "securechat_request_refusals_total")
	if drops < 1 && refusals < 1 {
		t.Errorf("neither a byte-bound close (%v) nor a refused request (%v) was counted", drops, refusals)
	}
	t.Logf("closes for the byte bound: %v; requests refused: %v", drops, refusals)
}
