package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

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
	t.Run("default limits", func(t *testing.T) { historyFlood(t, false) })
	// Without the request rate in the way, the byte bound alone holds.
	t.Run("byte bound alone", func(t *testing.T) { historyFlood(t, true, "--request-rate", "1000/s:1000") })
}

func historyFlood(t *testing.T, wantByteBound bool, flags ...string) {
	const sockets = 20
	const perSocketBound = 1 << 20 // the default --send-queue-bytes
	addr := freeAddr(t)
	s := startServer(t, "", append(append([]string{"--metrics-addr", addr}, unlimited...), flags...)...)
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
	if code1013 := scrape(t, addr, `securechat_closes_total{code="1013"}`); wantByteBound && (drops < 1 || code1013 < 1) {
		t.Errorf("with requests unthrottled, %v sockets closed with 1013 and %v for the byte bound; want the byte bound to close them", code1013, drops)
	}
	t.Logf("closes for the byte bound: %v; requests refused: %v", drops, refusals)
}

// A history answer carries at most a page of bytes and says when there is
// more; paging with before gets every message once. A join's recent history
// and a replay are paged the same way. '<' is not escaped to six bytes.
func TestHistoryPagedBySize(t *testing.T) {
	// A 256 KiB bound makes a page 64 KiB: about 15 messages of 4,000 characters.
	s := startServer(t, "", append([]string{"--send-queue-bytes", "262144"}, unlimited...)...)
	s.addUser("alice", pw)
	a := s.dialBearer(s.token("alice", pw))
	a.until("joined", nil)
	a.joinRoom("big")
	const total = 200
	text := strings.Repeat("<", 3997) // with a 3-digit number: 4,000 characters, the most
	var newest int64
	// Sent ten at a time, each ten read back before the next: all 200 at once
	// would be 800 KB of echoes to a client not yet reading, past the 256 KiB
	// bound (closed with 1013) whenever the kernel's buffers take less.
	for i := 0; i < total; i += 10 {
		for j := i; j < i+10; j++ {
			a.send(map[string]any{"type": "send", "room": "big", "text": fmt.Sprintf("%03d%s", j, text)})
		}
		for range 10 {
			newest = int64(a.until("message", inRoom("big"))["id"].(float64))
		}
	}

	// The first page, read raw: it is the newest messages, and not escaped.
	a.send(map[string]any{"type": "history", "room": "big", "limit": total})
	for {
		a.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := a.conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), `"type":"history"`) {
			if strings.Contains(string(data), `\u003c`) {
				t.Fatal("history frame escapes '<' as \\u003c")
			}
			if len(data) > 80<<10 {
				t.Fatalf("history frame of %d bytes, want a page of about 64 KiB", len(data))
			}
			break
		}
	}
	var ids []int64
	before := int64(0)
	for page := 0; ; page++ {
		if page > total {
			t.Fatal("paging does not end")
		}
		a.send(map[string]any{"type": "history", "room": "big", "before": before, "limit": total})
		h := a.until("history", inRoom("big"))
		msgs := h["messages"].([]any)
		more, ok := h["more"].(bool)
		if !ok {
			t.Fatalf("history without more: %.200v", h)
		}
		if page == 0 && (!more || len(msgs) >= total || int64(msgs[len(msgs)-1].(map[string]any)["id"].(float64)) != newest) {
			t.Fatalf("first page: %d messages, more=%v: want the newest that fit in a page, and more", len(msgs), more)
		}
		var got []int64
		for _, m := range msgs {
			got = append(got, int64(m.(map[string]any)["id"].(float64)))
		}
		ids = append(got, ids...)
		if !more {
			break
		}
		before = got[0]
	}
	if len(ids) != total || ids[len(ids)-1] != newest {
		t.Fatalf("paged %d messages, want %d", len(ids), total)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("ids out of order or repeated at %d: %v", i, ids[i-1:i+1])
		}
	}

	// A join's recent history is one page too, and says there is more.
	b := s.dialBearer(s.token("alice", pw))
	b.until("joined", nil)
	b.send(map[string]any{"type": "join", "room": "big"})
	h := b.until("history", inRoom("big"))
	if msgs := h["messages"].([]any); h["more"] != true || len(msgs) == 0 || len(msgs) >= 50 {
		t.Fatalf("join history: %d messages, more=%v; want fewer than 50 and more", len(msgs), h["more"])
	}
	b.until("joined", inRoom("big"))

	// A replay from the start sends all 200, in order, in pages.
	c := s.dialBearer(s.token("alice", pw))
	c.until("joined", nil)
	c.send(map[string]any{"type": "join", "room": "big", "since": 0})
	var replayed []int64
	for {
		f := c.next()
		if f["type"] == "joined" && f["room"] == "big" {
			break
		}
		if f["type"] == "message" && f["room"] == "big" {
			replayed = append(replayed, int64(f["id"].(float64)))
		}
	}
	if len(replayed) != total || replayed[0] != ids[0] || replayed[total-1] != newest {
		t.Fatalf("replayed %d messages, want all %d", len(replayed), total)
	}
}

