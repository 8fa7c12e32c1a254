package main

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// joinRoom joins a room and waits for the join to complete.
func (c *wsClient) joinRoom(room string, since ...int64) {
	c.t.Helper()
	f := map[string]any{"type": "join", "room": room}
	if len(since) > 0 {
		f["since"] = since[0]
	}
	c.send(f)
	c.until("joined", func(f map[string]any) bool { return f["room"] == room })
}

func inRoom(room string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["room"] == room }
}

func TestRoomsFanOutOnlyToMembers(t *testing.T) {
	s := startServer(t, "")
	for _, u := range []string{"alice", "bob", "carol"} {
		s.addUser(u, pw)
	}
	a, b, c := s.dialBearer(s.token("alice", pw)), s.dialBearer(s.token("bob", pw)), s.dialBearer(s.token("carol", pw))
	for _, x := range []*wsClient{a, b, c} {
		x.until("joined", inRoom("general"))
	}
	a.joinRoom("dev")
	b.joinRoom("dev")
	// alice has seen bob in dev: the presence of her own join (alice alone)
	// is behind her, so the one awaited after bob leaves is about his leave.
	a.until("presence", func(f map[string]any) bool {
		return f["room"] == "dev" && slices.Equal(toStrings(f["users"]), []string{"alice", "bob"})
	})
	a.send(map[string]any{"type": "send", "room": "dev", "text": "dev only"})
	if m := b.until("message", nil); m["room"] != "dev" || m["text"] != "dev only" {
		t.Fatalf("bob got %v", m)
	}
	a.send(map[string]any{"type": "send", "room": "general", "text": "for everyone"})
	// carol's first message must be the general one: she never saw the dev one.
	if m := c.until("message", nil); m["room"] != "general" || m["text"] != "for everyone" {
		t.Fatalf("carol got %v, want only general's message", m)
	}
	// After leaving, bob gets nothing more from dev.
	b.send(map[string]any{"type": "leave", "room": "dev"})
	// The leave has taken effect when alice sees dev without bob.
	a.until("presence", func(f map[string]any) bool {
		return f["room"] == "dev" && slices.Equal(toStrings(f["users"]), []string{"alice"})
	})
	a.send(map[string]any{"type": "send", "room": "dev", "text": "bob has left"})
	a.until("message", func(f map[string]any) bool { return f["text"] == "bob has left" })
	a.send(map[string]any{"type": "send", "room": "general", "text": "marker"})
	for {
		m := b.until("message", nil)
		if m["room"] == "dev" {
			t.Fatalf("bob got %v after leaving dev", m)
		}
		if m["text"] == "marker" {
			break
		}
	}
	// The room list knows dev and general.
	a.send(map[string]any{"type": "rooms"})
	rooms := a.until("rooms", nil)["rooms"].([]any)
	var names []string
	for _, r := range rooms {
		names = append(names, r.(map[string]any)["name"].(string))
	}
	if !slices.Contains(names, "dev") || !slices.Contains(names, "general") {
		t.Fatalf("rooms %v", names)
	}
}

// unlimited lifts the message rate limit for tests that send in bulk.
var unlimited = []string{"--message-rate", "1000000/s:1000000"}

func TestHistoryPaging(t *testing.T) {
	s := startServer(t, "", unlimited...)
	s.addUser("alice", pw)
	a := s.dialBearer(s.token("alice", pw))
	a.until("joined", nil)
	a.joinRoom("paging")
	const total = 120
	for i := range total {
		a.send(map[string]any{"type": "send", "room": "paging", "text": fmt.Sprintf("m%03d", i)})
	}
	for range total {
		a.until("message", inRoom("paging"))
	}
	var got []string
	before := int64(0)
	for page := 0; ; page++ {
		a.send(map[string]any{"type": "history", "room": "paging", "before": before, "limit": 50})
		msgs := a.until("history", inRoom("paging"))["messages"].([]any)
		if len(msgs) == 0 {
			break
		}
		if page > 3 {
			t.Fatal("paging does not end")
		}
		var texts []string
		for _, m := range msgs {
			texts = append(texts, m.(map[string]any)["text"].(string))
		}
		if !slices.IsSorted(texts) {
			t.Fatalf("page %d not oldest first: %v", page, texts)
		}
		got = append(texts, got...)
		before = int64(msgs[0].(map[string]any)["id"].(float64))
	}
	if len(got) != total || got[0] != "m000" || got[total-1] != fmt.Sprintf("m%03d", total-1) || !slices.IsSorted(got) {
		t.Fatalf("paged %d messages: %v…", len(got), got[:min(5, len(got))])
	}
	// A new join gets the newest 50.
	b := s.dialBearer(s.token("alice", pw))
	b.until("joined", nil)
	b.send(map[string]any{"type": "join", "room": "paging"})
	h := b.until("history", inRoom("paging"))["messages"].([]any)
	if len(h) != 50 || h[49].(map[string]any)["text"] != "m119" {
		t.Fatalf("join history %d messages", len(h))
	}
}

