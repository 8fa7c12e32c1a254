package main

import (
	"fmt"
	"testing"
	"time"
)

// Mentions and typing (docs/PROTOCOL.md, "Mentions and typing").

// noFrame fails for each frame of type typ among fs.
func noFrame(t *testing.T, who string, fs []map[string]any, typ string) {
	t.Helper()
	for _, f := range fs {
		if f["type"] == typ {
			t.Errorf("%s got %v", who, f)
		}
	}
}

// mentionOf waits for c's mention frame of message id and checks it.
func mentionOf(c *wsClient, room string, id any, user, text string) {
	c.t.Helper()
	f := c.until("mention", func(f map[string]any) bool { return f["id"] == id })
	if f["room"] != room || f["user"] != user || f["text"] != text {
		c.t.Errorf("mention %v; want room %s, user %s, text %q", f, room, user, text)
	}
}

// mentionScenario: alice on node a mentions bob, whose sockets on a and b
// never joined the room; carol (not a member of the private room) and alice
// herself get no mention; the unread frame counts bob's mentions until he
// reads past them, and a deleted message's mention does not count.
func mentionScenario(t *testing.T, a, b *testServer) {
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		a.addUser(u, pw)
	}
	alice := onNode(t, a, a.token("alice", pw))
	bobHere, bobThere := onNode(t, a, a.token("bob", pw)), onNode(t, b, b.token("bob", pw))
	carol, dave := onNode(t, b, b.token("carol", pw)), onNode(t, a, a.token("dave", pw))

	alice.send(map[string]any{"type": "create", "room": "plans", "private": true})
	alice.until("joined", inRoom("plans"))
	alice.send(map[string]any{"type": "invite", "room": "plans", "user": "bob"})
	alice.until("members", inRoom("plans"))
	bobThere.until("invited", inRoom("plans"))

	text := "@bob @carol @Alice see the plans"
	alice.send(map[string]any{"type": "send", "room": "plans", "text": text})
	id := alice.until("message", hasText(text))["id"]
	mentionOf(bobHere, "plans", id, "alice", text)
	mentionOf(bobThere, "plans", id, "alice", text)
	// A second mention of bob only: user events of a node arrive in order,
	// so whatever carol or alice would have got of the first has arrived
	// once bob has this one.
	again := "@bob again"
	alice.send(map[string]any{"type": "send", "room": "plans", "text": again})
	id2 := alice.until("message", hasText(again))["id"]
	mentionOf(bobThere, "plans", id2, "alice", again)
	mentionOf(bobHere, "plans", id2, "alice", again)
	noFrame(t, "carol (not a member)", carol.sentinel(), "mention")
	noFrame(t, "alice (the author)", alice.sentinel(), "mention")

	// A public room: a member is whoever has it among their rooms.
	bobHere.joinRoom("lobby")
	alice.joinRoom("lobby")
	pub := "@bob @dave in the lobby"
	alice.send(map[string]any{"type": "send", "room": "lobby", "text": pub})
	id3 := alice.until("message", hasText(pub))["id"]
	mentionOf(bobThere, "lobby", id3, "alice", pub)
	noFrame(t, "dave (never joined lobby)", dave.sentinel(), "mention")

	// After a reconnect: the counts of mentions since the read position.
	rooms, _ := onNodeUnread(t, b, "bob")
	if got := rooms["plans"]; got["mentions"] != 2.0 || got["count"] != 2.0 {
		t.Errorf("plans after two mentions: %v; want 2 unread, 2 mentions", got)
	}
	if got := rooms["lobby"]; got["mentions"] != 1.0 {
		t.Errorf("lobby: %v; want 1 mention", got)
	}
	if got := rooms["general"]; got["mentions"] != 0.0 {
		t.Errorf("general: %v; want no mentions", got)
	}
	// Reading clears them; a mention deleted afterwards never counts.
	bobThere.send(map[string]any{"type": "read", "room": "plans", "id": id2})
	bobHere.until("read", inRoom("plans"))
	gone := "@bob this goes"
	alice.send(map[string]any{"type": "send", "room": "plans", "text": gone})
	id4 := alice.until("message", hasText(gone))["id"]
	mentionOf(bobThere, "plans", id4, "alice", gone)
	alice.send(map[string]any{"type": "delete", "room": "plans", "id": id4})
	alice.until("deleted", nil)
	rooms, _ = onNodeUnread(t, a, "bob")
	if got := rooms["plans"]; got["mentions"] != 0.0 || got["count"] != 0.0 || got["last_read"] != id2 {
		t.Errorf("plans after reading and a delete: %v; want read to %v, 0 unread, 0 mentions", got, id2)
	}
}

// onNodeUnread opens a socket of user on s and returns its unread frame's rooms.
func onNodeUnread(t *testing.T, s *testServer, user string) (map[string]map[string]any, string) {
	t.Helper()
	return s.dialBearer(s.token(user, pw)).welcomeUnread()
}

func TestMentionsOneNode(t *testing.T) {
	s := startServer(t, "")
	mentionScenario(t, s, s)
}

