package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"securechat/app/store"
	"securechat/app/store/sqlite"
)

const (
	// chromiumPath is Debian's Chromium, the browser CI installs.
	chromiumPath = "/usr/bin/chromium"
	// stepTimeout bounds every browser step, so a broken page fails the test
	// instead of hanging it.
	stepTimeout = 20 * time.Second
	// browserTimeout bounds the whole browser session, browser start included.
	browserTimeout = 2 * time.Minute
)

// TestBrowserChat drives the real server with two real browsers: both log in
// through the form, alice writes, bob reads, and markup in a message stays text.
func TestBrowserChat(t *testing.T) {
	requireChromium(t)

	// The server starts first so that it stops last: cleanups run in reverse,
	// and the browser's sockets should close before the server shuts down.
	s := startServer(t, "")
	users := []struct{ name, password string }{
		{"alice", "alice-password-1"},
		{"bob", "bob-password-22"},
	}
	for _, u := range users {
		s.addUser(u.name, u.password)
	}

	browser := startChromium(t)
	tabs := make([]*tab, len(users))
	for i, u := range users {
		// Each tab is a separate browser context, so bob's visit to / landing
		// on the login page (checked in login) also proves he does not share
		// alice's cookie.
		tabs[i] = openTab(t, browser, u.name, chromedp.WithNewBrowserContext())
		tabs[i].login(s.URL, u.name, u.password)
	}
	alice, bob := tabs[0], tabs[1]

	// Everyone sees everyone online, so both sockets are up and in #general
	// before the first message is sent.
	for _, tb := range tabs {
		for _, u := range users {
			tb.waitOnline(u.name)
		}
	}

	messages := []struct {
		name string
		text string
	}{
		{"plain", "hello bob, it's alice"},
		// Markup must arrive as the very characters typed: no script runs and
		// no element is made.
		{"markup", `<script>window.pwned=1</script><b>bold</b>`},
	}
	// No subtests: the tabs hold the parent t, and a subtest must not call
	// FailNow on its parent.
	for _, m := range messages {
		alice.send(m.text)
		for _, tb := range tabs {
			tb.waitMessage("alice", m.text)
			got := tb.lastMessage()
			want := shownMessage{Author: "alice", Text: m.text, Mine: tb == alice}
			if got != want {
				t.Errorf("%s: %s: last message is %+v, want %+v", m.name, tb.name, got, want)
			}
			if v := value(tb, "typeof window.pwned", chromedp.Evaluate[string](`typeof window.pwned`)); v != "undefined" {
				t.Errorf("%s: %s: window.pwned is %s: a message ran as script", m.name, tb.name, v)
			}
			if n := value(tb, "count <b> in #messages", chromedp.Evaluate[int](`document.querySelectorAll("#messages b").length`)); n != 0 {
				t.Errorf("%s: %s: %d <b> elements in #messages: a message was parsed as HTML", m.name, tb.name, n)
			}
		}
		// The page clears the box only once the message went out.
		if v := value(alice, "read #text", chromedp.Value(chromedp.ID("text"))); v != "" {
			t.Errorf("%s: alice: message box still holds %q after sending", m.name, v)
		}
	}

	// Shift+Enter starts a new line; Enter sends the two lines as one message.
	const twoLines = "first line\nsecond line"
	alice.do("type two lines",
		chromedp.SendKeys(chromedp.ID("text"), "first line"),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(kb.ModifierShift)),
		chromedp.SendKeys(chromedp.ID("text"), "second line"),
		pressEnter)
	for _, tb := range tabs {
		tb.waitMessage("alice", twoLines)
	}

	// A right-to-left override (sent by a script: the keyboard cannot type
	// it) is shown as the characters it is, inside its own message block,
	// which ends its reach (and app.css isolates it besides).
	const bidi = "\u202eexe.txt and what follows"
	post(s.dialBearer(s.token("bob", "bob-password-22")), "general", bidi)
	for _, tb := range tabs {
		tb.waitMessage("bob", bidi)
	}

	// Someone typing is active: the page has renewed its session (the cookie,
	// and the life of its socket) once it saw that.
	alice.waitFor("a session refresh", `performance.getEntriesByType("resource").some(e =>
		new URL(e.name).pathname === "/session/refresh" && e.responseStatus === 200)`)

	bob.screenshot(screenshotDir(t), "chat.png")

	for _, tb := range tabs {
		tb.checkConsole(false)
	}
}

// TestBrowserBidiInNotice: a refused message quoted in the notice sentence is
// isolated in a <bdi>, so a right-to-left override in it cannot reorder the
// words after it (a message's own block already ends its reach).
func TestBrowserBidiInNotice(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "", "--message-rate", "1/1h:1")
	s.addUser("alice", "alice-password-1")
	alice := openTab(t, startChromium(t), "alice")
	alice.login(s.URL, "alice", "alice-password-1")
	alice.send("the one message allowed")
	alice.waitMessage("alice", "the one message allowed")

	// Send a second message (refused: the rate allows one), and type a draft
	// before the refusal comes back, so the notice quotes the refused text.
	const bidi = "\u202eexe.txt"
	value(alice, "send a refused message with a draft after it", chromedp.Evaluate[bool](`(() => {
		const box = document.getElementById("text");
		box.value = `+jsString(bidi)+`;
		box.form.requestSubmit();
		box.value = "draft";
		return true;
	})()`))
	alice.waitFor("the notice quoting the refused text", `document.querySelector("#notice bdi")?.textContent === `+jsString(bidi))
	if v := value(alice, "the notice", chromedp.Evaluate[string](`document.getElementById("notice").textContent`)); !strings.HasSuffix(v, "” in #general.") {
		t.Errorf("notice is %q, want it to end with the room after the isolated text", v)
	}
	alice.checkConsole(false)
}

