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
	tests := []struct {
		limit  int
		before int64
		want   string
	}{
		{200, 0, `{"type":"history","room":"hoard","limit":200}`},
		{50, 1234, `{"type":"history","room":"hoard","before":1234,"limit":50}`},
	}
	for _, tt := range tests {
		if got := string(historyFrame("hoard", tt.limit, tt.before)); got != tt.want {
			t.Errorf("historyFrame = %s, want %s", got, tt.want)
		}
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
// hoarders: the room holds one other message, then held fill messages; it
// answers history with at most pageCap messages, and refuses the sends
// listed in refuse with rate_limited.
type fakeChat struct {
	text      string
	held      int
	pageCap   int // 0: as many as asked
	maxLimit  int // a history request for more is refused with bad_frame (0: none is)
	sends     int
	refuse    map[int]bool
	closeWith int // close every socket with this code after its first frame (0: never)
}

type fakeMsg struct {
	ID   int64  `json:"id,omitempty"`
	Type string `json:"type"`
	Room string `json:"room"`
	User string `json:"user"`
	Text string `json:"text"`
}

// page is the room's messages before id before (0: all), newest limit, oldest first.
func (f *fakeChat) page(room string, before int64, limit int) map[string]any {
	all := []fakeMsg{{ID: 1, Type: "message", Room: room, User: "someone", Text: "hi"}}
	for i := range f.held {
		all = append(all, fakeMsg{ID: int64(i + 2), Type: "message", Room: room, User: "load2", Text: f.text})
	}
	if before > 0 {
		all = all[:before-1]
	}
	if f.pageCap > 0 {
		limit = min(limit, f.pageCap)
	}
	all = all[max(0, len(all)-limit):]
	return map[string]any{"type": "history", "room": room, "messages": all}
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
		var in struct {
			Type   string `json:"type"`
			Room   string `json:"room"`
			Text   string `json:"text"`
			Before int64  `json:"before"`
			Limit  int    `json:"limit"`
		}
		json.Unmarshal(data, &in)
		switch in.Type {
		case "join":
			write(f.page(in.Room, 0, 50), map[string]any{"type": "joined", "room": in.Room, "last_id": 1}) // batched, as the server may
		case "history":
			if f.maxLimit > 0 && in.Limit > f.maxLimit {
				write(map[string]string{"type": "error", "code": "bad_frame", "message": "limit is 1 to 50"})
				continue
			}
			write(f.page(in.Room, in.Before, in.Limit))
		case "send":
			f.sends++
			if f.refuse[f.sends] {
				write(map[string]string{"type": "error", "code": "rate_limited", "message": "too many messages"})
				continue
			}
			f.held++
			write(map[string]string{"type": "presence", "room": in.Room}, fakeMsg{Type: "message", Room: in.Room, User: "load2", Text: in.Text})
		}
	}
}

// The filler counts what the room holds, paging back when the server
// answers with fewer messages than asked, sends only what is missing, and
// resends a message the rate limit refused.
func TestFillerSendsWhatIsMissing(t *testing.T) {
	text := strings.Repeat("<", 10)
	tests := []struct {
		name                string
		chat                *fakeChat
		want                int
		held, filled, sends int
	}{
		{"two there, one refused", &fakeChat{text: text, held: 2, refuse: map[int]bool{2: true}}, 5, 2, 3, 4},
		{"full, in small pages", &fakeChat{text: text, held: 7, pageCap: 3}, 5, 5, 0, 0},
		{"short, in small pages", &fakeChat{text: text, held: 4, pageCap: 3}, 6, 4, 2, 2},
		{"nothing to fill", &fakeChat{text: text}, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := newTestServer(t, tt.chat)
			ws, _, err := websocket.DefaultDialer.Dial(socketURL(base, "/ws"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			var res hoardResult
			f := &filler{ws: ws, room: "hoard", text: text, limit: 200}
			if err := f.run(tt.want, &res); err != nil {
				t.Fatal(err)
			}
			if res.RoomHeld != tt.held || res.Filled != tt.filled || tt.chat.sends != tt.sends || res.AnswerBytes == 0 {
				t.Errorf("held %d, filled %d, sends %d, answer %d bytes; want %d, %d, %d, > 0",
					res.RoomHeld, res.Filled, tt.chat.sends, res.AnswerBytes, tt.held, tt.filled, tt.sends)
			}
		})
	}
}

// A server that refuses the page size asked for stops the run with an error
// that names the flag, rather than a hoard that measures refusals.
func TestFillerReportsARefusedLimit(t *testing.T) {
	base := newTestServer(t, &fakeChat{text: "<", maxLimit: 50})
	ws, _, err := websocket.DefaultDialer.Dial(socketURL(base, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	f := &filler{ws: ws, room: "hoard", text: "<", limit: 200}
	if err := f.run(5, &hoardResult{}); err == nil || !strings.Contains(err.Error(), "-limit") {
		t.Errorf("err = %v, want one naming -limit", err)
	}
}

// A hoarder the server closes is found closed, with the code it was sent.
func TestHoarderFindsTheCloseCode(t *testing.T) {
	base := newTestServer(t, &fakeChat{closeWith: 1013})
	ws, _, err := websocket.DefaultDialer.Dial(socketURL(base, "/ws"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newLoadConn(ws)
	ws.SetWriteDeadline(time.Now().Add(hoardWriteWait))
	if err := ws.WriteMessage(websocket.TextMessage, historyFrame("hoard", 200, 0)); err != nil {
		t.Fatal(err)
	}
	var e hoarderEnd
	e.finish(c)
	if !e.closed || e.code != 1013 {
		t.Errorf("end %+v: want closed with 1013", e)
	}
}
