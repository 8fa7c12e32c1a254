package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"securechat/app/store"
)

// allRooms lists every room, in the list's order.
func (e *env) allRooms(t *testing.T) []store.Room {
	t.Helper()
	rooms, err := e.Rooms(e.ctx, store.RoomQuery{Limit: 10_000})
	must(t, err, "list rooms")
	return rooms
}

// touch records a room that must not have existed.
func (e *env) touch(t *testing.T, name string, now time.Time) {
	t.Helper()
	created, err := e.TouchRoom(e.ctx, name, now)
	must(t, err, "touch "+name)
	if !created {
		t.Errorf("TouchRoom(%s) on a new room reports it existed", name)
	}
}

// names are the rooms' names.
func names(rooms []store.Room) []string {
	out := []string{}
	for _, r := range rooms {
		out = append(out, r.Name)
	}
	return out
}

// pages reads the whole list Limit rooms at a time, each page after the last
// room of the one before, as a client follows the cursor.
func (e *env) pages(t *testing.T, q store.RoomQuery) [][]string {
	t.Helper()
	var out [][]string
	for len(out) < 100 {
		page, err := e.Rooms(e.ctx, q)
		must(t, err, "list a page of rooms")
		if len(page) > q.Limit {
			t.Fatalf("a page of limit %d has %d rooms", q.Limit, len(page))
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, names(page))
		last := page[len(page)-1]
		q.After = &store.RoomCursor{LastActivity: last.LastActivity, Name: last.Name}
	}
	t.Fatal("the room list does not end")
	return nil
}

