package main

// Private rooms, dms, edits and deletes over real sockets: on one node with
// SQLite, and on two nodes sharing PostgreSQL and NATS. A non-member is
// refused on every path and learns nothing of the room; a removed member's
// sockets hear removed and nothing after it; a resume covers edits and
// deletes; a deleted text leaves every file of --data.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// collectUntil reads frames until one of type typ that match accepts, and
// returns every frame read, that one last.
func (c *wsClient) collectUntil(typ string, match func(map[string]any) bool) []map[string]any {
	c.t.Helper()
	var out []map[string]any
	for {
		f := c.next()
		out = append(out, f)
		if f["type"] == typ && (match == nil || match(f)) {
			return out
		}
	}
}

// sentinel asks for the room list and returns every frame that came before
// the answer: what the server had queued for the socket by then.
func (c *wsClient) sentinel() []map[string]any {
	c.t.Helper()
	c.send(map[string]any{"type": "rooms", "limit": 200})
	fs := c.collectUntil("rooms", nil)
	return fs
}

// refused sends f and expects the error code, failing on anything of room
// that arrives before it.
func (c *wsClient) refused(what string, f map[string]any, code string) {
	c.t.Helper()
	c.send(f)
	for _, g := range c.collectUntil("error", nil) {
		if g["type"] == "error" {
			if g["code"] != code {
				c.t.Errorf("%s: error %v, want %s", what, g, code)
			}
			continue
		}
		if g["room"] == f["room"] && !(g["type"] == "room" && g["room"] == "general") { // general's first message is announced to all
			c.t.Errorf("%s: got %v before the refusal", what, g)
		}
	}
}

func hasText(text string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["text"] == text }
}

// noneMention fails for every frame whose JSON contains any of words.
func noneMention(t *testing.T, who string, fs []map[string]any, words ...string) {
	t.Helper()
	for _, f := range fs {
		data, _ := json.Marshal(f)
		for _, w := range words {
			if f["type"] != "error" && strings.Contains(string(data), w) {
				t.Errorf("%s got %s", who, data)
			}
		}
	}
}

func roomNames(f map[string]any) map[string]string {
	out := make(map[string]string)
	for _, r := range f["rooms"].([]any) {
		m := r.(map[string]any)
		out[m["name"].(string)], _ = m["kind"].(string)
	}
	return out
}

