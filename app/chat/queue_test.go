package chat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"securechat/app/store"
	"securechat/app/throttle"
)

// pipePeer is the client end of an in-memory connection whose reading the
// test controls: it reads the handshake, then nothing until release is called,
// so the server's pump blocks and its frames stay queued.
type pipePeer struct {
	release func()
	read    chan int64 // bytes read after the release, when the connection ends
}

// gatedClient returns a socket of h over an in-memory pipe whose peer does not
// read until released.
func gatedClient(t *testing.T, h *Hub, user string) (*Client, *pipePeer) {
	t.Helper()
	server, client := net.Pipe()
	gate := make(chan struct{})
	p := &pipePeer{release: sync.OnceFunc(func() { close(gate) }), read: make(chan int64, 1)}
	go func() {
		br := bufio.NewReader(client)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		<-gate
		n, _ := io.Copy(io.Discard, br)
		p.read <- n
	}()
	conn := upgradeOver(t, server)
	c := newClient(h, conn, nil, Peer{User: user, SessionID: "s-" + user, ExpiresAt: time.Now().Add(time.Hour)})
	t.Cleanup(func() {
		p.release()
		c.closeConn()
		client.Close()
	})
	return c, p
}

func testHub(lim Limits) *Hub {
	return &Hub{limits: lim, now: time.Now, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		pageBytes: min(maxPageBytes, lim.SendQueueBytes/4)}
}

func closedWith(c *Client) (bool, CloseCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing, c.closeCode
}

// A socket whose peer does not read is closed with 1013 once what it holds
// (queued and being written) would pass the byte bound, long before the
// frame bound; what it holds never passes the bound.
func TestSendQueueBytesBound(t *testing.T) {
	const bound = 64 << 10
	h := testHub(Limits{SendQueue: 1 << 20, SendQueueBytes: bound})
	c, _ := gatedClient(t, h, "slow")
	frame := bytes.Repeat([]byte("x"), 10<<10)
	for i := range 20 {
		c.send(frame)
		if held := c.queuedBytes(); held > bound {
			t.Fatalf("after frame %d the socket holds %d bytes, bound %d", i, held, bound)
		}
	}
	if closing, code := closedWith(c); !closing || code != CloseTryLater {
		t.Fatalf("200 KiB queued for a peer that does not read: closing=%v code=%d, want 1013", closing, code)
	}
}

// Bytes are given back once written: a socket that reads may receive far
// more than the bound over its life.
func TestSendQueueBytesReleasedAfterWrite(t *testing.T) {
	const bound = 64 << 10
	h := testHub(Limits{SendQueue: 1 << 20, SendQueueBytes: bound})
	c, p := gatedClient(t, h, "reader")
	p.release()
	frame := bytes.Repeat([]byte("x"), 10<<10)
	for round := range 5 {
		for range 5 {
			c.send(frame)
		}
		deadline := time.Now().Add(10 * time.Second)
		for c.queuedBytes() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d bytes still held after the peer read them", round, c.queuedBytes())
			}
			time.Sleep(time.Millisecond)
		}
	}
	if closing, code := closedWith(c); closing {
		t.Fatalf("a reading socket was closed with %d after 250 KiB in rounds of 50 KiB", code)
	}
}

