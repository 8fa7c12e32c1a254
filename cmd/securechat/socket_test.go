package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"securechat/app/tokens"
)

// withKeys makes a server whose token key the test knows, so it can mint
// tokens the server did not issue (expired, for another session).
func withKeys(t *testing.T) (string, *tokens.Codec) {
	t.Helper()
	k, err := tokens.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	codec, err := tokens.NewCodec([]tokens.Key{k}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return k.String(), codec
}

func TestSocketGate(t *testing.T) {
	key, codec := withKeys(t)
	s := startServerEnv(t, "", map[string]string{"SECURECHAT_TOKEN_KEYS": key}, "--allowed-origins", "https://chat.example")
	s.addUser("alice", pw)
	s.addUser("gone", pw)
	good := s.token("alice", pw)
	claims, err := codec.Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	expired := claims
	expired.ExpiresAt = time.Now().Add(-time.Minute).Unix()
	expiredTok, _ := codec.Encode(expired)
	otherUser := claims
	otherUser.UserID++
	otherUserTok, _ := codec.Encode(otherUser)

	revoked := s.newBrowser()
	revoked.login("alice", pw)
	revokedTok := revoked.sessionCookie()
	revoked.post("/logout", "/", nil)
	deletedTok := s.token("gone", pw)
	if _, err := s.cli("", "user", "delete", "gone"); err != nil {
		t.Fatal(err)
	}

	b := s.newBrowser()
	b.login("alice", pw)
	cookie := "securechat=" + b.sessionCookie()
	// Tampered, but still well-formed: a letter swapped for another, so the
	// signature check, not the header parser, refuses it.
	tampered := []byte(good)
	if i := len(tampered) / 2; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}

	cases := []struct {
		name   string
		header http.Header
		status int // 101 means the upgrade must succeed
	}{
		{"no credentials", nil, 401},
		{"bearer ok", http.Header{"Authorization": {"Bearer " + good}}, 101},
		{"bearer lower-case scheme", http.Header{"Authorization": {"bearer " + good}}, 101},
		{"bearer without token", http.Header{"Authorization": {"Bearer"}}, 403},
		{"bearer with a space only", http.Header{"Authorization": {"Bearer "}}, 403},
		{"basic scheme", http.Header{"Authorization": {"Basic YWxpY2U6eA=="}}, 403},
		{"two tokens", http.Header{"Authorization": {"Bearer " + good + " x"}}, 403},
		{"two headers", http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, 403},
		{"recipe's forgeable token", http.Header{"Authorization": {"Bearer tokenizedalice"}}, 401},
		{"tampered", http.Header{"Authorization": {"Bearer " + string(tampered)}}, 401},
		{"expired", http.Header{"Authorization": {"Bearer " + expiredTok}}, 401},
		{"claims of another user", http.Header{"Authorization": {"Bearer " + otherUserTok}}, 401},
		{"revoked by logout", http.Header{"Authorization": {"Bearer " + revokedTok}}, 401},
		{"deleted user", http.Header{"Authorization": {"Bearer " + deletedTok}}, 401},
		{"cookie, same origin", http.Header{"Cookie": {cookie}, "Origin": {s.URL}}, 101},
		{"cookie, allowed origin", http.Header{"Cookie": {cookie}, "Origin": {"https://chat.example"}}, 101},
		{"cookie, no origin (not a browser)", http.Header{"Cookie": {cookie}}, 101},
		{"cookie, cross-site origin", http.Header{"Cookie": {cookie}, "Origin": {"https://evil.example"}}, 403},
		{"cookie, same host other scheme", http.Header{"Cookie": {cookie}, "Origin": {strings.Replace(s.URL, "http", "https", 1)}}, 403},
		{"cookie, null origin", http.Header{"Cookie": {cookie}, "Origin": {"null"}}, 403},
		{"bad cookie", http.Header{"Cookie": {"securechat=garbage"}, "Origin": {s.URL}}, 401},
		{"bearer wins over a cross-site cookie", http.Header{"Authorization": {"Bearer " + good}, "Cookie": {cookie}, "Origin": {"https://evil.example"}}, 101},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, resp, err := s.dial("/ws", tc.header)
			if tc.status == 101 {
				if err != nil {
					t.Fatalf("dial: %v (status %v)", err, statusOf(resp))
				}
				conn.Close()
				return
			}
			if err == nil {
				conn.Close()
				t.Fatalf("upgraded; want %d", tc.status)
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("status %v, want %d", statusOf(resp), tc.status)
			}
			if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
		})
	}
}

