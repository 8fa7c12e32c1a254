package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"securechat/app/store"
	"securechat/app/store/sqlite"
)

// errorFrame waits for the next error frame.
func (c *wsClient) errorFrame() map[string]any {
	c.t.Helper()
	return c.until("error", nil)
}

// roomsPage asks for a page of the room list and returns the answer.
func (c *wsClient) roomsPage(req map[string]any) (names []string, answer map[string]any) {
	c.t.Helper()
	req["type"] = "rooms"
	c.send(req)
	f := c.until("rooms", nil)
	for _, r := range f["rooms"].([]any) {
		names = append(names, r.(map[string]any)["name"].(string))
	}
	return names, f
}

// TestRoomCreationLimitPerUser: one user creating rooms past --room-create-rate
// is refused with rate_limited, the refusal is counted, the room is not
// created; joining rooms that exist still works, and another user is unaffected.
func TestRoomCreationLimitPerUser(t *testing.T) {
	addr := freeAddr(t)
	s := startServer(t, "", "--metrics-addr", addr, "--room-create-rate", "3/1h:3")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	// bob connects first: creating general is his.
	b := s.dialBearer(s.token("bob", pw))
	b.until("joined", inRoom("general"))
	a := s.dialBearer(s.token("alice", pw))
	a.until("joined", inRoom("general"))

	for _, room := range []string{"a1", "a2", "a3"} {
		a.joinRoom(room)
	}
	a.send(map[string]any{"type": "join", "room": "a4"})
	e := a.errorFrame()
	if e["code"] != "rate_limited" || !strings.Contains(e["message"].(string), "new rooms") {
		t.Fatalf("alice's fourth new room: %v; want rate_limited about new rooms", e)
	}
	if names, _ := a.roomsPage(map[string]any{"prefix": "a"}); !slices.Equal(names, []string{"a3", "a2", "a1"}) {
		t.Errorf("rooms starting with a: %v; want a3 a2 a1 (a4 refused, not created)", names)
	}
	if got := scrape(t, addr, "securechat_room_create_refusals_total"); got != 1 {
		t.Errorf("securechat_room_create_refusals_total = %v; want 1", got)
	}

	// bob still creates rooms; one he leaves is no longer in memory but exists,
	// and alice, out of creations, may join it and rooms already open.
	b.joinRoom("b1")
	b.joinRoom("b2")
	b.send(map[string]any{"type": "leave", "room": "b2"})
	b.roomsPage(map[string]any{}) // the leave is done once a later answer comes
	a.joinRoom("b2")
	a.joinRoom("b1")
	a.joinRoom("a1")
	a.send(map[string]any{"type": "send", "room": "b2", "text": "still here"})
	a.until("message", inRoom("b2"))
	if got := scrape(t, addr, "securechat_room_create_refusals_total"); got != 1 {
		t.Errorf("after joining existing rooms, refusals = %v; want still 1", got)
	}
}

// TestRoomsListBoundedAndPaged: with hundreds of rooms, a rooms answer holds
// one bounded page, most recently active first; the prefix filter and the
// cursor reach every room once.
func TestRoomsListBoundedAndPaged(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	// 300 rooms with a message each, written beside the server as another node would.
	db, err := sqlite.Open(context.Background(), s.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now().Add(-time.Hour)
	var msgs []store.NewMessage
	for i := range 300 {
		msgs = append(msgs, store.NewMessage{Room: fmt.Sprintf("room-%03d", i), UserID: 1, User: "alice",
			Text: "x", TS: start.Add(time.Duration(i) * time.Second)})
	}
	if _, err := db.AppendMessages(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	// general is created at connect, after them: the most recently active.
	want := []string{"general"}
	for i := 299; i >= 0; i-- {
		want = append(want, fmt.Sprintf("room-%03d", i))
	}
	a := s.dialBearer(s.token("alice", pw))
	a.until("joined", inRoom("general"))

	size := func(f map[string]any) int { b, _ := json.Marshal(f); return len(b) }
	names, f := a.roomsPage(map[string]any{})
	if !slices.Equal(names, want[:50]) || f["next"] == nil {
		t.Errorf("plain rooms request: %d rooms %v…, next %v; want the 50 most active and a cursor", len(names), names[:min(3, len(names))], f["next"])
	}
	if n := size(f); n > 8<<10 {
		t.Errorf("plain rooms answer is %d bytes; want at most 8 KiB", n)
	}
	names, f = a.roomsPage(map[string]any{"limit": 200})
	if !slices.Equal(names, want[:200]) || size(f) > 32<<10 {
		t.Errorf("limit 200: %d rooms, %d bytes; want the first 200 in at most 32 KiB", len(names), size(f))
	}

	// Following the cursor lists every room once, in order.
	var all []string
	req := map[string]any{"limit": 64}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("the cursor does not end")
		}
		names, f := a.roomsPage(req)
		all = append(all, names...)
		next, ok := f["next"].(string)
		if !ok {
			break
		}
		req = map[string]any{"limit": 64, "cursor": next}
	}
	if !slices.Equal(all, want) {
		t.Errorf("paged list has %d rooms; want %d, each once, most active first", len(all), len(want))
	}

	// The prefix filter, as the page's room search uses it.
	names, f = a.roomsPage(map[string]any{"prefix": "room-1"})
	if !slices.Equal(names, want[101:151]) || f["prefix"] != "room-1" {
		t.Errorf("prefix room-1: %v… (prefix %v); want room-199 down to room-150", names[:min(3, len(names))], f["prefix"])
	}
	names, f = a.roomsPage(map[string]any{"prefix": "room-19", "limit": 20})
	if !slices.Equal(names, want[101:111]) || f["next"] != nil {
		t.Errorf("prefix room-19: %v, next %v; want room-199 to room-190 and no cursor", names, f["next"])
	}
	names, _ = a.roomsPage(map[string]any{"prefix": "gen"})
	if !slices.Equal(names, []string{"general"}) {
		t.Errorf("prefix gen: %v", names)
	}

	for _, tc := range []struct {
		req  map[string]any
		code string
	}{
		{map[string]any{"type": "rooms", "limit": 201}, "bad_frame"},
		{map[string]any{"type": "rooms", "limit": -1}, "bad_frame"},
		{map[string]any{"type": "rooms", "prefix": "Room"}, "bad_room"},
		{map[string]any{"type": "rooms", "prefix": strings.Repeat("a", 65)}, "bad_room"},
		{map[string]any{"type": "rooms", "cursor": "yesterday"}, "bad_frame"},
		{map[string]any{"type": "rooms", "cursor": "-5.general"}, "bad_frame"},
		{map[string]any{"type": "rooms", "cursor": "5.Bad Name"}, "bad_frame"},
	} {
		a.send(tc.req)
		if e := a.errorFrame(); e["code"] != tc.code {
			t.Errorf("%v: %v; want %s", tc.req, e, tc.code)
		}
	}
	// The socket still serves.
	if names, _ := a.roomsPage(map[string]any{"limit": 1}); !slices.Equal(names, []string{"general"}) {
		t.Errorf("after the refusals, limit 1: %d rooms %v…; want general", len(names), names[:min(3, len(names))])
	}
}