// TestBrowserRefusalsMatchedByRef: the page names each send with a ref and
// matches the server's refusals by it. Two sends are refused in a row: both
// texts go back into the box, in the order sent (the first refusal is the
// first send's), and the notice says when sending works again.
func TestBrowserRefusalsMatchedByRef(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "", "--message-rate", "1/1h:1")
	s.addUser("alice", "alice-password-1")
	alice := openTab(t, startChromium(t), "alice")
	alice.login(s.URL, "alice", "alice-password-1")
	alice.send("the one message allowed")
	alice.waitMessage("alice", "the one message allowed")

	value(alice, "send two messages the rate refuses", chromedp.Evaluate[bool](`(() => {
		const box = document.getElementById("text");
		for (const text of ["second", "third"]) {
			box.value = text;
			box.form.requestSubmit();
		}
		return true;
	})()`))
	alice.waitFor("both refused texts back in the box", `document.getElementById("text").value === "second\nthird"`)
	const want = "Slow down: you can send again in 1 hour. Your 2 messages are back in the message box."
	if v := value(alice, "read the notice", chromedp.Evaluate[string](`document.getElementById("notice").textContent`)); v != want {
		t.Errorf("notice %q, want %q", v, want)
	}
	alice.checkConsole(false)
}

// TestBrowserLimitsFromServer: the page takes the longest message from the
// server's --max-text: the box's maxlength is it, and a longer text (put in
// by a script, past maxlength) is refused by the page itself, with that
// number, and kept in the box.
func TestBrowserLimitsFromServer(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "", "--max-text", "20")
	s.addUser("alice", "alice-password-1")
	alice := openTab(t, startChromium(t), "alice")
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitOnline("alice")
	if n := value(alice, "read the box's maxlength", chromedp.Evaluate[int](`document.getElementById("text").maxLength`)); n != 20 {
		t.Errorf("message box maxlength is %d, want the server's 20", n)
	}

	const long = "twenty-five characters!!!"
	value(alice, "send a message longer than --max-text", chromedp.Evaluate[bool](`(() => {
		const box = document.getElementById("text");
		box.value = `+jsString(long)+`;
		box.form.requestSubmit();
		return true;
	})()`))
	const notice = "A message is at most 20 characters; this one has 25. Your message is kept: shorten it and send it again."
	alice.waitFor("the page's notice", `document.getElementById("notice").textContent === `+jsString(notice))
	if v := value(alice, "read #text", chromedp.Value(chromedp.ID("text"))); v != long {
		t.Errorf("message box holds %q, want the refused text kept", v)
	}
	// Within the limit, it goes out.
	alice.do("clear the box", chromedp.Evaluate[chromedp.Void](`document.getElementById("text").value = ""`))
	alice.send("twenty characters ok")
	alice.waitMessage("alice", "twenty characters ok")
	alice.checkConsole(false)
}

// TestBrowserRooms: alice and bob are both in #general and #dev. Messages to a
// room alice is not looking at count as unread in her room list, show up when
// she opens the room, and never leak into another room's view.
func TestBrowserRooms(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	s.addUser("bob", "bob-password-22")

	browser := startChromium(t)
	alice := openTab(t, browser, "alice", chromedp.WithNewBrowserContext())
	alice.login(s.URL, "alice", "alice-password-1")
	bob := openTab(t, browser, "bob", chromedp.WithNewBrowserContext())
	bob.login(s.URL, "bob", "bob-password-22")
	for _, tb := range []*tab{alice, bob} {
		tb.waitOnline("alice")
		tb.waitOnline("bob")
	}

	// Both join #dev through the join form; each page switches to it. Seeing
	// the other online in #dev means both sockets are members before bob writes.
	bob.joinRoom("dev")
	alice.joinRoom("dev")
	for _, tb := range []*tab{alice, bob} {
		tb.waitOnline("alice")
		tb.waitOnline("bob")
	}
	alice.clickRoom("general")

	devMessages := []string{"dev: the build is green", "dev: shipping the fix now"}
	for _, text := range devMessages {
		bob.send(text)
		bob.waitMessage("bob", text)
	}
	alice.waitFor("unread 2 for #dev", jsUnread("dev")+` === "2"`)
	if got := value(alice, "read the #dev badge", chromedp.Evaluate[string](jsBadgeText("dev"))); got != "2 unread" {
		t.Errorf("alice: #dev badge reads %q to a screen reader, want %q", got, "2 unread")
	}
	for _, text := range devMessages {
		if n := alice.countMessages(text); n != 0 {
			t.Errorf("alice: #dev message %q shown %d times in #general", text, n)
		}
	}

	alice.clickRoom("dev")
	for _, text := range devMessages {
		alice.waitMessage("bob", text)
	}
	alice.waitFor("no unread badge for #dev", jsUnread("dev")+` === ""`)

	// A message in #general while alice reads #dev: counted there, not shown here.
	const generalText = "general: lunch at noon?"
	bob.clickRoom("general")
	bob.send(generalText)
	bob.waitMessage("bob", generalText)
	alice.waitFor("unread 1 for #general", jsUnread("general")+` === "1"`)
	if n := alice.countMessages(generalText); n != 0 {
		t.Errorf("alice: #general message shown %d times in #dev", n)
	}
	if n := value(alice, "count messages", chromedp.Evaluate[int](`document.querySelectorAll("#messages li.msg").length`)); n != len(devMessages) {
		t.Errorf("alice: #dev shows %d messages, want %d; page: %s", n, len(devMessages), alice.state())
	}

	alice.clickRoom("general")
	alice.waitMessage("bob", generalText)
	for _, text := range devMessages {
		if n := alice.countMessages(text); n != 0 {
			t.Errorf("alice: #dev message %q shown %d times in #general", text, n)
		}
	}
	alice.waitFor("no unread badge for #general", jsUnread("general")+` === ""`)

	// A reload keeps the rooms joined and the room shown.
	alice.clickRoom("dev")
	alice.do("reload", chromedp.Reload())
	alice.waitCurrent("dev")
	for _, text := range devMessages {
		alice.waitMessage("bob", text)
	}
	alice.waitFor("#general still among her rooms", `!!document.querySelector('#rooms button[data-room="general"]')`)

	for _, tb := range []*tab{alice, bob} {
		tb.checkConsole(false)
	}
}