var roomPageCases = []scenario{
	{"touch reports creation", func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name    string
			created bool
		}{{"new", true}, {"new", false}, {"other", true}} {
			created, err := e.TouchRoom(e.ctx, tc.name, base)
			must(t, err, "touch "+tc.name)
			if created != tc.created {
				t.Errorf("TouchRoom(%s) created = %v; want %v", tc.name, created, tc.created)
			}
		}
		// A room that came into being by a message exists too.
		e.appendAll(t, msg("written", "alice", "hi", 0))
		if created, err := e.TouchRoom(e.ctx, "written", at(time.Minute)); err != nil || created {
			t.Errorf("TouchRoom(written) = %v, %v; want an existing room", created, err)
		}
		for name, want := range map[string]bool{"new": true, "written": true, "nowhere": false} {
			got, err := e.RoomExists(e.ctx, name)
			must(t, err, "look up "+name)
			if got != want {
				t.Errorf("RoomExists(%s) = %v; want %v", name, got, want)
			}
		}
	}},

	{"pages by activity", func(t *testing.T, e *env) {
		// Seven rooms; b, c and d share one activity time, so the order
		// within a tie (name, descending) and a cursor inside a tie matter.
		e.appendAll(t, msg("a", "alice", "1", 1000))
		e.appendAll(t, msg("b", "alice", "1", 2000), msg("c", "alice", "1", 2000), msg("d", "alice", "1", 2000))
		e.touch(t, "e", at(3*time.Second))
		e.appendAll(t, msg("f", "alice", "1", 4000))
		e.touch(t, "g", at(500*time.Millisecond))
		want := []string{"f", "e", "d", "c", "b", "a", "g"}
		if got := names(e.allRooms(t)); !slices.Equal(got, want) {
			t.Fatalf("Rooms = %v; want %v", got, want)
		}
		for _, limit := range []int{1, 2, 3, 7, 50} {
			var got []string
			pages := e.pages(t, store.RoomQuery{Limit: limit})
			for _, p := range pages {
				got = append(got, p...)
			}
			if !slices.Equal(got, want) {
				t.Errorf("limit %d: pages %v; want %v once each, in order", limit, pages, want)
			}
			if n := (len(want) + limit - 1) / limit; len(pages) != n {
				t.Errorf("limit %d: %d pages; want %d", limit, len(pages), n)
			}
		}
	}},

	{"prefix", func(t *testing.T, e *env) {
		for i, name := range []string{"dev", "dev-ops", "dev_x", "devz", "de", "design", "ops", "dew", "dev9"} {
			e.appendAll(t, msg(name, "alice", "x", i*1000))
		}
		for _, tc := range []struct {
			prefix string
			limit  int
			want   []string
		}{
			{"dev", 50, []string{"dev9", "devz", "dev_x", "dev-ops", "dev"}},
			{"dev", 2, []string{"dev9", "devz"}},
			{"dev-", 50, []string{"dev-ops"}},
			{"dev_", 50, []string{"dev_x"}}, // _ is a name character here, not a wildcard
			{"d", 50, []string{"dev9", "dew", "design", "de", "devz", "dev_x", "dev-ops", "dev"}},
			{"x", 50, []string{}},
			{"dev-ops-more", 50, []string{}},
		} {
			rooms, err := e.Rooms(e.ctx, store.RoomQuery{Prefix: tc.prefix, Limit: tc.limit})
			must(t, err, "list rooms by prefix "+tc.prefix)
			if got := names(rooms); !slices.Equal(got, tc.want) {
				t.Errorf("prefix %q limit %d: %v; want %v", tc.prefix, tc.limit, got, tc.want)
			}
		}
		// Paging within a prefix.
		var got []string
		for _, p := range e.pages(t, store.RoomQuery{Prefix: "dev", Limit: 2}) {
			got = append(got, p...)
		}
		if want := []string{"dev9", "devz", "dev_x", "dev-ops", "dev"}; !slices.Equal(got, want) {
			t.Errorf("pages of prefix dev = %v; want %v", got, want)
		}
	}},

	{"empty rooms drop off and are pruned", func(t *testing.T, e *env) {
		e.touch(t, "old-empty", base)
		e.touch(t, "new-empty", at(time.Hour))
		e.touch(t, "old-written", base)
		e.appendAll(t, msg("old-written", "alice", "hi", 1))
		e.touch(t, "old-joined-later", base) // no message: its age counts from creation
		cutoff := at(30 * time.Minute)
		listed := func(q store.RoomQuery) []string {
			t.Helper()
			q.Limit, q.EmptyBefore = 50, cutoff
			rooms, err := e.Rooms(e.ctx, q)
			must(t, err, "list rooms")
			got := names(rooms)
			slices.Sort(got)
			return got
		}
		want := []string{"new-empty", "old-written"}
		if got := listed(store.RoomQuery{}); !slices.Equal(got, want) {
			t.Errorf("listed = %v; want %v", got, want)
		}
		if got := listed(store.RoomQuery{Prefix: "old"}); !slices.Equal(got, []string{"old-written"}) {
			t.Errorf("listed with prefix old = %v; want [old-written]", got)
		}
		n, err := e.PruneEmptyRooms(e.ctx, cutoff)
		must(t, err, "prune empty rooms")
		if n != 2 {
			t.Errorf("PruneEmptyRooms removed %d rooms; want 2", n)
		}
		if got := names(e.allRooms(t)); !slices.Equal(got, []string{"new-empty", "old-written"}) {
			t.Errorf("after pruning: %v; want [new-empty old-written]", got)
		}
		if ok, err := e.RoomExists(e.ctx, "old-empty"); err != nil || ok {
			t.Errorf("RoomExists(pruned) = %v, %v", ok, err)
		}
		// A pruned room is new again: joining it creates it, and its first
		// message is its seq 1.
		e.touch(t, "old-empty", at(2*time.Hour))
		got := e.appendAll(t, msg("old-empty", "bob", "first", 7_200_001))
		if got[0].Seq != 1 {
			t.Errorf("first message of a re-created room has seq %d", got[0].Seq)
		}
		if n, err := e.PruneEmptyRooms(e.ctx, at(10*time.Hour)); err != nil || n != 1 {
			t.Errorf("second prune = %d, %v; want only new-empty", n, err)
		}
	}},

	{"many rooms, one bounded page", func(t *testing.T, e *env) {
		var batch []store.NewMessage
		for i := range 300 {
			batch = append(batch, msg(fmt.Sprintf("room-%03d", i), "alice", "x", i))
		}
		e.appendAll(t, batch...)
		rooms, err := e.Rooms(e.ctx, store.RoomQuery{Limit: 50})
		must(t, err, "list rooms")
		if len(rooms) != 50 || rooms[0].Name != "room-299" || rooms[49].Name != "room-250" {
			t.Errorf("first page: %d rooms, %v…; want room-299 to room-250", len(rooms), names(rooms[:min(3, len(rooms))]))
		}
		rooms, err = e.Rooms(e.ctx, store.RoomQuery{Prefix: "room-1", Limit: 200})
		must(t, err, "list rooms by prefix")
		if len(rooms) != 100 || !strings.HasPrefix(rooms[99].Name, "room-1") {
			t.Errorf("prefix room-1: %d rooms; want 100", len(rooms))
		}
	}},
}
