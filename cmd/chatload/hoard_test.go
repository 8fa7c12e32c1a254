package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHistoryFrame(t *testing.T) {
	if got := string(historyFrame("hoard")); got != `{"type":"history","room":"hoard","limit":200}` {
		t.Errorf("historyFrame = %s", got)
	}
}

func TestTallyEnds(t *testing.T) {
	timeout := fmt.Errorf("history request: %w", os.ErrDeadlineExceeded)
	ends := []hoarderEnd{
		{closed: true, code: 1013},
		{closed: true, code: 1013},
		{closed: true, writeErr: fmt.Errorf("history request: broken pipe")}, // no close frame
		{writeErr: timeout}, // the server stopped reading it
		{},                  // still open
		{},                  // never opened
	}
	conns := []*loadConn{{}, {}, {}, {}, {}, nil}
	var res hoardResult
	res.tallyEnds(ends, conns)
	if res.Closed != 3 || res.Blocked != 1 || res.OpenAtEnd != 1 || res.ByCloseCode["1013"] != 2 || res.ByCloseCode["none"] != 1 {
		t.Errorf("closed %d (%v), blocked %d, open %d", res.Closed, res.ByCloseCode, res.Blocked, res.OpenAtEnd)
	}
}

// fakeChat is a chat server with one room, enough for the filler and the
// hoarders: it refuses the sends listed in refuse with rate_limited.
type fakeChat struct {
	t         *testing.T
	text      string
	held      int
	sends     int
	refuse    map[int]bool
	closeWith int // close every socket with this code after its first frame (0: never)
}

func (f *fakeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	write := func(objs ...any) {
		var lines []string
		for _, o := range objs {
			b, _ := json.Marshal(o)
			lines = append(lines, string(b))
		}
		ws.WriteMessage(websocket.TextMessage, []byte(strings.Join(lines, "\n")))
	}
	type msg struct {
		Type string `json:"type"`
		Room string `json:"room"`
		User string `json:"user"`
		Text string `json:"text"`
	}
	page := func(room string) map[string]any {
		msgs := []msg{{Type: "message", Room: room, User: "someone", Text: "hi"}}
		for range f.held {
			msgs = append(msgs, msg{Type: "message", Room: room, User: "load2", Text: f.text})
		}
		return map[string]any{"type": "history", "room": room, "messages": msgs}
	}
	write(map[string]string{"type": "welcome", "user": "load2"})
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if f.closeWith != 0 {
			ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(f.closeWith, "too slow"))
			return
		}
		var in msg
		json.Unmarshal(data, &in)
		switch in.Type {
		case "join":
			write(page(in.Room), map[string]any{"type": "joined", "room": in.Room, "last_id": 1}) // batched, as the server may
		case "history":
			write(page(in.Room))
		case "send":
			f.sends++
			if f.refuse[f.sends] {
				write(map[string]string{"type": "error", "code": "rate_limited", "message": "too many messages"})
				continue
			}
			f.held++
			write(map[string]string{"type": "presence", "room": in.Room}, msg{Type: "message", Room: in.Room, User: "load2", Text: in.Text})
		}
	}
}

// The filler counts what the room holds, sends only what is missing, and
// resends a message the rate limit refused.
func TestFillerSendsWhatIsMissing(t *testing.T) {
	text := strings.Repeat("<", 10)
	chat := &fakeChat{t: t, text: text, held: 2, refuse: map[int]bool{2: true}}
	base := newTestServer(t, chat)
	ws, _, err := websocket.DefaultDialer.Dial(socketURL(base, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var res hoardResult
	f := &filler{ws: ws, room: "hoard", text: text}
	if err := f.run(5, &res); err != nil {
		t.Fatal(err)
	}
	if res.RoomHeld != 2 || res.Filled != 3 || chat.sends != 4 || res.AnswerBytes == 0 {
		t.Errorf("held %d, filled %d, sends %d, answer %d bytes; want 2, 3, 4 (one refused), > 0", res.RoomHeld, res.Filled, chat.sends, res.AnswerBytes)
	}
}

// A hoarder the server closes is found closed, with the code it was sent.
func TestHoarderFindsTheCloseCode(t *testing.T) {
	base := newTestServer(t, &fakeChat{t: t, closeWith: 1013})
	ws, _, err := websocket.DefaultDialer.Dial(socketURL(base, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newLoadConn(ws)
	ws.SetWriteDeadline(time.Now().Add(hoardWriteWait))
	if err := ws.WriteMessage(websocket.TextMessage, historyFrame("hoard")); err != nil {
		t.Fatal(err)
	}
	var e hoarderEnd
	e.finish(c)
	if !e.closed || e.code != 1013 {
		t.Errorf("end %+v: want closed with 1013", e)
	}
}