// A message naming more than maxMentions distinct names mentions the first
// 20 only, and is counted.
func TestMentionsBoundedPerMessage(t *testing.T) {
	addr := freeAddr(t)
	s := startServer(t, "", "--metrics-addr", addr)
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	alice, bob := onNode(t, s, s.token("alice", pw)), onNode(t, s, s.token("bob", pw))
	text := ""
	for i := range 20 { // maxMentions
		text += fmt.Sprintf("@nobody%d ", i)
	}
	alice.send(map[string]any{"type": "send", "room": "general", "text": text + "@bob"})
	first := "@bob first"
	alice.send(map[string]any{"type": "send", "room": "general", "text": first})
	// A mention follows its message's delivery, before the next message's:
	// the 21st name was not a mention, so none comes before the second message.
	fs := bob.collectUntil("message", hasText(first))
	noFrame(t, "bob, named 21st", fs, "mention")
	id := fs[len(fs)-1]["id"]
	if f := bob.until("mention", nil); f["id"] != id {
		t.Errorf("bob's first mention %v; want of message %v", f, id)
	}
	if got := scrape(t, addr, "securechat_mentions_cut_total"); got != 1 {
		t.Errorf("securechat_mentions_cut_total = %v; want 1", got)
	}
}

func TestMentionsTwoNodes(t *testing.T) {
	_, natsURL := natsOn(t, -1)
	cl := newCluster(t, natsURL, postgresURL(t))
	mentionScenario(t, cl.node(), cl.node())
}

// typingUntil collects c's frames up to the message with text and returns
// the typing frames among them.
func typingUntil(c *wsClient, text string) []map[string]any {
	c.t.Helper()
	var out []map[string]any
	for _, f := range c.collectUntil("message", hasText(text)) {
		if f["type"] == "typing" {
			out = append(out, f)
		}
	}
	return out
}

// Five typing frames at once reach the other member as one; after the 3 s
// window (on the server's clock) another does. Alice's other socket and a
// socket not in the room get none, and the typist gets no answer.
func TestTypingIsLimited(t *testing.T) {
	clk := newFakeClock()
	addr := freeAddr(t)
	s := startServerClock(t, clk, "--metrics-addr", addr)
	for _, u := range []string{"alice", "bob", "carol"} {
		s.addUser(u, pw)
	}
	a1, a2 := onNode(t, s, s.token("alice", pw)), onNode(t, s, s.token("alice", pw))
	bob, carol := onNode(t, s, s.token("bob", pw)), onNode(t, s, s.token("carol", pw))
	for _, c := range []*wsClient{a1, a2, bob} {
		c.joinRoom("dev")
	}
	typing := map[string]any{"type": "typing", "room": "dev"}
	for range 5 {
		a1.send(typing)
	}
	a1.send(map[string]any{"type": "send", "room": "dev", "text": "one"})
	if got := typingUntil(bob, "one"); len(got) != 1 || got[0]["user"] != "alice" || got[0]["room"] != "dev" {
		t.Fatalf("bob got %v; want one typing of alice in dev", got)
	}
	for _, f := range a1.collectUntil("message", hasText("one")) {
		if f["type"] == "typing" || f["type"] == "error" {
			t.Errorf("the typist got %v", f)
		}
	}
	if got := typingUntil(a2, "one"); len(got) != 0 {
		t.Errorf("alice's other socket got %v", got)
	}

	clk.Advance(3 * time.Second)
	a1.send(typing)
	a1.send(typing)
	a1.send(map[string]any{"type": "send", "room": "dev", "text": "two"})
	if got := typingUntil(bob, "two"); len(got) != 1 {
		t.Errorf("after 3 s bob got %v; want one typing", got)
	}
	noFrame(t, "carol (not in dev)", carol.sentinel(), "typing")
	// The dropped ones are counted: 4 of the first five, 1 of the two after.
	if got := scrape(t, addr, "securechat_typing_drops_total"); got != 5 {
		t.Errorf("securechat_typing_drops_total = %v; want 5", got)
	}
}

// Typing reaches the room's members on the other node, never a non-member.
func TestTypingTwoNodes(t *testing.T) {
	_, natsURL := natsOn(t, -1)
	cl := newCluster(t, natsURL, postgresURL(t))
	a, b := cl.node(), cl.node()
	for _, u := range []string{"alice", "bob", "carol"} {
		a.addUser(u, pw)
	}
	alice := onNode(t, a, a.token("alice", pw))
	bob, carol := onNode(t, b, b.token("bob", pw)), onNode(t, b, b.token("carol", pw))
	alice.joinRoom("dev")
	bob.joinRoom("dev")
	// The other node hears alice's room once bob's join reached it.
	presenceIs(alice, "dev", "alice", "bob")
	alice.send(map[string]any{"type": "typing", "room": "dev"})
	if f := bob.until("typing", nil); f["user"] != "alice" || f["room"] != "dev" {
		t.Errorf("bob on the other node got %v", f)
	}
	noFrame(t, "carol (not in dev)", carol.sentinel(), "typing")
}
