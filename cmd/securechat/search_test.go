package main

// Search and history around a message over real sockets: on one node with
// SQLite, and on two nodes sharing PostgreSQL and NATS. Words are found
// inside longer words and in Japanese, short words whole; a private room's
// messages reach only its members (with and without room); a deleted text
// and the old text of an edited message are never found.

import (
	"fmt"
	"slices"
	"testing"
)

// searchTexts sends a search and returns the texts of its results, newest
// first, and the rooms they are in.
func (c *wsClient) searchTexts(f map[string]any) (texts, rooms []string) {
	c.t.Helper()
	ref := fmt.Sprint("s-", f["query"], f["room"], f["before"])
	f["type"], f["ref"] = "search", ref
	c.send(f)
	r := c.until("results", func(g map[string]any) bool { return g["ref"] == ref })
	if r["query"] != f["query"] {
		c.t.Errorf("results for %v carry query %v", f["query"], r["query"])
	}
	texts, rooms = []string{}, []string{}
	for _, m := range r["messages"].([]any) {
		m := m.(map[string]any)
		if m["type"] != "message" || m["user"] == nil || m["ts"] == nil {
			c.t.Errorf("search %v: result %v is not a message frame", f["query"], m)
		}
		texts = append(texts, fmt.Sprint(m["text"]))
		rooms = append(rooms, fmt.Sprint(m["room"]))
	}
	return texts, rooms
}

// searchScenario: alice writes on node a, bob (no member of vault) and
// alice search on node b.
func searchScenario(t *testing.T, a, b *testServer) {
	for _, u := range []string{"alice", "bob"} {
		a.addUser(u, pw)
	}
	alice := onNode(t, a, a.token("alice", pw))
	aliceB, bob := onNode(t, b, b.token("alice", pw)), onNode(t, b, b.token("bob", pw))
	say := func(room, text string) float64 {
		t.Helper()
		alice.send(map[string]any{"type": "send", "room": room, "text": text})
		return alice.until("message", hasText(text))["id"].(float64)
	}
	for _, text := range []string{"a wordsmith at work", "東京都の天気は晴れ", "we go now", "gopher"} {
		say("general", text)
	}
	gone := say("general", "to be deleted zanzibar")
	edited := say("general", "old quokka")
	alice.send(map[string]any{"type": "delete", "room": "general", "id": gone})
	alice.until("deleted", nil)
	alice.send(map[string]any{"type": "edit", "room": "general", "id": edited, "text": "new wallaby"})
	alice.until("edited", nil)
	alice.send(map[string]any{"type": "create", "room": "vault", "private": true})
	alice.until("joined", inRoom("vault"))
	say("vault", "the wordsmith in the vault")
	say("vault", "go vault")

	for _, c := range []struct {
		who   *wsClient
		name  string
		query string
		room  string
		want  []string
	}{
		{bob, "bob", "ords", "", []string{"a wordsmith at work"}},
		{aliceB, "alice", "ords", "", []string{"the wordsmith in the vault", "a wordsmith at work"}},
		{aliceB, "alice", "ords", "vault", []string{"the wordsmith in the vault"}},
		{bob, "bob", "京都", "", []string{"東京都の天気は晴れ"}},
		{bob, "bob", "都の天", "general", []string{"東京都の天気は晴れ"}},
		{bob, "bob", "go", "", []string{"we go now"}},
		{aliceB, "alice", "go", "", []string{"go vault", "we go now"}},
		{bob, "bob", "vault", "", []string{}},
		{bob, "bob", "zanzibar", "", []string{}},
		{aliceB, "alice", "zanzibar", "", []string{}},
		{aliceB, "alice", "quokka", "", []string{}},
		{bob, "bob", "wallaby", "", []string{"new wallaby"}},
	} {
		f := map[string]any{"query": c.query}
		if c.room != "" {
			f["room"] = c.room
		}
		if got, _ := c.who.searchTexts(f); !slices.Equal(got, c.want) {
			t.Errorf("%s's search %q in %q = %q; want %q", c.name, c.query, c.room, got, c.want)
		}
	}
	// bob learns nothing of vault: not with room, not a room that does not exist.
	bob.refused("search in vault", map[string]any{"type": "search", "query": "ords", "room": "vault"}, "forbidden")
	bob.refused("search in nowhere", map[string]any{"type": "search", "query": "ords", "room": "nowhere"}, "forbidden")
	bob.refused("history around in vault", map[string]any{"type": "history", "room": "vault", "around": 1}, "forbidden")
	bob.refused("blank search", map[string]any{"type": "search", "query": " "}, "bad_query")
	noneMention(t, "bob", bob.sentinel(), "the wordsmith in the vault", "go vault")

	// A result opens in context: history around it, both sides.
	alice.send(map[string]any{"type": "join", "room": "context"})
	alice.until("joined", inRoom("context"))
	var ids []float64
	for i := range 9 {
		ids = append(ids, say("context", fmt.Sprint("line ", i)))
	}
	texts, rooms := bob.searchTexts(map[string]any{"query": "line 4"})
	if !slices.Equal(texts, []string{"line 4"}) || rooms[0] != "context" {
		t.Fatalf("search line 4 = %q in %q", texts, rooms)
	}
	bob.send(map[string]any{"type": "history", "room": "context", "around": ids[4], "limit": 5})
	var around []string
	for _, m := range bob.until("history", inRoom("context"))["messages"].([]any) {
		around = append(around, fmt.Sprint(m.(map[string]any)["text"]))
	}
	if want := []string{"line 2", "line 3", "line 4", "line 5", "line 6"}; !slices.Equal(around, want) {
		t.Errorf("history around line 4 = %q; want %q", around, want)
	}
}

func TestSearchOneNode(t *testing.T) {
	s := startServer(t, "")
	searchScenario(t, s, s)
}

func TestSearchTwoNodes(t *testing.T) {
	_, natsURL := natsOn(t, -1)
	cl := newCluster(t, natsURL, postgresURL(t))
	searchScenario(t, cl.node(), cl.node())
}

// A query over --max-search-query characters is refused with bad_query and
// counted; one at the bound is answered; the socket keeps serving.
func TestSearchQueryBounded(t *testing.T) {
	addr := freeAddr(t)
	s := startServer(t, "", "--metrics-addr", addr, "--max-search-query", "12")
	s.addUser("alice", pw)
	alice := onNode(t, s, s.token("alice", pw))
	alice.send(map[string]any{"type": "send", "room": "general", "text": "京都 wordsmith"})
	alice.until("message", nil)
	alice.refused("long query", map[string]any{"type": "search", "query": "京都 wordsmith x"}, "bad_query")
	if got, _ := alice.searchTexts(map[string]any{"query": "京都 wordsmith"}); len(got) != 1 {
		t.Errorf("a query of 12 characters found %q; want the message", got)
	}
	if n := scrape(t, addr, "securechat_search_refusals_total"); n != 1 {
		t.Errorf("securechat_search_refusals_total = %v; want 1", n)
	}
}