// TestBrowserRoomSearch: the room list shows the first page of the most
// active rooms; typing the start of a name in the join box lists the rooms
// that start with it, past that page, and emptying the box brings the first
// page back.
func TestBrowserRoomSearch(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	// old-corner, then 80 rooms more recently active: old-corner is past the
	// first page. Written beside the server, as another node would.
	db, err := sqlite.Open(context.Background(), s.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now().Add(-time.Hour)
	msgs := []store.NewMessage{{Room: "old-corner", UserID: 1, User: "alice", Text: "x", TS: start}}
	for i := range 80 {
		msgs = append(msgs, store.NewMessage{Room: fmt.Sprintf("room-%02d", i), UserID: 1, User: "alice",
			Text: "x", TS: start.Add(time.Duration(i+1) * time.Second)})
	}
	if _, err := db.AppendMessages(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}

	alice := openTab(t, startChromium(t), "alice")
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitOnline("alice")
	const others = `[...document.querySelectorAll("#other-rooms button[data-room]")].map(b => b.dataset.room).join(" ")`
	// The first page: general (joined) and the 49 most active others.
	alice.waitFor("the first page of rooms", `document.querySelectorAll("#other-rooms button[data-room]").length === 49`)
	if got := value(alice, "read the other rooms", chromedp.Evaluate[string](others)); strings.Contains(got, "old-corner") {
		t.Errorf("old-corner is listed before any search: %s", got)
	}

	alice.do("type old", chromedp.SendKeys(chromedp.ID("join-room"), "old"))
	alice.waitFor("only old-corner listed", others+` === "old-corner"`)

	alice.do("empty the join box", chromedp.SendKeys(chromedp.ID("join-room"), kb.Backspace+kb.Backspace+kb.Backspace))
	alice.waitFor("the first page again", `document.querySelectorAll("#other-rooms button[data-room]").length === 49`)
	if got := value(alice, "read the other rooms", chromedp.Evaluate[string](others)); !strings.HasPrefix(got, "room-79 room-78") {
		t.Errorf("other rooms after the search: %.40s…; want room-79 room-78 first", got)
	}
	alice.checkConsole(false)
}

// TestBrowserReconnect restarts the server under an open page: the page shows
// that it is reconnecting, comes back by itself, gets what was written while
// it was away, and shows every message exactly once.
func TestBrowserReconnect(t *testing.T) {
	requireChromium(t)
	dir := t.TempDir()
	s := startServer(t, dir)
	s.addUser("alice", "alice-password-1")
	s.addUser("bob", "bob-password-22")

	browser := startChromium(t)
	alice := openTab(t, browser, "alice", chromedp.WithNewBrowserContext())
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitOnline("alice")

	bob := s.dialBearer(s.token("bob", "bob-password-22"))
	bob.until("joined", aboutRoom("general"))
	const before = "bob: written before the restart"
	post(bob, "general", before)
	alice.waitMessage("bob", before)
	const mine = "alice: also before the restart"
	alice.send(mine)
	alice.waitMessage("alice", mine)

	addr := strings.TrimPrefix(s.URL, "http://")
	s.Stop()
	alice.do("wait for the reconnecting banner", chromedp.WaitVisible(chromedp.ID("banner")))
	alice.savePNG(screenshotDir(t), "chat-reconnecting.png")

	// The same address and data: the page's reconnection attempts find it.
	s2 := startServer(t, dir, "--addr", addr)
	if s2.URL != s.URL {
		t.Fatalf("restarted on %s, want %s", s2.URL, s.URL)
	}
	bob2 := s2.dialBearer(s2.token("bob", "bob-password-22"))
	bob2.until("welcome", nil)
	const during = "bob: written as soon as the server was back"
	post(bob2, "general", during)

	alice.waitMessage("bob", during)
	alice.waitFor("the banner to hide", `document.getElementById("banner").hidden`)
	// Now live again: one more, which must also come once.
	const after = "bob: written after alice reconnected"
	alice.waitOnline("alice")
	post(bob2, "general", after)
	alice.waitMessage("bob", after)
	for _, text := range []string{before, mine, during, after} {
		if n := alice.countMessages(text); n != 1 {
			t.Errorf("alice: %q shown %d times, want once; page: %s", text, n, alice.state())
		}
	}
	// And the page can write again.
	const again = "alice: back after the restart"
	alice.send(again)
	alice.waitMessage("alice", again)

	// The failed connection attempts while the server was down are logged as
	// network errors; anything else is a problem.
	alice.checkConsole(true)
}

// TestBrowserHistoryPagedBySize: long messages make the server cut a history
// page short for size ("more": true); the page must not take the short page
// for the start of the room, and keeps loading older ones as the reader scrolls.
func TestBrowserHistoryPagedBySize(t *testing.T) {
	requireChromium(t)
	// A 64 KiB byte bound makes a page 16 KiB: about five of these messages.
	s := startServer(t, "", "--send-queue-bytes", "65536")
	s.addUser("alice", "alice-password-1")
	s.addUser("writer", "writer-password")
	w := s.dialBearer(s.token("writer", "writer-password"))
	w.until("joined", aboutRoom("general"))
	const total = 12
	for i := range total {
		post(w, "general", fmt.Sprintf("long %02d ", i+1)+strings.Repeat("x", 3000))
	}
	alice := openTab(t, startChromium(t), "alice")
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitFor("the newest message", `[...document.querySelectorAll("#messages li.msg .text")].some(e => e.textContent.startsWith("long 12 "))`)
	if n := value(alice, "count messages", chromedp.Evaluate[int](`document.querySelectorAll("#messages li.msg").length`)); n >= total {
		t.Fatalf("the first page shows %d messages; the test needs a page cut short for size", n)
	}
	// Each poll scrolls to the top, as a reader would, until everything is there.
	alice.waitFor("every message after scrolling up", fmt.Sprintf(`(() => {
		document.getElementById("messages").scrollTop = 0;
		return document.querySelectorAll("#messages li.msg").length === %d;
	})()`, total))
	alice.waitFor("the start of the room", `document.querySelector("#messages .list-start").textContent === "This is the start of #general."`)
	alice.checkConsole(false)
}

// TestBrowserHistory: the page starts with the newest messages of a long
// room, loads older ones as the reader scrolls up (keeping what they look at
// in place), and while they are scrolled up, new messages wait below behind a
// hint instead of pulling the view down.
func TestBrowserHistory(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	// Several writers, as one user may only send a burst of messages at once.
	const total, writers = 120, 6
	var clients []*wsClient
	for i := range writers {
		name := fmt.Sprintf("writer%d", i+1)
		s.addUser(name, name+"-password")
		c := s.dialBearer(s.token(name, name+"-password"))
		c.until("joined", aboutRoom("general"))
		clients = append(clients, c)
	}
	texts := make([]string, total)
	for i := range texts {
		texts[i] = fmt.Sprintf("history %03d", i+1)
		post(clients[i%writers], "general", texts[i])
	}

	browser := startChromium(t)
	alice := openTab(t, browser, "alice", chromedp.WithNewBrowserContext())
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitMessage("writer6", texts[total-1])
	const count = `document.querySelectorAll("#messages li.msg").length`
	if n := value(alice, "count messages", chromedp.Evaluate[int](count)); n != 50 {
		t.Errorf("alice: %d messages shown on arrival, want the newest 50", n)
	}

	// Scroll to the top: the next 50 older come, and the message that was at
	// the top stays where it was on screen instead of the view jumping.
	const top = "history 071"
	alice.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`document.getElementById("messages").scrollTop = 0`))
	alice.waitFor("100 messages", count+` === 100`)
	alice.waitFor(top+" still in view", fmt.Sprintf(`(() => {
		const list = document.getElementById("messages");
		const li = [...list.querySelectorAll("li.msg")].find(li => li.querySelector(".text").textContent === %s);
		const a = li.getBoundingClientRect(), b = list.getBoundingClientRect();
		return list.scrollTop > 0 && a.top >= b.top && a.bottom <= b.bottom;
	})()`, jsString(top)))
	alice.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`document.getElementById("messages").scrollTop = 0`))
	alice.waitFor("every message", count+fmt.Sprintf(` === %d`, total))
	alice.waitFor("the start of the room", `document.querySelector("#messages .list-start").textContent === "This is the start of #general."`)
	shown := value(alice, "read messages", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#messages li.msg .text")].map(e => e.textContent)`))
	if !slices.Equal(shown, texts) {
		t.Errorf("alice: messages shown out of order or not once each: %q", shown)
	}

	// Scrolled up, a new message does not move the view; a hint says it is there.
	const atBottom = `(() => { const l = document.getElementById("messages"); return l.scrollHeight - l.scrollTop - l.clientHeight < 40; })()`
	alice.do("scroll up", chromedp.Evaluate[chromedp.Void](`document.getElementById("messages").scrollTop = 600`))
	alice.waitFor("scrolled up", "!"+atBottom)
	post(clients[0], "general", "new while alice reads old ones")
	alice.waitFor("the new-messages hint", `!document.getElementById("new-hint").hidden`)
	alice.savePNG(screenshotDir(t), "chat-new-messages.png")
	if got := value(alice, "read the hint", chromedp.TextContent(chromedp.ID("new-hint"))); got != "1 new message ↓" {
		t.Errorf("alice: hint says %q", got)
	}
	if value(alice, "at bottom?", chromedp.Evaluate[bool](atBottom)) {
		t.Errorf("alice: the view followed a new message while she was scrolled up")
	}
	alice.do("click the hint", chromedp.Click(chromedp.ID("new-hint")))
	alice.waitFor("the end of the list, hint gone", atBottom+` && document.getElementById("new-hint").hidden`)

	// At the end, the view follows new messages.
	post(clients[1], "general", "and one more")
	alice.waitMessage("writer2", "and one more")
	alice.waitFor("the view to follow", atBottom)

	// Only new messages were announced, not the history.
	said := value(alice, "read the live region", chromedp.TextContent(chromedp.ID("announcer")))
	if !strings.Contains(said, "writer1: new while alice reads old ones") || strings.Contains(said, "history") {
		t.Errorf("alice: live region says %q, want only the new messages", said)
	}
	alice.checkConsole(false)
}