// privateScenario runs the life of a private room: alice's sockets on node
// a, bob's on a and b, carol (an admin, not a member) and dave (a member) on
// b. With a == b it is one node.
func privateScenario(t *testing.T, a, b *testServer) {
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		a.addUser(u, pw)
	}
	if out, err := a.cli("", "user", "role", "carol", "admin"); err != nil {
		t.Fatalf("make carol an admin: %v %s", err, out)
	}
	alice := onNode(t, a, a.token("alice", pw))
	bobA, bobB := onNode(t, a, a.token("bob", pw)), onNode(t, b, b.token("bob", pw))
	carol, dave := onNode(t, b, b.token("carol", pw)), onNode(t, b, b.token("dave", pw))

	alice.send(map[string]any{"type": "create", "room": "secret", "private": true})
	if j := alice.until("joined", inRoom("secret")); j["kind"] != "private" || j["role"] != "owner" {
		t.Fatalf("joined after create: %v", j)
	}
	alice.send(map[string]any{"type": "send", "room": "secret", "text": "the plans"})
	first := alice.until("message", inRoom("secret"))["id"].(float64)

	// carol, an admin but not a member, is refused on every path.
	for _, tc := range []struct {
		name string
		f    map[string]any
	}{
		{"join", map[string]any{"type": "join", "room": "secret"}},
		{"join since", map[string]any{"type": "join", "room": "secret", "since": 0}},
		{"send", map[string]any{"type": "send", "room": "secret", "text": "let me in"}},
		{"history", map[string]any{"type": "history", "room": "secret"}},
		{"invite herself", map[string]any{"type": "invite", "room": "secret", "user": "carol"}},
		{"edit", map[string]any{"type": "edit", "room": "secret", "id": first, "text": "mine"}},
		{"delete", map[string]any{"type": "delete", "room": "secret", "id": first}},
		{"members", map[string]any{"type": "members", "room": "secret"}},
		{"history of no room", map[string]any{"type": "history", "room": "nowhere"}},
	} {
		carol.refused(tc.name, tc.f, "forbidden")
	}
	dave.refused("invite by a non-member", map[string]any{"type": "invite", "room": "secret", "user": "dave"}, "forbidden")
	dave.refused("remove by a non-member", map[string]any{"type": "remove", "room": "secret", "user": "alice"}, "forbidden")

	// Invited on either node, bob and dave can join at once.
	for _, u := range []string{"bob", "dave"} {
		alice.send(map[string]any{"type": "invite", "room": "secret", "user": u})
		alice.until("members", inRoom("secret"))
	}
	for name, x := range map[string]*wsClient{"bob on a": bobA, "bob on b": bobB, "dave on b": dave} {
		if inv := x.until("invited", inRoom("secret")); inv["by"] != "alice" || inv["kind"] != "private" {
			t.Errorf("%s: invited %v", name, inv)
		}
		x.send(map[string]any{"type": "join", "room": "secret"})
		h := x.until("history", inRoom("secret"))["messages"].([]any)
		if len(h) != 1 || h[0].(map[string]any)["text"] != "the plans" {
			t.Errorf("%s: history %v", name, h)
		}
		if j := x.until("joined", inRoom("secret")); j["role"] != "member" {
			t.Errorf("%s: joined %v", name, j)
		}
	}
	bobB.send(map[string]any{"type": "rooms", "limit": 200})
	if kind := roomNames(bobB.until("rooms", nil))["secret"]; kind != "private" {
		t.Errorf("bob's rooms: secret is %q, want private", kind)
	}

	// Edits by the author only; the owner deletes another's message.
	bobB.send(map[string]any{"type": "send", "room": "secret", "text": "bob's line"})
	second := bobB.until("message", hasText("bob's line"))["id"].(float64)
	bobB.refused("edit another's", map[string]any{"type": "edit", "room": "secret", "id": first, "text": "x"}, "forbidden")
	bobB.refused("delete another's", map[string]any{"type": "delete", "room": "secret", "id": first}, "forbidden")
	alice.send(map[string]any{"type": "edit", "room": "secret", "id": first, "text": "the real plans", "ref": "e-1"})
	if e := alice.until("edited", nil); e["id"] != first || e["ref"] != "e-1" || e["text"] != "the real plans" {
		t.Errorf("alice's edited %v", e)
	}
	alice.send(map[string]any{"type": "delete", "room": "secret", "id": second})
	alice.until("deleted", nil)
	if e := dave.until("edited", nil); e["id"] != first || e["text"] != "the real plans" || e["ref"] != nil {
		t.Errorf("dave's edited %v", e)
	}
	if d := dave.until("deleted", nil); d["id"] != second {
		t.Errorf("dave's deleted %v", d)
	}
	dave.send(map[string]any{"type": "history", "room": "secret"})
	h := dave.until("history", inRoom("secret"))["messages"].([]any)
	if len(h) != 2 {
		t.Fatalf("history after the changes: %v", h)
	}
	if m := h[0].(map[string]any); m["text"] != "the real plans" || m["edited_at"] == nil {
		t.Errorf("edited message in history: %v", m)
	}
	if m := h[1].(map[string]any); m["deleted"] != true || m["text"] != nil || m["user"] != nil || m["user_id"] != nil {
		t.Errorf("deleted message in history: %v", m)
	}

	// alice removes bob: his sockets on both nodes hear removed, then nothing of the room.
	alice.send(map[string]any{"type": "remove", "room": "secret", "user": "bob"})
	alice.until("members", inRoom("secret"))
	for _, x := range []*wsClient{bobA, bobB} {
		x.until("removed", inRoom("secret"))
	}
	alice.send(map[string]any{"type": "send", "room": "secret", "text": "after bob"})
	alice.until("message", hasText("after bob"))
	dave.until("message", hasText("after bob")) // delivered on b: bob's socket there would have had it too
	for name, x := range map[string]*wsClient{"bob on a": bobA, "bob on b": bobB} {
		noneMention(t, name, x.sentinel(), "after bob")
		x.refused("send after removal", map[string]any{"type": "send", "room": "secret", "text": "still here?"}, "forbidden")
		x.refused("join after removal", map[string]any{"type": "join", "room": "secret"}, "forbidden")
	}

	// Nothing of the room ever reached carol: no message, no presence, not its name.
	cf := carol.sentinel()
	noneMention(t, "carol", cf, "plans", "bob's line", "after bob", `"room":"secret"`)
	if _, ok := roomNames(cf[len(cf)-1])["secret"]; ok {
		t.Error("carol's room list names secret")
	}

	// A dm: the same room for the same people, the other hears invited.
	alice.send(map[string]any{"type": "dm", "users": []string{"bob"}})
	dm := alice.until("joined", nil)
	room := dm["room"].(string)
	if !strings.HasPrefix(room, "dm-") || dm["kind"] != "dm" {
		t.Fatalf("joined after dm: %v", dm)
	}
	if inv := bobB.until("invited", inRoom(room)); inv["kind"] != "dm" || inv["by"] != "alice" {
		t.Errorf("bob's invited to the dm: %v", inv)
	}
	bobB.send(map[string]any{"type": "dm", "users": []string{"alice"}})
	if again := bobB.until("joined", nil); again["room"] != room {
		t.Errorf("bob's dm with alice is %v, alice's with bob %s", again["room"], room)
	}
	carol.refused("join a dm", map[string]any{"type": "join", "room": room}, "forbidden")

	// An admin deletes another's message in a room she is in; a member may not.
	alice.send(map[string]any{"type": "send", "room": "general", "text": "spam"})
	spam := alice.until("message", hasText("spam"))["id"]
	dave.until("message", hasText("spam"))
	carol.until("message", hasText("spam"))
	dave.refused("a member deletes another's", map[string]any{"type": "delete", "room": "general", "id": spam}, "forbidden")
	carol.send(map[string]any{"type": "delete", "room": "general", "id": spam})
	if d := carol.until("deleted", nil); d["id"] != spam {
		t.Errorf("admin's delete: %v", d)
	}
	if d := alice.until("deleted", nil); d["id"] != spam {
		t.Errorf("the author's copy of the admin's delete: %v", d)
	}
}

