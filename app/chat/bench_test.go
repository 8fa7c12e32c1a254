package chat

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"securechat/app/store"
	"securechat/app/throttle"
)

func BenchmarkEncodeMessage(b *testing.B) {
	m := store.Message{ID: 123456, Seq: 789, Room: "general", User: "alice", Text: "hello, this is a fairly ordinary chat message", TS: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		encodeMessage(m)
	}
}

func BenchmarkDecodeFrame(b *testing.B) {
	data := []byte(`{"type":"send","room":"general","text":"hello, this is a fairly ordinary chat message"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeFrame(data, 4000); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBroadcast1000 fans one message out to 1,000 members whose sockets
// are real gorilla connections over in-memory pipes, drained by readers; one
// iteration is one message delivered to all 1,000 (written to every pipe).
func BenchmarkBroadcast1000(b *testing.B) {
	const members = 1000
	h := &Hub{limits: Limits{SendQueue: 1 << 20, SendQueueBytes: 1 << 40, ReadLimit: 1 << 16, MaxText: 4000, MessageRate: throttle.Limit{Rate: 1, Burst: 1}},
		now: time.Now, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r := newRoom("general", h, nil, store.RoomPrivate) // not public: its first message asks no store (there is none)
	clients := make([]*Client, members)
	var drained []chan int64
	for i := range clients {
		server, client := net.Pipe()
		done := make(chan int64, 1)
		drained = append(drained, done)
		go func() {
			n, _ := io.Copy(io.Discard, client)
			done <- n
		}()
		conn := upgradeOver(b, server)
		c := newClient(h, conn, nil, Peer{User: "u" + strconv.Itoa(i), SessionID: "s", ExpiresAt: time.Now().Add(time.Hour)})
		clients[i] = c
		r.members[c] = &member{}
	}
	msg := store.Message{Room: "general", User: "alice", Text: "hello, this is a fairly ordinary chat message", TS: time.Now()}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msg.ID, msg.Seq = int64(i+1), int64(i+1)
		r.deliver(msg)
	}
	// Wait until every pump has written everything.
	for _, c := range clients {
		for {
			c.mu.Lock()
			idle := !c.writing && len(c.queue) == 0
			c.mu.Unlock()
			if idle {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*members)/b.Elapsed().Seconds(), "deliveries/s")
	for _, c := range clients {
		c.conn.Close()
	}
}

// upgradeOver makes a server-side gorilla connection on one end of a pipe,
// by running a real handshake through a hijackable response writer.
func upgradeOver(b testing.TB, server net.Conn) *websocket.Conn {
	b.Helper()
	req := httptest.NewRequest("GET", "/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	w := &hijacker{ResponseRecorder: httptest.NewRecorder(), conn: server}
	// The handshake response goes to the pipe, whose reader is already draining it.
	up := websocket.Upgrader{WriteBufferPool: nil, WriteBufferSize: 4096}
	c, err := up.Upgrade(w, req, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

type hijacker struct {
	*httptest.ResponseRecorder
	conn net.Conn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, bufio.NewReadWriter(bufio.NewReader(h.conn), bufio.NewWriter(h.conn)), nil
}

var _ http.Hijacker = (*hijacker)(nil)