// sendWait (the replay's way to queue) waits for the bytes to be written
// instead of passing the bound, so a replay to a slow reader completes.
func TestSendWaitWaitsForBytes(t *testing.T) {
	const bound = 64 << 10
	h := testHub(Limits{SendQueue: 1 << 20, SendQueueBytes: bound})
	c, p := gatedClient(t, h, "replaying")
	frame := bytes.Repeat([]byte("x"), bound/4)
	c.rooms["r"] = struct{}{} // a replay's frames are for a room the socket is in
	done := make(chan error, 1)
	go func() {
		for range 12 {
			if err := c.sendWait(context.Background(), "r", frame); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	// The sender must stop at the bound while the peer does not read.
	deadline := time.Now().Add(10 * time.Second)
	for c.queuedBytes() < bound/2 {
		if time.Now().After(deadline) {
			t.Fatal("sendWait queued nothing")
		}
		time.Sleep(time.Millisecond)
	}
	p.release()
	if err := <-done; err != nil {
		t.Fatalf("sendWait: %v", err)
	}
	if closing, code := closedWith(c); closing {
		t.Fatalf("a replay to a slow reader closed it with %d", code)
	}
	c.closeWith(closeNormalClose)
	c.waitClosed()
	if n := <-p.read; n < int64(12*len(frame)) {
		t.Fatalf("peer read %d bytes, want all %d", n, 12*len(frame))
	}
}

// Live messages held back for a member that is replaying are bounded in bytes too.
func TestReplayPendingBytesBound(t *testing.T) {
	const bound = 64 << 10
	h := testHub(Limits{SendQueue: 1 << 20, SendQueueBytes: bound})
	c, _ := gatedClient(t, h, "resuming")
	r := newRoom("r", h, nil, store.RoomPrivate) // not public: its first message asks no store (there is none)
	mb := &member{replaying: true}
	r.members[c] = mb
	text := strings.Repeat("<", 4000)
	for i := range 40 {
		r.deliver(store.Message{ID: int64(i + 1), Seq: int64(i + 1), Room: "r", User: "u", Text: text, TS: time.Now()})
		if mb.pendingBytes > bound {
			t.Fatalf("after message %d, %d bytes pending, bound %d", i, mb.pendingBytes, bound)
		}
	}
	if closing, code := closedWith(c); !closing || code != CloseTryLater {
		t.Fatalf("160 KB held back for a replaying member: closing=%v code=%d, want 1013", closing, code)
	}
}

func bigMessages(n int) []store.Message {
	ms := make([]store.Message, n)
	ts := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range ms {
		ms[i] = store.Message{ID: int64(i + 1), Seq: int64(i + 1), Room: "r", User: "u", Text: strings.Repeat("<", 4000), TS: ts}
	}
	return ms
}

func TestHistoryPagedByBytes(t *testing.T) {
	cases := []struct {
		name     string
		msgs     int
		budget   int
		wantMore bool
		wantN    int // 0: as many as fit
	}{
		{"200 large in 256 KiB", 200, maxPageBytes, true, 0},
		{"all fit", 3, maxPageBytes, false, 3},
		{"one over the budget still goes", 5, 100, true, 1},
		{"empty", 0, maxPageBytes, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ms := bigMessages(tc.msgs)
			frame := encodeHistory("r", ms, tc.budget)
			if bytes.Contains(frame, []byte(`\u003c`)) {
				t.Fatal("< is HTML-escaped: six times its size")
			}
			var f struct {
				Type     string `json:"type"`
				Room     string `json:"room"`
				Messages []struct {
					ID   int64  `json:"id"`
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"messages"`
				More *bool `json:"more"`
			}
			if err := json.Unmarshal(frame, &f); err != nil {
				t.Fatalf("%v: %.100s", err, frame)
			}
			if f.Type != "history" || f.Room != "r" || f.More == nil || *f.More != tc.wantMore || f.Messages == nil {
				t.Fatalf("type %q room %q more %v messages nil=%v", f.Type, f.Room, f.More, f.Messages == nil)
			}
			n := len(f.Messages)
			if tc.wantN > 0 && n != tc.wantN || tc.msgs > 0 && n == 0 {
				t.Fatalf("%d messages", n)
			}
			if tc.budget >= 1000 && len(frame) > tc.budget+100 {
				t.Fatalf("frame of %d bytes for a budget of %d", len(frame), tc.budget)
			}
			for i, m := range f.Messages {
				// The newest that fit, oldest first.
				if want := int64(tc.msgs - n + i + 1); m.ID != want || m.Type != "message" || m.Text != ms[0].Text {
					t.Fatalf("message %d: id %d, want %d", i, m.ID, want)
				}
			}
		})
	}
}

func TestReplayBatchBoundedByBytes(t *testing.T) {
	ms := bigMessages(maxHistory)
	frame, n := encodeMessages(ms, maxPageBytes)
	if n < 1 || n >= len(ms) || len(frame) > maxPageBytes {
		t.Fatalf("took %d of %d in %d bytes (budget %d)", n, len(ms), len(frame), maxPageBytes)
	}
	if lines := bytes.Count(frame, []byte("\n")) + 1; lines != n {
		t.Fatalf("%d objects in the frame, reported %d", lines, n)
	}
	if _, n := encodeMessages(ms[:2], 10); n != 1 {
		t.Fatalf("a message over the budget: took %d, want 1", n)
	}
}

// endedSessions reports every session as ended: revoked after the gate let
// the socket through.
type endedSessions struct{}

func (endedSessions) Refresh(context.Context, string) (Peer, error) {
	return Peer{}, errors.New("session ended")
}
func (endedSessions) Expiry(context.Context, string) (time.Time, error) {
	return time.Time{}, errors.New("session ended")
}

// A socket whose session was revoked between the gate and its registration
// (KickSession ran before the hub knew it) closes itself with 4401 when it
// rechecks its session after registering.
func TestSessionRevokedBeforeRegisterCloses(t *testing.T) {
	for _, echo := range []bool{false, true} {
		h := NewHub(Deps{Store: &unitStore{}, Sessions: endedSessions{}, Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
			Limits{ReadLimit: 1 << 16, MaxText: 4000, SendQueue: 64, SendQueueBytes: 1 << 20,
				MessageRate: throttle.Limit{Rate: 10, Burst: 10}, RequestRate: throttle.Limit{Rate: 10, Burst: 10}, MaxSocketsPerUser: 5})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
			if err != nil {
				return
			}
			p := Peer{User: "alice", SessionID: "revoked", ExpiresAt: time.Now().Add(time.Hour)}
			if echo {
				h.ServeEcho(context.Background(), conn, nil, p, func() {})
			} else {
				h.Serve(context.Background(), conn, nil, p, func() {})
			}
		}))
		conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var ce *websocket.CloseError
		for {
			if _, _, err = conn.ReadMessage(); err != nil {
				break
			}
		}
		if !errors.As(err, &ce) || ce.Code != int(CloseAuthEnded) {
			t.Errorf("echo=%v: socket of an ended session ended with %v, want close 4401", echo, err)
		}
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		h.Shutdown(ctx)
		cancel()
		srv.Close()
	}
}