func TestPrivateRoomsOneNode(t *testing.T) {
	s := startServer(t, "")
	privateScenario(t, s, s)
	// Invitations, removals and a moderator's delete are in the audit log.
	out, err := s.cli("", "audit", "--user", "alice")
	if err != nil {
		t.Fatalf("audit: %v %s", err, out)
	}
	for _, event := range []string{"member_invited", "member_removed", "message_deleted"} {
		if !strings.Contains(out, event) {
			t.Errorf("the audit log has no %s:\n%s", event, out)
		}
	}
}

func TestPrivateRoomsTwoNodes(t *testing.T) {
	_, natsURL := natsOn(t, -1)
	cl := newCluster(t, natsURL, postgresURL(t))
	a, b := cl.node(), cl.node()
	privateScenario(t, a, b)

	// The echo of a read reaches the user's sockets on the other node.
	there := onNode(t, b, b.token("alice", pw))
	here := onNode(t, a, a.token("alice", pw))
	here.send(map[string]any{"type": "send", "room": "general", "text": "read me"})
	id := here.until("message", hasText("read me"))["id"]
	here.send(map[string]any{"type": "read", "room": "general", "id": id})
	if r := there.until("read", inRoom("general")); r["id"] != id {
		t.Errorf("read echo on the other node: %v, want id %v", r, id)
	}
}

// A resume (join with since) after edits and deletes of messages older than
// since delivers edited and deleted frames for them, and the new message,
// each once and in order; joined's last_id covers them.
func TestResumeCoversEditsAndDeletes(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	alice := onNode(t, s, s.token("alice", pw))
	var ids []float64
	for i := range 3 {
		alice.send(map[string]any{"type": "send", "room": "general", "text": fmt.Sprint("m", i)})
		ids = append(ids, alice.until("message", nil)["id"].(float64))
	}
	since := ids[2]
	alice.send(map[string]any{"type": "edit", "room": "general", "id": ids[0], "text": "m0 again"})
	edit := alice.until("edited", nil)["change"].(float64)
	alice.send(map[string]any{"type": "delete", "room": "general", "id": ids[1]})
	del := alice.until("deleted", nil)["change"].(float64)
	alice.send(map[string]any{"type": "send", "room": "general", "text": "m3"})
	last := alice.until("message", nil)["id"].(float64)

	// bob's new socket is in general already (the join on connect): the
	// replay covers what came before its live delivery began, everything here.
	fresh := s.dialBearer(s.token("bob", pw))
	fresh.until("joined", inRoom("general"))
	fresh.send(map[string]any{"type": "join", "room": "general", "since": since})
	var got []string
	for _, f := range fresh.collectUntil("joined", func(f map[string]any) bool { return f["last_id"] != nil && f["last_id"].(float64) == last }) {
		switch f["type"] {
		case "message":
			if f["room"] == "general" && f["id"].(float64) > since {
				got = append(got, fmt.Sprint("message ", f["text"]))
			}
		case "edited":
			got = append(got, fmt.Sprint("edited ", f["id"] == ids[0], " ", f["text"], " ", f["change"] == edit))
		case "deleted":
			got = append(got, fmt.Sprint("deleted ", f["id"] == ids[1], " ", f["change"] == del))
		}
	}
	want := []string{"edited true m0 again true", "deleted true true", "message m3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("resume delivered %q, want %q", got, want)
	}
}

// A deleted message's text is in no file of --data within 10 s of the delete.
func TestRealDeleteLeavesNoFile(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	alice := onNode(t, s, s.token("alice", pw))
	b := make([]byte, 12)
	rand.Read(b)
	marker := "erase-me-" + hex.EncodeToString(b)
	alice.send(map[string]any{"type": "send", "room": "general", "text": "the secret is " + marker})
	id := alice.until("message", nil)["id"]
	alice.send(map[string]any{"type": "edit", "room": "general", "id": id, "text": "edited " + marker})
	alice.until("edited", nil)
	if len(filesWith(t, s.Data, marker)) == 0 {
		t.Fatalf("no file of %s holds the text before the delete: the search is broken", s.Data)
	}
	alice.send(map[string]any{"type": "delete", "room": "general", "id": id})
	alice.until("deleted", nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		found := filesWith(t, s.Data, marker)
		if len(found) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the delete, the text is still in %v", found)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// filesWith lists the files under dir whose bytes contain s.
func filesWith(t *testing.T, dir, s string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // a WAL truncated or removed while walking
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(s)) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
