package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"securechat/app/store"
)

// texts returns the texts of a history or replay's messages.
func texts(msgs []any) []string {
	var out []string
	for _, m := range msgs {
		if s, ok := m.(map[string]any)["text"].(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// historyTexts asks for a room's history from the store.
func (c *wsClient) historyTexts(room string) []string {
	c.t.Helper()
	c.send(map[string]any{"type": "history", "room": room, "limit": 200})
	msgs, _ := c.until("history", inRoom(room))["messages"].([]any)
	return texts(msgs)
}

// filesHolding returns the files of dir (recursively) whose bytes contain s.
func filesHolding(t *testing.T, dir, s string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, filepath.Base(path))
		}
		return nil
	})
	return out
}

// expireUntil moves the clock a minute at a time (the expirer's interval)
// until cond holds, with a generous deadline.
func expireUntil(t *testing.T, clk *fakeClock, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("retention: %s did not happen within 20s", what)
		}
		clk.Advance(time.Minute)
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRetentionDeletesForReal: with --retention 2h, messages sent more than
// 2h ago are deleted with their edits, and those sent since are all kept;
// the join history (the room's cache), a history request and a replay agree;
// after the pass no file in --data holds any byte of the expired texts; the
// metric counts them.
func TestRetentionDeletesForReal(t *testing.T) {
	clk := newFakeClock()
	addr := freeAddr(t)
	s := startServerOpts(t, "", nil, options{clock: clk}, "--retention", "2h", "--token-ttl", "200h", "--metrics-addr", addr)
	s.addUser("alice", pw)
	alice := onNode(t, s, s.token("alice", pw))
	var old []int64
	for _, text := range []string{"old-secret-one", "old-secret-two", "old-secret-three"} {
		old = append(old, alice.sent("general", text))
	}
	// An edit of an old message, made later: its text goes with the message.
	clk.Advance(90 * time.Minute)
	alice.send(map[string]any{"type": "edit", "room": "general", "id": old[0], "text": "old-secret-edited"})
	alice.until("edited", inRoom("general"))
	kept := []string{"kept-one", "kept-two"}
	clk.Advance(45 * time.Minute) // the old ones are 2h15 old now, these 0
	for _, text := range kept {
		alice.sent("general", text)
	}
	// The room is in memory with the old ones in its recent cache.

	expireUntil(t, clk, "the expiry of the old messages", func() bool { return scrape(t, addr, "securechat_messages_expired_total") == 3 })
	if got := alice.historyTexts("general"); !slices.Equal(got, kept) {
		t.Errorf("history after expiry = %q; want %q", got, kept)
	}
	// Search agrees: the index lost the expired texts with the rows.
	for query, want := range map[string]int{"old-secret": 0, "kept": 2} {
		alice.send(map[string]any{"type": "search", "query": query})
		r := alice.until("results", func(f map[string]any) bool { return f["query"] == query })
		if msgs, _ := r["messages"].([]any); len(msgs) != want {
			t.Errorf("search %q after expiry: %q; want %d results", query, texts(msgs), want)
		}
	}
	// A new socket: its join history comes from the room's cache.
	fresh := s.dialBearer(s.token("alice", pw))
	h := fresh.until("history", inRoom("general"))
	if got := texts(h["messages"].([]any)); !slices.Equal(got, kept) {
		t.Errorf("join history after expiry = %q; want %q (the cache must agree with the store)", got, kept)
	}
	fresh.until("joined", inRoom("general"))
	// A resume since before the expired ids gets what remains, nothing else.
	fresh.send(map[string]any{"type": "leave", "room": "general"})
	fresh.send(map[string]any{"type": "join", "room": "general", "since": old[0] - 1})
	var replayed []string
	for {
		f := fresh.next()
		if f["room"] != "general" {
			continue
		}
		if f["type"] == "joined" {
			break
		}
		if f["type"] == "message" {
			replayed = append(replayed, f["text"].(string))
		}
	}
	if !slices.Equal(replayed, kept) {
		t.Errorf("replay since %d after expiry = %q; want %q", old[0]-1, replayed, kept)
	}
	// Gone from every file (the pass scrubs after deleting).
	expireUntil(t, clk, "the scrub of the expired texts", func() bool { return len(filesHolding(t, s.Data, "old-secret")) == 0 })
	// The clock moves on: what was kept is kept until it is 2h old.
	if got := alice.historyTexts("general"); !slices.Equal(got, kept) {
		t.Errorf("history later = %q; want %q", got, kept)
	}
}