// Requests other than messages are limited per user, across their sockets:
// a second socket does not bring a second allowance.
func TestRequestRatePerUser(t *testing.T) {
	s := startServer(t, "", "--request-rate", "5/1m:5")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	tok := s.token("alice", pw)
	a1, a2 := s.dialBearer(tok), s.dialBearer(tok)
	bob := s.dialBearer(s.token("bob", pw))
	for _, c := range []*wsClient{a1, a2, bob} {
		c.until("joined", nil)
	}
	for range 5 {
		a1.send(map[string]any{"type": "rooms"})
		a1.until("rooms", nil)
	}
	// The answer to a request: rooms or an error (presence may come between).
	answer := func(c *wsClient) map[string]any {
		t.Helper()
		for {
			if f := c.next(); f["type"] == "rooms" || f["type"] == "error" {
				return f
			}
		}
	}
	a2.send(map[string]any{"type": "rooms"})
	if f := answer(a2); f["type"] != "error" || f["code"] != "rate_limited" {
		t.Fatalf("alice's 6th request, on her second socket: %v, want rate_limited", f)
	}
	// Garbage, binary frames included, counts against the same allowance.
	a2.conn.WriteMessage(websocket.TextMessage, []byte("not json"))
	if f := answer(a2); f["type"] != "error" || f["code"] != "rate_limited" {
		t.Fatalf("garbage past the limit: %v, want rate_limited", f)
	}
	a1.conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	if f := answer(a1); f["type"] != "error" || f["code"] != "rate_limited" {
		t.Fatalf("a binary frame past the limit: %v, want rate_limited", f)
	}
	// Another user has an allowance of their own.
	bob.send(map[string]any{"type": "rooms"})
	if f := answer(bob); f["type"] != "rooms" {
		t.Fatalf("bob's first request: %v", f)
	}
}

// A join with a since past the room's end is clamped to its newest id: the
// room stays live for the socket, its own messages are acknowledged.
func TestJoinSincePastTheEnd(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	a := s.dialBearer(s.token("alice", pw))
	b := s.dialBearer(s.token("bob", pw))
	a.until("joined", nil)
	b.until("joined", nil)
	b.joinRoom("r")
	b.send(map[string]any{"type": "send", "room": "r", "text": "before"})
	last := b.until("message", inRoom("r"))["id"].(float64)

	a.send(map[string]any{"type": "join", "room": "r", "since": int64(9223372036854775807)})
	j := a.until("joined", inRoom("r"))
	if j["last_id"] != last {
		t.Fatalf("joined with last_id %v, want the room's newest id %v", j["last_id"], last)
	}
	a.send(map[string]any{"type": "send", "room": "r", "text": "mine"})
	if m := a.until("message", inRoom("r")); m["text"] != "mine" {
		t.Fatalf("alice got %v, want her own message acknowledged", m)
	}
	b.send(map[string]any{"type": "send", "room": "r", "text": "theirs"})
	if m := a.until("message", inRoom("r")); m["text"] != "theirs" {
		t.Fatalf("alice got %v, want bob's message", m)
	}
}

// /secured-ws closes with 1007 on invalid UTF-8 instead of echoing it, and
// its frames count against the user's request rate: past it they are
// dropped, and sustained abuse closes with 1008.
func TestSecuredWSInvalidUTF8AndRequestRate(t *testing.T) {
	s := startServer(t, "", "--request-rate", "5/1m:5")
	s.addUser("alice", pw)
	tok := s.token("alice", pw)
	open := func() *websocket.Conn {
		t.Helper()
		conn, _, err := s.dial("/secured-ws", http.Header{"Authorization": {"Bearer " + tok}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, got, err := conn.ReadMessage(); err != nil || string(got) != "Welcome alice!" {
			t.Fatalf("welcome: %q %v", got, err)
		}
		return conn
	}
	// readAll reads until the socket closes, returning the texts (the server
	// batches what is queued, one per line) and the close code.
	readAll := func(conn *websocket.Conn) ([]string, int) {
		t.Helper()
		var texts []string
		for {
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, data, err := conn.ReadMessage()
			if err != nil {
				ce, ok := err.(*websocket.CloseError)
				if !ok {
					t.Fatalf("socket ended with %v (after %q), want a close frame", err, texts)
				}
				return texts, ce.Code
			}
			texts = append(texts, strings.Split(string(data), "\n")...)
		}
	}

	bad := open()
	bad.WriteMessage(websocket.TextMessage, []byte("ok then \xff\xfe"))
	if texts, code := readAll(bad); code != 1007 || len(texts) != 0 {
		t.Fatalf("invalid UTF-8: got %q and close %d, want close 1007", texts, code)
	}

	flood := open()
	for i := range 20 {
		flood.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf("hello %d", i)))
	}
	texts, code := readAll(flood)
	if len(texts) != 5 || texts[0] != "You wrote: hello 0" || texts[4] != "You wrote: hello 4" || code != 1008 {
		t.Fatalf("20 frames against a rate of 5: echoed %q, close %d; want 5 echoes, then 1008", texts, code)
	}
}