// TestBrowserLogoutElsewhere: logging out in another tab ends the session, the
// server closes the page's socket with 4401, and the page goes to the login
// form instead of reconnecting.
func TestBrowserLogoutElsewhere(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")

	browser := startChromium(t)
	alice := openTab(t, browser, "alice", chromedp.WithNewBrowserContext())
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitOnline("alice")

	other := openTab(t, alice.ctx, "alice's second tab") // same browser context: same cookie
	other.do("open the chat and log out",
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("send-form")),
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("username")),
	)

	alice.do("wait for the login form", chromedp.WaitVisible(chromedp.ID("username")))
	if loc := value(alice, "read location", chromedp.Location()); loc != s.URL+"/login?next=%2F" {
		t.Errorf("alice: after logging out elsewhere the page is at %s, want %s/login?next=%%2F", loc, s.URL)
	}
	alice.checkConsole(false)
	other.checkConsole(false)
}

// TestBrowserIdleSessionEnds: a page nobody touches keeps its session only
// until it expires; then the server closes the socket with 4401 and the page
// goes to the login form instead of reconnecting.
func TestBrowserIdleSessionEnds(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "", "--token-ttl", "4s")
	s.addUser("alice", "alice-password-1")

	browser := startChromium(t)
	alice := openTab(t, browser, "alice", chromedp.WithNewBrowserContext())
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitOnline("alice")
	alice.do("wait for the login form", chromedp.WaitVisible(chromedp.ID("username")))
	if loc := value(alice, "read location", chromedp.Location()); loc != s.URL+"/login?next=%2F" {
		t.Errorf("alice: after her session expired the page is at %s, want %s/login?next=%%2F", loc, s.URL)
	}
	alice.checkConsole(false)
}