// TestEmptyRoomsDropOff: a room that never had a message leaves the list, and
// the store, after --empty-room-ttl; a room with messages stays.
func TestEmptyRoomsDropOff(t *testing.T) {
	s := startServer(t, "", "--empty-room-ttl", "1s")
	s.addUser("alice", pw)
	a := s.dialBearer(s.token("alice", pw))
	a.until("joined", inRoom("general"))
	a.joinRoom("ghost")
	a.joinRoom("spoken")
	a.send(map[string]any{"type": "send", "room": "spoken", "text": "I was here"})
	a.until("message", inRoom("spoken"))
	if names, _ := a.roomsPage(map[string]any{}); !slices.Contains(names, "ghost") {
		t.Fatalf("a new empty room is not listed: %v", names)
	}

	db, err := sqlite.Open(context.Background(), s.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A real wait of a second or two: the prune runs on the hub's ticker
	// (at most every second), which a clock injected into the server would
	// not move.
	deadline := time.Now().Add(15 * time.Second)
	for {
		names, _ := a.roomsPage(map[string]any{})
		exists, err := db.RoomExists(context.Background(), "ghost")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(names, "ghost") && !exists {
			if !slices.Equal(names, []string{"spoken"}) {
				t.Errorf("after the TTL: %v; want only spoken (general and ghost never had a message)", names)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ghost still listed (%v) or stored (%v) long after the TTL", names, exists)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Members of an empty room can still talk in it; its first message brings it back.
	a.send(map[string]any{"type": "send", "room": "ghost", "text": "boo"})
	a.until("message", inRoom("ghost"))
	if names, _ := a.roomsPage(map[string]any{}); !slices.Equal(names, []string{"ghost", "spoken"}) {
		t.Errorf("after a message in ghost: %v; want ghost, spoken", names)
	}
}

// TestDefaultRoomNotCharged: general, joined on connect, is never refused for
// the room creation limit, even after it was pruned for want of messages and
// the user has no creations left.
func TestDefaultRoomNotCharged(t *testing.T) {
	s := startServer(t, "", "--room-create-rate", "1/1h:1", "--empty-room-ttl", "1s")
	s.addUser("alice", pw)
	tok := s.token("alice", pw)
	a := s.dialBearer(tok)
	a.until("joined", inRoom("general"))
	a.joinRoom("mine") // alice's one creation
	a.conn.Close()

	db, err := sqlite.Open(context.Background(), s.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Polled in real time: the prune runs on the hub's ticker (see TestEmptyRoomsDropOff).
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		exists, err := db.RoomExists(context.Background(), "general")
		if err != nil {
			t.Fatal(err)
		}
		if !exists {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the empty general was not pruned")
		}
	}
	b := s.dialBearer(tok)
	if f := b.next(); f["type"] != "welcome" {
		t.Fatalf("first frame %v", f)
	}
	if f := b.next(); f["type"] != "unread" {
		t.Fatalf("after the welcome: %v; want the user's rooms (unread)", f)
	}
	if f := b.next(); f["type"] != "history" || f["room"] != "general" {
		t.Fatalf("after the welcome: %v; want general's history (the join, not a refusal)", f)
	}
	b.until("joined", inRoom("general"))
	b.send(map[string]any{"type": "join", "room": "another"})
	if e := b.errorFrame(); e["code"] != "rate_limited" {
		t.Errorf("a second creation: %v; want rate_limited", e)
	}
}
