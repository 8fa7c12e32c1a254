package main

import (
	"context"
	"testing"

	"securechat/app/store/sqlite"
)

// The rooms a user has joined, and how far they have read each, belong to the
// account (docs/PROTOCOL.md, "Your rooms and unread counts").

// welcomeUnread reads a new socket's first two frames, welcome then unread,
// and returns the unread frame's rooms by name and its current room.
func (c *wsClient) welcomeUnread() (rooms map[string]map[string]any, current string) {
	c.t.Helper()
	if f := c.next(); f["type"] != "welcome" {
		c.t.Fatalf("first frame %v; want welcome", f)
	}
	f := c.next()
	if f["type"] != "unread" {
		c.t.Fatalf("frame after welcome %v; want unread", f)
	}
	rooms = map[string]map[string]any{}
	list, _ := f["rooms"].([]any)
	for _, r := range list {
		r := r.(map[string]any)
		rooms[r["room"].(string)] = r
	}
	current, _ = f["current"].(string)
	return rooms, current
}

// sent sends text to room from c and returns the stored message's id.
func (c *wsClient) sent(room, text string) int64 {
	c.t.Helper()
	c.send(map[string]any{"type": "send", "room": room, "text": text})
	m := c.until("message", func(f map[string]any) bool { return f["room"] == room && f["text"] == text })
	return int64(m["id"].(float64))
}

// errorCode waits for the next error frame and returns its code.
func (c *wsClient) errorCode() string {
	c.t.Helper()
	code, _ := c.until("error", nil)["code"].(string)
	return code
}

func TestUnreadListsJoinedRoomsOnANewSocket(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	a := s.dialBearer(s.token("alice", pw))
	a.until("joined", inRoom("general"))
	bobToken := s.token("bob", pw)
	b := s.dialBearer(bobToken)
	rooms, current := b.welcomeUnread()
	if len(rooms) != 1 || rooms["general"] == nil || rooms["general"]["count"] != 0.0 || current != "general" {
		t.Fatalf("a new user's unread: %v, current %q; want general alone, 0 unread, current general", rooms, current)
	}
	b.until("joined", inRoom("general"))
	b.joinRoom("dev-team")
	a.joinRoom("dev-team")
	a.sent("dev-team", "one")
	last := a.sent("dev-team", "two")
	a.sent("general", "hello")
	b.until("message", func(f map[string]any) bool { return f["text"] == "hello" })

	// Another device of bob's: the same rooms, the same counts.
	b2 := s.dialBearer(s.token("bob", pw))
	rooms, current = b2.welcomeUnread()
	if len(rooms) != 2 {
		t.Fatalf("unread rooms %v; want general and dev-team", rooms)
	}
	if got := rooms["dev-team"]["count"]; got != 2.0 {
		t.Errorf("dev-team unread = %v; want 2", got)
	}
	if got := rooms["general"]["count"]; got != 1.0 {
		t.Errorf("general unread = %v; want 1", got)
	}
	if current != "dev-team" {
		t.Errorf("current = %q; want dev-team (joined last)", current)
	}
	// Reading dev-team up to its newest clears it there, on the next socket too.
	b.send(map[string]any{"type": "read", "room": "dev-team", "id": last})
	if f := b2.until("read", nil); f["room"] != "dev-team" || f["id"] != float64(last) {
		t.Fatalf("echo %v; want read dev-team %d", f, last)
	}
	rooms, current = s.dialBearer(bobToken).welcomeUnread()
	if rooms["dev-team"]["count"] != 0.0 || rooms["dev-team"]["last_read"] != float64(last) || current != "dev-team" {
		t.Errorf("after reading: %v, current %q; want dev-team read to %d, 0 unread, current", rooms["dev-team"], current, last)
	}
}