// TestResumeUnderConcurrentSenders disconnects a reader in the middle of a
// stream and resumes it with since while three others keep sending: the reader
// must end with exactly the ids a reader who never left saw, in order.
func TestResumeUnderConcurrentSenders(t *testing.T) {
	s := startServer(t, "", unlimited...)
	users := []string{"watcher", "reader", "s1", "s2", "s3"}
	for _, u := range users {
		s.addUser(u, pw)
	}
	for _, room := range []string{"busy", "general"} {
		t.Run(room, func(t *testing.T) {
			watcher := s.dialBearer(s.token("watcher", pw))
			watcher.until("joined", nil)
			reader := s.dialBearer(s.token("reader", pw))
			reader.until("joined", nil)
			if room != "general" {
				watcher.joinRoom(room)
				reader.joinRoom(room)
			}
			readerToken := s.token("reader", pw)
			var senders []*wsClient
			for _, u := range []string{"s1", "s2", "s3"} {
				c := s.dialBearer(s.token(u, pw))
				c.until("joined", nil)
				if room != "general" {
					c.joinRoom(room)
				}
				senders = append(senders, c)
			}
			// The senders keep going until the resumed reader has seen live
			// traffic after its join, however slow the machine.
			stop := make(chan struct{})
			var sent atomic.Int64
			var wg sync.WaitGroup
			for i, c := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; ; j++ {
						select {
						case <-stop:
							return
						default:
						}
						if err := c.conn.WriteJSON(map[string]any{"type": "send", "room": room, "text": fmt.Sprintf("s%d-%d", i, j)}); err != nil {
							return
						}
						sent.Add(1)
						time.Sleep(time.Millisecond)
					}
				}()
			}
			var seen []int64
			// Read some, then drop the socket in the middle of the stream.
			for len(seen) < 100 {
				m := reader.until("message", inRoom(room))
				seen = append(seen, int64(m["id"].(float64)))
			}
			reader.conn.Close()
			time.Sleep(20 * time.Millisecond) // away long enough to miss some messages
			reader = s.dialBearer(readerToken)
			reader.until("welcome", nil)
			if room == "general" {
				// general is joined on connect; the resume is a join of a room
				// the socket is already in.
				reader.until("joined", inRoom("general"))
			}
			resumeFrom := seen[len(seen)-1]
			before := len(seen)
			reader.send(map[string]any{"type": "join", "room": room, "since": resumeFrom})
			var boundary int64 = -1 // last_id of the resume's joined frame
			live := 0
			for live < 100 {
				f, err := reader.read(10 * time.Second)
				if err != nil {
					t.Fatalf("after %d messages: %v", len(seen), err)
				}
				if f["type"] == "joined" && f["room"] == room {
					boundary = int64(f["last_id"].(float64))
				}
				if f["type"] == "message" && f["room"] == room {
					id := int64(f["id"].(float64))
					seen = append(seen, id)
					if boundary >= 0 && id > boundary {
						live++
					}
				}
			}
			close(stop)
			wg.Wait()
			// Every acknowledged message: the senders read nothing, so count
			// what they sent, and wait for the reader and the watcher to have it all.
			want := int(sent.Load())
			for len(seen) < want {
				m, err := reader.read(10 * time.Second)
				if err != nil {
					t.Fatalf("reader has %d of %d: %v", len(seen), want, err)
				}
				if m["type"] == "message" && m["room"] == room {
					seen = append(seen, int64(m["id"].(float64)))
				}
			}
			replayed := 0
			for _, id := range seen[before:] {
				if id <= boundary {
					replayed++
				}
			}
			// The case is only a test of resuming if some messages were
			// missed and replayed, and others kept arriving live after the join.
			if replayed == 0 {
				t.Fatalf("replayed %d: the reader missed nothing", replayed)
			}
			if room == "general" {
				// Messages that arrived live between the automatic join and the
				// resume come before the replayed ones: complete, not in order.
				slices.Sort(seen)
			}
			t.Logf("replayed %d, then %d in all", replayed, len(seen)-before)
			var all []int64
			for len(all) < want {
				m := watcher.until("message", inRoom(room))
				all = append(all, int64(m["id"].(float64)))
			}
			if !slices.Equal(seen, all) {
				d := firstDiff(seen, all)
				t.Fatalf("resumed reader saw %d ids, watcher %d; first difference at %d (resumed from %d, %d read before): reader %v watcher %v", len(seen), len(all), d, resumeFrom, before, seen[max(0, d-3):min(len(seen), d+4)], all[max(0, d-3):min(len(all), d+4)])
			}
			if !slices.IsSorted(all) {
				t.Fatal("ids out of order")
			}
			// Nothing more arrives: no duplicate after the stream.
			senders[0].send(map[string]any{"type": "send", "room": room, "text": "end"})
			if m := reader.until("message", inRoom(room)); m["text"] != "end" {
				t.Fatalf("after the stream the reader got %v, want the end marker", m)
			}
		})
	}
}

func firstDiff(a, b []int64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestPresenceTwoTabs(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	bob := s.dialBearer(s.token("bob", pw))
	bob.until("joined", nil)
	bob.joinRoom("p")
	tab1 := s.dialBearer(s.token("alice", pw))
	tab2 := s.dialBearer(s.token("alice", pw))
	for _, tab := range []*wsClient{tab1, tab2} {
		tab.until("joined", nil)
		tab.joinRoom("p")
	}
	waitPresence := func(c *wsClient, want ...string) {
		t.Helper()
		c.until("presence", func(f map[string]any) bool {
			if f["room"] != "p" {
				return false
			}
			var got []string
			for _, u := range f["users"].([]any) {
				got = append(got, u.(string))
			}
			return slices.Equal(got, want)
		})
	}
	waitPresence(bob, "alice", "bob")
	// The joiner gets the list too, with alice once.
	waitPresence(tab2, "alice", "bob")

	tab1.conn.Close()
	// With one tab left alice is still present; a marker message proves bob
	// saw no presence without her before it.
	tab2.send(map[string]any{"type": "send", "room": "p", "text": "still here"})
	for {
		f := bob.next()
		if f["type"] == "presence" && !slices.Contains(toStrings(f["users"]), "alice") {
			t.Fatalf("alice left with a tab still open: %v", f)
		}
		if f["type"] == "message" && f["text"] == "still here" {
			break
		}
	}
	tab2.conn.Close()
	waitPresence(bob, "bob")
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