// TestBrowserScreenshots renders the chat with messages in two rooms at a
// phone's and a desktop's width, in the light and the dark scheme, checks the
// layout fits, and saves the pictures (see screenshotDir).
func TestBrowserScreenshots(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	for _, u := range []string{"alice", "bob", "carol"} {
		s.addUser(u, u+"-password-1")
	}
	sockets := map[string]*wsClient{}
	for _, u := range []string{"bob", "carol"} {
		c := s.dialBearer(s.token(u, u+"-password-1"))
		c.until("joined", aboutRoom("general"))
		sockets[u] = c
	}
	bob, carol := sockets["bob"], sockets["carol"]
	for _, j := range []struct {
		c    *wsClient
		room string
	}{{bob, "dev"}, {carol, "dev"}, {carol, "random"}} {
		j.c.send(map[string]any{"type": "join", "room": j.room})
		j.c.until("joined", aboutRoom(j.room))
	}
	post(carol, "random", "Anyone up for lunch at noon?")
	post(bob, "dev", "PR #42 (rate limiter for the token endpoint) is ready for review.")
	post(carol, "dev", "Looking at it now.")
	post(bob, "general", "Morning all! The release train leaves at 10:00.")
	post(carol, "general", "I'll run the smoke tests on staging first.")

	browser := startChromium(t)
	alice := openTab(t, browser, "alice", chromedp.WithNewBrowserContext())
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitMessage("carol", "I'll run the smoke tests on staging first.")
	alice.joinRoom("dev")
	alice.waitMessage("carol", "Looking at it now.")
	alice.clickRoom("general")
	alice.send("Thanks both. I'm watching the dashboards.")
	alice.waitMessage("alice", "Thanks both. I'm watching the dashboards.")
	post(bob, "general", "Great. If the error rate goes above 1% we roll back; the runbook is in the wiki under Releases > Rollback, and the on-call channel is #ops.")
	post(carol, "general", "Smoke tests passed on staging.")
	post(bob, "dev", "CI is green on #42.")
	post(bob, "dev", "Merging after lunch unless someone objects.")
	alice.waitMessage("carol", "Smoke tests passed on staging.")
	alice.waitFor("unread 2 for #dev", jsUnread("dev")+` === "2"`)
	alice.waitFor("#random among the other rooms", `!!document.querySelector('#other-rooms button[data-room="random"]')`)
	alice.waitOnline("carol")
	alice.do("blur", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))

	dir := screenshotDir(t)
	for _, size := range []struct{ width, height int64 }{{375, 740}, {1280, 800}} {
		for _, scheme := range []string{"light", "dark"} {
			alice.emulate(size.width, size.height, scheme)
			alice.checkLayout(size.width)
			alice.savePNG(dir, fmt.Sprintf("chat-%d-%s.png", size.width, scheme))
		}
	}
	// The phone's room drawer, open.
	alice.emulate(375, 740, "light")
	alice.do("open the room drawer", chromedp.Click(chromedp.ID("rooms-toggle")), chromedp.WaitVisible(chromedp.ID("sidebar")))
	if got := value(alice, "read the toggle", chromedp.AttributeValue(chromedp.ID("rooms-toggle"), "aria-expanded")); got.Value != "true" {
		t.Errorf("alice: rooms toggle has aria-expanded=%q with the drawer open", got.Value)
	}
	alice.savePNG(dir, "chat-375-rooms-light.png")

	// A room from the server's list: clicking it joins it and shows it, and
	// the drawer closes.
	alice.do("click #random", chromedp.Click(chromedp.CSS(`#other-rooms button[data-room="random"]`)))
	alice.waitCurrent("random")
	alice.waitMessage("carol", "Anyone up for lunch at noon?")
	alice.do("wait for the drawer to close", chromedp.WaitNotVisible(chromedp.ID("sidebar")))
	alice.waitFor("#random no longer among the other rooms", `!document.querySelector('#other-rooms button[data-room="random"]')`)

	// #dev: bob's two messages in a row share one name and time, under the
	// day's separator, and the room has a Leave button.
	alice.emulate(1280, 800, "light")
	alice.clickRoom("dev")
	alice.waitMessage("bob", "Merging after lunch unless someone objects.")
	alice.waitFor("bob's second message grouped", `document.querySelector("#messages li.msg:last-child")?.classList.contains("cont")`)
	alice.do("blur", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	for _, size := range []struct{ width, height int64 }{{375, 740}, {1280, 800}} {
		for _, scheme := range []string{"light", "dark"} {
			alice.emulate(size.width, size.height, scheme)
			alice.checkLayout(size.width)
			alice.savePNG(dir, fmt.Sprintf("chat-dev-%d-%s.png", size.width, scheme))
		}
	}
	alice.checkConsole(false)
}