// TestRoomRetention: the owner of a private room sets it a retention of 1
// day with a retention frame; without a server retention, that room's
// messages older than a day go and general's stay, on SQLite and on
// PostgreSQL. Who may set it: the owner, an admin for any room; not a
// member, not a non-admin for a public room; days out of range are a bad
// frame.
func TestRoomRetention(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			flags := []string{"--token-ttl", "200h"}
			if backend == "postgres" {
				flags = append(flags, "--database-url", postgresURL(t))
			}
			clk := newFakeClock()
			s := startServerOpts(t, "", nil, options{clock: clk}, flags...)
			s.addUser("alice", pw)
			s.addUser("bob", pw)
			if out, err := s.cli(pw+"\n", "user", "add", "root", "--admin"); err != nil {
				t.Fatalf("user add root --admin: %v %s", err, out)
			}
			alice := onNode(t, s, s.token("alice", pw))
			bob := onNode(t, s, s.token("bob", pw))
			root := onNode(t, s, s.token("root", pw))
			alice.send(map[string]any{"type": "create", "room": "hideout", "private": true})
			alice.until("joined", inRoom("hideout"))
			alice.send(map[string]any{"type": "invite", "room": "hideout", "user": "bob"})
			bob.until("invited", inRoom("hideout"))

			cases := []struct {
				who  *wsClient
				room string
				days int
				code string // "" accepted
			}{
				{bob, "hideout", 1, "forbidden"},   // a member, not the owner
				{bob, "general", 1, "forbidden"},   // a public room: admins only
				{bob, "nowhere", 1, "forbidden"},   // a missing room looks the same
				{alice, "general", 1, "forbidden"}, // owner of hideout, not of general
				{alice, "hideout", -1, "bad_frame"},
				{alice, "hideout", store.MaxRetentionDays + 1, "bad_frame"},
				{root, "general", 0, ""}, // an admin, any room
				{alice, "hideout", 1, ""},
			}
			for _, tc := range cases {
				tc.who.send(map[string]any{"type": "retention", "room": tc.room, "days": tc.days})
				f := tc.who.untilAny(func(f map[string]any) bool { return f["type"] == "error" || f["type"] == "retention" })
				if tc.code == "" {
					if f["type"] != "retention" || f["room"] != tc.room || f["days"] != float64(tc.days) {
						t.Errorf("retention %s %d days: %v; want it answered", tc.room, tc.days, f)
					}
				} else if f["type"] != "error" || f["code"] != tc.code {
					t.Errorf("retention %s %d days: %v; want error %s", tc.room, tc.days, f, tc.code)
				}
			}

			alice.sent("hideout", "hideout-old")
			alice.sent("general", "general-old")
			clk.Advance(25 * time.Hour)
			alice.sent("hideout", "hideout-new")
			expireUntil(t, clk, "the expiry of hideout's old message", func() bool {
				return slices.Equal(alice.historyTexts("hideout"), []string{"hideout-new"})
			})
			if got := alice.historyTexts("general"); !slices.Equal(got, []string{"general-old"}) {
				t.Errorf("general (no retention) = %q; want its message kept", got)
			}
		})
	}
}

// untilAny reads until a frame matches.
func (c *wsClient) untilAny(match func(map[string]any) bool) map[string]any {
	c.t.Helper()
	for {
		if f := c.next(); match(f) {
			return f
		}
	}
}
