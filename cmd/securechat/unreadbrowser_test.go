package main

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// jsRoomList is a page expression for the names in "Your rooms", in order.
const jsRoomList = `[...document.querySelectorAll("#rooms button[data-room]")].map(b => b.dataset.room).join(" ")`

// TestBrowserRoomsKeptByServer: the rooms bob joined, their unread counts and
// the room he was reading belong to his account: a reload and a second
// browser show the same, and reading a room in one clears its badge in the
// other.
func TestBrowserRoomsKeptByServer(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	s.addUser("bob", "bob-password-22")
	alice := s.dialBearer(s.token("alice", "alice-password-1"))
	alice.until("joined", aboutRoom("general"))
	post(alice, "general", "good morning")

	browser := startChromium(t)
	bob := openTab(t, browser, "bob", chromedp.WithNewBrowserContext())
	bob.login(s.URL, "bob", "bob-password-22")
	bob.waitOnline("bob")
	bob.joinRoom("dev-team")
	bob.clickRoom("general") // bob reads #general
	bob.waitMessage("alice", "good morning")

	alice.joinRoom("dev-team")
	post(alice, "dev-team", "first")
	post(alice, "dev-team", "second")
	bob.waitFor("unread 2 for #dev-team", jsUnread("dev-team")+` === "2"`)

	check := func(tb *tab, when string) {
		t.Helper()
		tb.waitFor("the page's script", `document.readyState === "complete"`)
		tb.waitOnline("bob")
		tb.waitCurrent("general")
		tb.waitFor("#dev-team among his rooms with 2 unread", jsUnread("dev-team")+` === "2"`)
		if got := value(tb, "read his rooms", chromedp.Evaluate[string](jsRoomList)); got != "general dev-team" {
			t.Errorf("%s: his rooms %q, want %q", when, got, "general dev-team")
		}
		tb.waitMessage("alice", "good morning")
	}
	bob.do("reload", chromedp.Reload())
	check(bob, "after a reload")

	// Another device: a browser with nothing of the first one's.
	other := openTab(t, browser, "bob elsewhere", chromedp.WithNewBrowserContext())
	other.login(s.URL, "bob", "bob-password-22")
	check(other, "in a second browser")

	// Reading #dev-team in one clears its badge in the other.
	other.clickRoom("dev-team")
	other.waitMessage("alice", "second")
	other.waitFor("no badge for #dev-team where he reads it", jsUnread("dev-team")+` === ""`)
	bob.waitFor("no badge for #dev-team in the other browser", jsUnread("dev-team")+` === ""`)
	if got := bob.countMessages("second"); got != 0 {
		t.Errorf("a #dev-team message shown %d times in the first browser's #general", got)
	}

	// The second browser read #dev-team last: a reload of the first opens it.
	bob.do("reload", chromedp.Reload())
	bob.waitFor("the page's script", `document.readyState === "complete"`)
	bob.waitCurrent("dev-team")
	bob.waitMessage("alice", "second")
	for _, tb := range []*tab{bob, other} {
		tb.checkConsole(false)
	}
}