// post sends text to room through a protocol socket and waits for its
// acknowledgement (the stored message coming back).
func post(c *wsClient, room, text string) {
	c.t.Helper()
	c.send(map[string]any{"type": "send", "room": room, "text": text})
	c.until("message", func(f map[string]any) bool { return f["room"] == room && f["text"] == text })
}

// aboutRoom matches a frame about room.
func aboutRoom(room string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["room"] == room }
}

// jsUnread is a page expression for the unread count the room list shows for
// a joined room: its digits, or "" when there is no badge.
func jsUnread(room string) string {
	return fmt.Sprintf(`(() => {
		const b = document.querySelector("#rooms button[data-room=" + JSON.stringify(%s) + "] .badge");
		return b && !b.hidden ? b.querySelector(".count").textContent : "";
	})()`, jsString(room))
}

// jsBadgeText is what the room's badge says in full, screen-reader text included.
func jsBadgeText(room string) string {
	return fmt.Sprintf(`(() => {
		const b = document.querySelector("#rooms button[data-room=" + JSON.stringify(%s) + "] .badge");
		return b && !b.hidden ? b.textContent : "";
	})()`, jsString(room))
}

// waitFor waits until the page expression expr is true.
func (tb *tab) waitFor(what, expr string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")",
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0)))
	if err != nil {
		tb.t.Fatalf("%s: wait for %s: %v; page: %s", tb.name, what, err, tb.state())
	}
}

// state describes what the page shows, for failure messages. It never fails.
func (tb *tab) state() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		location: location.href,
		room: document.getElementById("room-title")?.textContent,
		banner: document.getElementById("banner") ? !document.getElementById("banner").hidden : null,
		rooms: [...document.querySelectorAll("#rooms .room")].map(b => b.dataset.room + ":" + (b.querySelector(".badge:not([hidden]) .count")?.textContent || "0")),
		online: [...document.querySelectorAll("#online li")].map(li => li.textContent),
		messages: [...document.querySelectorAll("#messages li.msg")].map(li => li.dataset.id + " " + (li.querySelector(".author")?.textContent ?? "") + ": " + (li.querySelector(".text, .gone")?.textContent ?? "")),
	})`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// countMessages counts the shown messages whose text is exactly text.
func (tb *tab) countMessages(text string) int {
	tb.t.Helper()
	return value(tb, "count messages", chromedp.Evaluate[int](fmt.Sprintf(
		`[...document.querySelectorAll("#messages li.msg .text")].filter(e => e.textContent === %s).length`, jsString(text))))
}

// joinRoom joins a room through the join form and waits until the page shows it.
func (tb *tab) joinRoom(room string) {
	tb.t.Helper()
	tb.do("join "+room,
		chromedp.SendKeys(chromedp.ID("join-room"), room),
		chromedp.Click(chromedp.CSS(`#join-form button[type="submit"]`)))
	tb.waitCurrent(room)
}

// clickRoom clicks a room in the room list and waits until the page shows it.
func (tb *tab) clickRoom(room string) {
	tb.t.Helper()
	tb.do("click #"+room, chromedp.Click(chromedp.CSS(`#sidebar button[data-room="`+room+`"]`)))
	tb.waitCurrent(room)
}

// waitCurrent waits until room is the one shown and marked current in the list.
func (tb *tab) waitCurrent(room string) {
	tb.t.Helper()
	tb.waitFor("#"+room+" current", fmt.Sprintf(
		`document.getElementById("room-title").textContent === "#" + %[1]s &&
		document.querySelector('#rooms button[aria-current="true"]')?.dataset.room === %[1]s`, jsString(room)))
}