func statusOf(resp *http.Response) any {
	if resp == nil {
		return "no response"
	}
	return resp.StatusCode
}

func TestSecuredWSEcho(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	conn, _, err := s.dial("/secured-ws", http.Header{"Authorization": {"Bearer " + s.token("alice", pw)}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	expect := func(want string) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, got, err := conn.ReadMessage()
		if err != nil || string(got) != want {
			t.Fatalf("got %q (%v), want %q", got, err, want)
		}
	}
	expect("Welcome alice!")
	for _, text := range []string{"hello", "two words", `{"type":"send"}`} {
		conn.WriteMessage(websocket.TextMessage, []byte(text))
		expect("You wrote: " + text)
	}
	if _, resp, err := s.dial("/secured-ws", nil); err == nil || resp.StatusCode != 401 {
		t.Fatalf("unauthenticated /secured-ws: %v %v", err, statusOf(resp))
	}
}

func TestChatFanOutAndHistory(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	a := s.dialBearer(s.token("alice", pw))
	b := s.dialBearer(s.token("bob", pw))
	for _, c := range []*wsClient{a, b} {
		c.until("welcome", nil)
		c.until("joined", nil)
	}
	a.send(map[string]any{"type": "send", "room": "general", "text": "hi <b>bob</b>"})
	ack := a.until("message", nil)
	got := b.until("message", nil)
	if ack["id"] != got["id"] || got["user"] != "alice" || got["text"] != "hi <b>bob</b>" || got["room"] != "general" {
		t.Fatalf("ack %v, delivered %v", ack, got)
	}
	if _, err := time.Parse(time.RFC3339, got["ts"].(string)); err != nil {
		t.Errorf("ts %q is not RFC 3339", got["ts"])
	}
	b.send(map[string]any{"type": "send", "room": "general", "text": "hello alice"})
	second := a.until("message", nil)
	if second["id"].(float64) <= ack["id"].(float64) {
		t.Errorf("ids must increase: %v then %v", ack["id"], second["id"])
	}

	// A new socket gets the recent history, oldest first.
	c := s.dialBearer(s.token("alice", pw))
	if w := c.next(); w["type"] != "welcome" || w["user"] != "alice" {
		t.Fatalf("first frame %v, want welcome", w)
	}
	h := c.until("history", nil)
	msgs := h["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["text"] != "hi <b>bob</b>" || msgs[1].(map[string]any)["text"] != "hello alice" {
		t.Fatalf("history %v", h)
	}
}

func TestChatMalformedFrames(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	c := s.dialBearer(s.token("alice", pw))
	c.until("joined", nil)
	cases := []struct {
		name  string
		frame string
		code  string
	}{
		{"not json", `hello`, "bad_frame"},
		{"array", `[1,2]`, "bad_frame"},
		{"two objects", `{"type":"send","room":"general","text":"a"}{"type":"send"}`, "bad_frame"},
		{"unknown field", `{"type":"send","room":"general","text":"a","admin":true}`, "bad_frame"},
		{"wrong type of field", `{"type":"send","room":"general","text":5}`, "bad_frame"},
		{"no type", `{"room":"general"}`, "bad_frame"},
		{"unknown type", `{"type":"shout"}`, "unknown_type"},
		{"bad room", `{"type":"send","room":"General!","text":"a"}`, "bad_room"},
		{"long room", `{"type":"join","room":"` + strings.Repeat("a", 65) + `"}`, "bad_room"},
		{"empty text", `{"type":"send","room":"general","text":""}`, "bad_text"},
		{"long text", `{"type":"send","room":"general","text":"` + strings.Repeat("é", 4001) + `"}`, "bad_text"},
		{"not joined", `{"type":"send","room":"elsewhere","text":"a"}`, "not_joined"},
		{"bad history limit", `{"type":"history","room":"general","limit":201}`, "bad_frame"},
		{"invalid utf-8", "{\"type\":\"send\",\"room\":\"general\",\"text\":\"\xff\"}", "bad_frame"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.conn.WriteMessage(websocket.TextMessage, []byte(tc.frame))
			f := c.until("error", nil)
			if f["code"] != tc.code || f["message"] == "" {
				t.Fatalf("error %v, want code %s", f, tc.code)
			}
		})
	}
	// A binary frame is refused, and the socket still works afterwards.
	c.conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	c.until("error", nil)
	c.send(map[string]any{"type": "send", "room": "general", "text": "still here"})
	if m := c.until("message", nil); m["text"] != "still here" {
		t.Fatalf("got %v", m)
	}
	// 4,000 characters exactly is allowed.
	c.send(map[string]any{"type": "send", "room": "general", "text": strings.Repeat("é", 4000)})
	c.until("message", nil)

	// A frame over 64 KiB closes the socket with 1009.
	c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"send","room":"general","text":"`+strings.Repeat("a", 70<<10)+`"}`))
	if code, _ := c.closeCode(5 * time.Second); code != 1009 {
		t.Fatalf("close code %d, want 1009", code)
	}
	// And the server keeps serving.
	c2 := s.dialBearer(s.token("alice", pw))
	c2.until("joined", nil)
}

func TestChatKicks(t *testing.T) {
	s := startServer(t, "")
	for _, u := range []string{"alice", "bob", "carol"} {
		s.addUser(u, pw)
	}
	cases := []struct {
		name string
		user string
		kick func(t *testing.T, b *browser)
	}{
		{"logout", "alice", func(t *testing.T, b *browser) { b.post("/logout", "/", nil) }},
		{"password changed by the CLI", "bob", func(t *testing.T, b *browser) {
			if out, err := s.cli("another password\n", "user", "passwd", "bob"); err != nil {
				t.Fatalf("passwd: %v %s", err, out)
			}
		}},
		{"user deleted by the CLI", "carol", func(t *testing.T, b *browser) {
			if out, err := s.cli("", "user", "delete", "carol"); err != nil {
				t.Fatalf("delete: %v %s", err, out)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := s.newBrowser()
			b.login(tc.user, pw)
			conn, _, err := s.dial("/ws", http.Header{"Cookie": {"securechat=" + b.sessionCookie()}, "Origin": {s.URL}})
			if err != nil {
				t.Fatal(err)
			}
			c := &wsClient{t: t, conn: conn}
			c.until("joined", nil)
			tc.kick(t, b)
			// Measured from the moment the change is committed (the CLI's own
			// password hashing comes before that).
			start := time.Now()
			code, _ := c.closeCode(5 * time.Second)
			if took := time.Since(start); code != 4401 || took > time.Second {
				t.Fatalf("close %d after %v, want 4401 within 1s", code, took)
			}
		})
	}
}

// On a clock the test moves, in hours so that no real timer could stand in
// for it: the socket answers until its token's expiry and closes with 4401 at it.
func TestChatTokenExpiryCloses(t *testing.T) {
	clk := newFakeClock()
	s := startServerClock(t, clk, "--token-ttl", "2h")
	s.addUser("alice", pw)
	c := s.dialBearer(s.token("alice", pw))
	c.until("joined", nil)
	clk.Advance(2*time.Hour - time.Millisecond)
	c.send(map[string]any{"type": "rooms"})
	c.until("rooms", nil)
	clk.Advance(time.Millisecond)
	if code, _ := c.closeCode(10 * time.Second); code != 4401 {
		t.Fatalf("close %d at expiry, want 4401", code)
	}
}

func TestShutdownClosesWith1001AndRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	s.addUser("alice", pw)
	tok := s.token("alice", pw)
	c := s.dialBearer(tok)
	c.until("joined", nil)
	for i := range 5 {
		c.send(map[string]any{"type": "send", "room": "general", "text": fmt.Sprintf("before restart %d", i)})
	}
	for range 5 {
		c.until("message", nil)
	}
	s.Stop()
	if code, _ := c.closeCode(5 * time.Second); code != 1001 {
		t.Fatalf("close code %d on shutdown, want 1001", code)
	}

	s2 := startServer(t, dir)
	// The same token still works: the keys and the session survived.
	c2 := s2.dialBearer(tok)
	h := c2.until("history", nil)
	msgs := h["messages"].([]any)
	if len(msgs) != 5 || msgs[4].(map[string]any)["text"] != "before restart 4" {
		t.Fatalf("history after restart: %v", h)
	}
}

// TestControlFramesBetweenMessages sends pongs (which the server reads
// itself, outside gorilla) and a ping between messages: the messages still
// arrive, in order, and the ping is answered.
func TestControlFramesBetweenMessages(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	c := s.dialBearer(s.token("alice", pw))
	c.until("joined", nil)
	ponged := make(chan string, 1)
	c.conn.SetPongHandler(func(data string) error { ponged <- data; return nil })
	deadline := time.Now().Add(time.Second)
	for i, payload := range []string{"", "p", strings.Repeat("x", 125)} {
		if err := c.conn.WriteControl(websocket.PongMessage, []byte(payload), deadline); err != nil {
			t.Fatal(err)
		}
		c.send(map[string]any{"type": "send", "room": "general", "text": fmt.Sprintf("after pong %d", i)})
	}
	c.conn.WriteControl(websocket.PingMessage, []byte("are you there"), deadline)
	c.send(map[string]any{"type": "send", "room": "general", "text": "after ping"})
	for _, want := range []string{"after pong 0", "after pong 1", "after pong 2", "after ping"} {
		if m := c.until("message", nil); m["text"] != want {
			t.Fatalf("got %v, want %q", m["text"], want)
		}
	}
	select {
	case got := <-ponged:
		if got != "are you there" {
			t.Fatalf("pong %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not answer the ping")
	}
}

// TestSocketSendRef: a send's ref comes back on the frames that answer it, to
// the socket that sent it only: on its copy of the stored message (every
// other socket, the sender's other one too, gets the shared copy without
// ref), and on an error refusing it.
func TestSocketSendRef(t *testing.T) {
	// Two messages allowed: "hi", and the one to a room alice is not in.
	s := startServer(t, "", "--message-rate", "1/1h:2", "--max-text", "10")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	alice := s.dialBearer(s.token("alice", pw))
	alice2 := s.dialBearer(s.token("alice", pw))
	bob := s.dialBearer(s.token("bob", pw))
	for _, c := range []*wsClient{alice, alice2, bob} {
		c.until("joined", aboutRoom("general"))
	}

	alice.send(map[string]any{"type": "send", "room": "general", "text": "hi", "ref": "c-1"})
	mine := alice.until("message", func(f map[string]any) bool { return f["text"] == "hi" })
	if mine["ref"] != "c-1" {
		t.Errorf("sender's copy: %v, want ref c-1", mine)
	}
	for name, c := range map[string]*wsClient{"alice's other socket": alice2, "bob": bob} {
		f := c.until("message", func(f map[string]any) bool { return f["text"] == "hi" })
		if ref, ok := f["ref"]; ok {
			t.Errorf("%s got ref %v on %v: only the sending socket gets it", name, ref, f)
		}
		if f["id"] != mine["id"] {
			t.Errorf("%s got id %v, sender %v", name, f["id"], mine["id"])
		}
	}

	refusals := []struct {
		frame map[string]any
		code  string
	}{
		{map[string]any{"type": "send", "room": "general", "text": "far too long for ten", "ref": "c-2"}, "bad_text"},
		{map[string]any{"type": "send", "room": "elsewhere", "text": "hi", "ref": "c-3"}, "not_joined"},
		{map[string]any{"type": "send", "room": "general", "text": "again", "ref": "c-4"}, "rate_limited"},
		{map[string]any{"type": "send", "room": "general", "text": "again"}, "rate_limited"},
	}
	for _, r := range refusals {
		alice.send(r.frame)
		f := alice.until("error", nil)
		if f["code"] != r.code || f["ref"] != r.frame["ref"] {
			t.Errorf("answer to %v: %v, want code %s and ref %v", r.frame, f, r.code, r.frame["ref"])
		}
	}
	// A ref that is not one is refused, and not echoed.
	alice.send(map[string]any{"type": "send", "room": "general", "text": "hi", "ref": strings.Repeat("r", 65)})
	if f := alice.until("error", nil); f["code"] != "bad_frame" || f["ref"] != nil {
		t.Errorf("answer to an over-long ref: %v, want bad_frame without ref", f)
	}
}