func TestReadNeverMovesBackAndReachesTheOtherSockets(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	a := s.dialBearer(s.token("alice", pw))
	a.until("joined", inRoom("general"))
	b1 := s.dialBearer(s.token("bob", pw))
	b1.until("joined", inRoom("general"))
	b1.joinRoom("dev")
	b2 := s.dialBearer(s.token("bob", pw))
	b2.until("joined", inRoom("general"))
	a.joinRoom("dev")
	m1 := a.sent("dev", "m1")
	a.sent("dev", "m2")
	m3 := a.sent("dev", "m3")

	b1.send(map[string]any{"type": "read", "room": "dev", "id": m3})
	if f := b2.until("read", nil); f["room"] != "dev" || f["id"] != float64(m3) {
		t.Fatalf("bob's other socket got %v; want read dev %d", f, m3)
	}
	// Backwards: nothing moves, nothing is echoed.
	b1.send(map[string]any{"type": "read", "room": "dev", "id": m1})
	m4 := a.sent("dev", "m4")
	b1.send(map[string]any{"type": "read", "room": "dev", "id": m4})
	if f := b2.until("read", nil); f["id"] != float64(m4) {
		t.Fatalf("after a read of an older message, the next echo is %v; want read dev %d", f, m4)
	}
	// Past the newest: clamped, so later messages still count.
	b1.send(map[string]any{"type": "read", "room": "dev", "id": m4 + 1000})
	// The read is done before m5 is sent: frames are handled in order.
	b1.send(map[string]any{"type": "rooms"})
	b1.until("rooms", nil)
	a.sent("dev", "m5")
	rooms, _ := s.dialBearer(s.token("bob", pw)).welcomeUnread()
	if got := rooms["dev"]; got["last_read"] != float64(m4) || got["count"] != 1.0 {
		t.Errorf("dev = %v; want read to %d, 1 unread", got, m4)
	}
	// The socket that read does not get its own echo: its next frame is
	// the answer to a later request.
	b1.send(map[string]any{"type": "rooms"})
	for {
		f := b1.next()
		if f["type"] == "read" {
			t.Fatalf("the reading socket got its own echo %v", f)
		}
		if f["type"] == "rooms" {
			break
		}
	}
}

func TestReadRefusedOutsideTheUsersRooms(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	a := s.dialBearer(s.token("alice", pw))
	a.until("joined", inRoom("general"))
	a.joinRoom("secret")
	id := a.sent("secret", "not for bob")
	b := s.dialBearer(s.token("bob", pw))
	b.until("joined", inRoom("general"))
	for _, c := range []struct {
		frame map[string]any
		code  string
	}{
		{map[string]any{"type": "read", "room": "secret", "id": id}, "not_joined"},
		{map[string]any{"type": "read", "room": "secret"}, "bad_frame"},
		{map[string]any{"type": "read", "room": "secret", "id": 0}, "bad_frame"},
		{map[string]any{"type": "read", "room": "secret", "id": "1"}, "bad_frame"},
		{map[string]any{"type": "read", "room": "Bad Room", "id": 1}, "bad_room"},
		{map[string]any{"type": "read", "room": "secret", "id": 1, "since": 1, "x": 1}, "bad_frame"},
	} {
		b.send(c.frame)
		if got := b.errorCode(); got != c.code {
			t.Errorf("%v: error %q; want %q", c.frame, got, c.code)
		}
	}
	// A room left is no longer the user's; general always is.
	b.joinRoom("dev")
	b.send(map[string]any{"type": "leave", "room": "dev"})
	b.send(map[string]any{"type": "leave", "room": "general"})
	b.send(map[string]any{"type": "read", "room": "dev", "id": id})
	if got := b.errorCode(); got != "not_joined" {
		t.Errorf("read of a room left: %q; want not_joined", got)
	}
	rooms, current := s.dialBearer(s.token("bob", pw)).welcomeUnread()
	if len(rooms) != 1 || rooms["general"] == nil || current != "general" {
		t.Errorf("after leaving dev and general: %v, current %q; want general alone", rooms, current)
	}
}

// A room joined on a socket whose membership is missing from the store (its
// record failed, or the room was pruned while empty) becomes the user's
// again on a read, instead of the read being refused.
func TestReadOfAJoinedRoomNotOnRecord(t *testing.T) {
	s := startServer(t, "")
	s.addUser("bob", pw)
	b := s.dialBearer(s.token("bob", pw))
	b.until("joined", inRoom("general"))
	b.joinRoom("dev")
	id := b.sent("dev", "hello")

	db, err := sqlite.Open(context.Background(), s.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByName(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.LeaveRoom(context.Background(), u.ID, "dev"); err != nil {
		t.Fatal(err)
	}
	b.send(map[string]any{"type": "read", "room": "dev", "id": id})
	b.send(map[string]any{"type": "rooms"})
	for {
		f := b.next()
		if f["type"] == "error" {
			t.Fatalf("a read of a room the socket is in: %v", f)
		}
		if f["type"] == "rooms" {
			break
		}
	}
	rooms, current := s.dialBearer(s.token("bob", pw)).welcomeUnread()
	if rooms["dev"] == nil || rooms["dev"]["last_read"] != float64(id) || current != "dev" {
		t.Errorf("after the read: %v, current %q; want dev read to %d, current", rooms, current, id)
	}
}