// emulate sets the viewport (a phone below 768 px: touch, twice the pixels)
// and the color scheme the page sees, and waits until the page has them.
func (tb *tab) emulate(width, height int64, scheme string) {
	tb.t.Helper()
	var opts []chromedp.EmulateViewportOption
	if width < 768 {
		opts = append(opts, chromedp.EmulateScale(2), chromedp.EmulateMobile)
	}
	tb.do(fmt.Sprintf("emulate %dx%d %s", width, height, scheme),
		chromedp.EmulateViewport(width, height, opts...),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
			})
			return err
		}))
	tb.waitFor("the emulated screen", fmt.Sprintf(`innerWidth === %d && matchMedia("(prefers-color-scheme: %s)").matches`, width, scheme))
}

// layoutReport is what checkLayout measures in the page.
type layoutReport struct {
	Overflow      int      `json:"overflow"`      // page wider than the viewport, in px
	SidebarShown  bool     `json:"sidebarShown"`  // the room list takes space
	ToggleShown   bool     `json:"toggleShown"`   // the phone's Rooms button
	OnlineShown   bool     `json:"onlineShown"`   // the online column
	SendInView    bool     `json:"sendInView"`    // the message box is on screen
	Background    string   `json:"background"`    // the body's background color
	Text          string   `json:"text"`          // the body's text color
	MessagesClash bool     `json:"messagesClash"` // two messages overlap
	Clipped       []string `json:"clipped"`       // boxes whose content is wider than they are
}

// checkLayout checks that the page fits its width: nothing wider than the
// screen, the right columns for the width, messages not overlapping.
func (tb *tab) checkLayout(width int64) {
	tb.t.Helper()
	r := value(tb, "measure layout", chromedp.Evaluate[layoutReport](`(() => {
		const shown = (id) => { const e = document.getElementById(id); return !!e && e.getClientRects().length > 0; };
		const send = document.getElementById("send-form").getBoundingClientRect();
		const msgs = [...document.querySelectorAll("#messages li.msg")].map(li => li.getBoundingClientRect());
		const cs = getComputedStyle(document.body);
		return {
			overflow: Math.max(0, document.documentElement.scrollWidth - innerWidth),
			sidebarShown: shown("sidebar"), toggleShown: shown("rooms-toggle"), onlineShown: shown("online"),
			sendInView: send.bottom <= innerHeight && send.right <= innerWidth && send.top >= 0,
			background: cs.backgroundColor, text: cs.color,
			messagesClash: msgs.some((a, i) => i > 0 && a.top < msgs[i - 1].bottom - 0.5),
			clipped: [...document.querySelectorAll(".topbar, .sidebar, .sidebar *, .room-head, .messages, .send-form, .online")]
				.filter(e => !e.closest(".visually-hidden") && e.getClientRects().length > 0 && e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).textOverflow !== "ellipsis")
				.map(e => e.id || e.className || e.tagName),
		};
	})()`))
	wide := width >= 768
	if r.Overflow > 0 || r.SidebarShown != wide || r.ToggleShown == wide || r.OnlineShown != wide || !r.SendInView || r.MessagesClash || len(r.Clipped) > 0 || r.Background == r.Text {
		tb.t.Errorf("%s: layout at %d px: %+v", tb.name, width, r)
	}
}

// savePNG saves a screenshot of the page as it is as dir/name.
func (tb *tab) savePNG(dir, name string) {
	tb.t.Helper()
	png := value(tb, "screenshot "+name, chromedp.FullScreenshot(100)) // 100: PNG, not JPEG
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		tb.t.Fatalf("%s: screenshot is not a PNG", tb.name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("%s: screenshot in %s", tb.name, path)
}

// requireChromium skips the test where there is no Chromium, except in CI,
// where a missing browser must fail rather than let the test pass silently.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("no Chromium at %s (install the chromium package): %v", chromiumPath, err)
		}
		t.Fatalf("CI is set but there is no Chromium at %s: %v", chromiumPath, err)
	}
}

// startChromium starts headless Chromium with a fresh profile and returns a
// context that holds the running browser; tabs are made from it.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)

	// A clean list, not chromedp.DefaultExecAllocatorOptions, so the browser
	// gets exactly these flags and nothing a chromedp upgrade adds.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // Chromium's sandbox does not run as root in containers
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	// Registered after TempDir, so the browser exits before its profile is removed.
	t.Cleanup(cancelAlloc)

	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	// The first action starts the browser and binds it to browserCtx, which
	// has only the session's deadline: a step timeout here would close it.
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return browserCtx
}

// tab is one page in its own browser context (its own cookies and storage).
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu       sync.Mutex
	problems []chromedp.ConsoleMessage // console errors and uncaught exceptions, in order
}

// openTab opens a page from parent (the browser, or another tab: then it
// shares that tab's browser context, cookies included, unless opts give it a
// new one) and starts recording what the page reports as errors.
func openTab(t *testing.T, parent context.Context, name string, opts ...chromedp.ContextOption) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: open tab: %v", name, err)
	}
	tb := &tab{t: t, name: name, ctx: ctx}
	// Subscribe here, before any navigation, so no early message is lost. The
	// loop ends when the tab's context is cancelled at cleanup.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				tb.mu.Lock()
				tb.problems = append(tb.problems, m)
				tb.mu.Unlock()
			}
		}
	}()
	return tb
}

