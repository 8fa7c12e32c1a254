package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"securechat/app/chat"
)

// The chat socket's reader settings must not drift: gorilla has to read
// through the very reader hijackCapture hands to the hub, or the hub's
// awaitFrame, which peeks at that reader to wait on a shallow stack, would
// take bytes gorilla never sees. The test upgrades a real connection the way
// upgrade does, peeks at the first frame through the captured reader as
// awaitFrame does, and requires gorilla to read that same frame.
func TestSocketReaderIsGorillas(t *testing.T) {
	u := newUpgrader()
	if u.ReadBufferSize != 0 { // gorilla reuses the hijacked reader only then
		t.Fatalf("upgrader ReadBufferSize = %d, want 0", u.ReadBufferSize)
	}
	type result struct {
		peeked   bool
		buffered int
		size     int
		got      string
		err      error
	}
	done := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hc := &hijackCapture{ResponseWriter: w}
		conn, err := u.Upgrade(hc, r, nil)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		var res result
		if hc.br != nil {
			res.size = hc.br.Size()
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, res.err = hc.br.Peek(2) // what awaitFrame does
			res.peeked = res.err == nil
			res.buffered = hc.br.Buffered()
		}
		if res.err == nil {
			var data []byte
			_, data, res.err = conn.ReadMessage()
			res.got = string(data)
		}
		done <- res
	}))
	defer srv.Close()

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.Close()
	const want = `{"type":"rooms"}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(want)); err != nil {
		t.Fatalf("write: %v", err)
	}
	res := <-done
	switch {
	case !res.peeked:
		t.Fatalf("the hub gets no reader to wait on (err %v)", res.err)
	case res.size != chat.ReadBufferSize:
		t.Errorf("the captured reader holds %d bytes, want chat.ReadBufferSize (%d)", res.size, chat.ReadBufferSize)
	case res.buffered == 0:
		t.Errorf("peeking buffered nothing")
	}
	if res.err != nil || res.got != want {
		t.Fatalf("gorilla read %q, %v after the peek; want %q: it does not read through the captured reader", res.got, res.err, want)
	}
}
