package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestRoomStartedReachesEverySocket: a room's first message is announced to
// every socket, members of it or not, with its id and time, so room lists
// show it at once; its second message is not announced again.
func TestRoomStartedReachesEverySocket(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	a, b := s.dialBearer(s.token("alice", pw)), s.dialBearer(s.token("bob", pw))
	for _, x := range []*wsClient{a, b} {
		x.until("joined", inRoom("general"))
	}
	// The recipe's echo socket speaks no protocol: it never gets a room frame.
	echo, _, err := s.dial("/secured-ws", http.Header{"Authorization": {"Bearer " + s.token("bob", pw)}})
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	echo.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := echo.ReadMessage(); err != nil || string(msg) != "Welcome bob!" {
		t.Fatalf("/secured-ws welcome: %q %v", msg, err)
	}
	a.joinRoom("fresh")
	post(a, "fresh", "first")
	f := b.until("room", inRoom("fresh"))
	if id, ok := f["last_id"].(float64); !ok || id <= 0 {
		t.Errorf("room frame %v: want a positive last_id", f)
	}
	if at, _ := f["last_activity"].(string); !strings.Contains(at, "T") {
		t.Errorf("room frame %v: want last_activity as RFC 3339", f)
	}
	// The second message is not the room's first: bob hears nothing of it,
	// and the next room frame he gets is about the next new room.
	post(a, "fresh", "second")
	a.joinRoom("later")
	post(a, "later", "first here")
	if f := b.until("room", nil); f["room"] != "later" {
		t.Errorf("after fresh's second message, bob got %v; want the frame for #later", f)
	}
	if err := echo.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := echo.ReadMessage(); err != nil || string(msg) != "You wrote: hi" {
		t.Errorf("/secured-ws after two new rooms: %q %v; want only its echo", msg, err)
	}
}

// TestRateLimitedSaysWhenInWholeSeconds: a send refused by the message rate
// gets an error with retry_after, whole seconds and at least 1, and a
// message saying the same, never "0.0s".
func TestRateLimitedSaysWhenInWholeSeconds(t *testing.T) {
	s := startServer(t, "", "--message-rate", "1/2s:1")
	s.addUser("alice", pw)
	a := s.dialBearer(s.token("alice", pw))
	a.until("joined", inRoom("general"))
	post(a, "general", "allowed")
	a.send(map[string]any{"type": "send", "room": "general", "text": "refused", "ref": "r1"})
	f := a.until("error", func(f map[string]any) bool { return f["ref"] == "r1" })
	secs, ok := f["retry_after"].(float64)
	if f["code"] != "rate_limited" || !ok || secs < 1 || secs > 2 || secs != float64(int(secs)) {
		t.Fatalf("refusal %v: want rate_limited with retry_after 1 or 2", f)
	}
	if msg, _ := f["message"].(string); strings.Contains(msg, ".") {
		t.Errorf("refusal message %q: want whole seconds", msg)
	}
}