// consoleProblems returns the console errors and uncaught exceptions so far,
// except those the browser logs for failed requests (source "network") when
// allowNetwork is set: a page whose server is down on purpose logs its failed
// reconnection attempts.
func (tb *tab) consoleProblems(allowNetwork bool) []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, m := range tb.problems {
		if allowNetwork && m.Source == "network" {
			continue
		}
		out = append(out, fmt.Sprintf("%s (%s:%d)", m.Text, m.URL, m.Line+1)) // Line counts from 0
	}
	return out
}

// checkConsole reports what the page logged as errors.
func (tb *tab) checkConsole(allowNetwork bool) {
	tb.t.Helper()
	for _, p := range tb.consoleProblems(allowNetwork) {
		tb.t.Errorf("%s: browser console: %s", tb.name, p)
	}
}

// do runs actions within one step timeout and fails the test on error.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
}

// value runs one action within one step timeout and returns its result. (A
// function, as methods cannot have type parameters.)
func value[T any](tb *tab, what string, action chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, what, err)
	}
	return v
}

// login visits the chat logged out, checks it is sent to the login form, logs
// in through the form and checks it lands on the chat page.
func (tb *tab) login(baseURL, user, password string) {
	tb.t.Helper()
	tb.do("open /", chromedp.Navigate(baseURL+"/"))
	if loc := value(tb, "read location", chromedp.Location()); !strings.Contains(loc, "/login?next=") {
		tb.t.Fatalf("%s: visiting / while logged out led to %s, want the login form", tb.name, loc)
	}
	tb.do("log in",
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		// Only the chat page has the send form, so this waits for the redirect.
		chromedp.WaitVisible(chromedp.ID("send-form")),
	)
	// The page's modules run before DOMContentLoaded, which can come after
	// the page is visible; the browser then hands out its elements again
	// (DOM.documentUpdated), and an element found before is gone for
	// chromedp. Steps on elements start after it.
	tb.waitFor("the page's script", `document.readyState === "complete"`)
	if loc := value(tb, "read location", chromedp.Location()); loc != baseURL+"/" {
		tb.t.Fatalf("%s: login led to %s, want %s/", tb.name, loc, baseURL)
	}
	if me := value(tb, "read #me", chromedp.TextContent(chromedp.ID("me"))); me != user {
		tb.t.Fatalf("%s: chat page shows user %q, want %q", tb.name, me, user)
	}
}

// waitOnline waits until user is in the page's online list, which the server
// fills only once the page's socket has joined the room.
func (tb *tab) waitOnline(user string) {
	tb.t.Helper()
	tb.do("wait for "+user+" online", chromedp.WaitVisible(chromedp.JSPath(fmt.Sprintf(
		`[...document.querySelectorAll("#online li .name")].find(e => e.textContent === %s)`, jsString(user)))))
	if hidden := value(tb, "read #banner", chromedp.Evaluate[bool](`document.getElementById("banner").hidden`)); !hidden {
		tb.t.Errorf("%s: reconnecting banner shown while connected", tb.name)
	}
}

// send types text into the message box and presses Enter.
func (tb *tab) send(text string) {
	tb.t.Helper()
	tb.do("send "+text, chromedp.SendKeys(chromedp.ID("text"), text), pressEnter)
}

// pressEnter presses Enter in the focused element as a keyboard does. SendKeys
// with "\n" would also send a separate char event, which a page that handles
// Enter on keydown and cancels it never gets from a real keyboard; here it
// would put a stray line break in the emptied message box.
var pressEnter = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
			Type: typ, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
		}); err != nil {
			return err
		}
	}
	return nil
})

// waitMessage waits until the page shows a message by author with exactly
// text. It compares textContent in the page, so markup in text is matched as
// the characters it is, never as a selector or XPath fragment.
func (tb *tab) waitMessage(author, text string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.JSPath(fmt.Sprintf(
		`[...document.querySelectorAll("#messages li.msg")].find(li =>
			li.querySelector(".author")?.textContent === %s && li.querySelector(".text")?.textContent === %s)`,
		jsString(author), jsString(text)))))
	if err != nil {
		// Say what the page shows instead, which is what tells a message
		// that never came from one that was rendered wrong.
		tb.t.Fatalf("%s: no message %q by %s: %v; last message shown: %+v", tb.name, text, author, err, tb.lastMessage())
	}
}

// shownMessage is a message as the page renders it.
type shownMessage struct {
	Author string `json:"author"`
	Text   string `json:"text"`
	Mine   bool   `json:"mine"`
}

// lastMessage reads the last message in the list, as text.
func (tb *tab) lastMessage() shownMessage {
	tb.t.Helper()
	return value(tb, "read last message", chromedp.Evaluate[shownMessage](`(() => {
		const li = [...document.querySelectorAll("#messages li.msg")].pop();
		return li ? {
			author: li.querySelector(".author")?.textContent ?? "",
			text: li.querySelector(".text")?.textContent ?? "",
			mine: li.classList.contains("mine"),
		} : {};
	})()`))
}

// screenshot saves a full-page PNG of the tab at a desktop size as dir/name.
func (tb *tab) screenshot(dir, name string) {
	tb.t.Helper()
	tb.do("set viewport", chromedp.EmulateViewport(1280, 800))
	tb.savePNG(dir, name)
}

// screenshotDir is $SECURECHAT_SCREENSHOTS, for keeping screenshots (CI
// artifacts), else a folder removed after the test.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("SECURECHAT_SCREENSHOTS"); dir != "" {
		return dir
	}
	return t.TempDir()
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always marshals
	}
	return string(b)
}
