package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"securechat/app/store"
	"securechat/app/store/sqlite"
)

// TestChatPageRole: the chat page tells its script whether the account is
// an admin (so it offers delete on every message), read from the store at
// each request, and the prefix no user-chosen room name may start with.
func TestChatPageRole(t *testing.T) {
	s := startServer(t, "")
	s.addUser("boss", "boss-password-1")
	s.addUser("alice", "alice-password-1")
	if out, err := s.cli("", "user", "role", "boss", "admin"); err != nil {
		t.Fatalf("user role boss admin: %v (%s)", err, out)
	}
	for _, tc := range []struct {
		user, want string
	}{
		{"boss", `data-admin="true"`},
		{"alice", `data-admin="false"`},
	} {
		b := s.newBrowser()
		b.login(tc.user, tc.user+"-password-1")
		page := b.get("/")
		if !strings.Contains(page, tc.want) {
			t.Errorf("%s: chat page lacks %s", tc.user, tc.want)
		}
		if want := `data-dm-prefix="` + store.DMPrefix + `"`; !strings.Contains(page, want) {
			t.Errorf("%s: chat page lacks %s", tc.user, want)
		}
	}
}

// jsMessage is a page expression for the shown message (li) whose text is
// exactly text, or undefined.
func jsMessage(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#messages li.msg")].find(li => li.querySelector(".text")?.textContent === %s)`, jsString(text))
}

// jsRoomButton is a page expression for room's button in either room list.
func jsRoomButton(room string) string {
	return fmt.Sprintf(`document.querySelector("#sidebar button[data-room=" + JSON.stringify(%s) + "]")`, jsString(room))
}

// jsShownRooms is a page expression for every room name the page's lists hold, space-separated.
const jsShownRooms = `[...document.querySelectorAll("#sidebar button[data-room]")].map(b => b.dataset.room).join(" ")`

// createPrivate creates a private room through the join box with "Private" ticked.
func (tb *tab) createPrivate(room string) {
	tb.t.Helper()
	tb.do("create private "+room,
		chromedp.SendKeys(chromedp.ID("join-room"), room),
		chromedp.Click(chromedp.ID("join-private")),
		chromedp.Click(chromedp.CSS(`#join-form button[type="submit"]`)))
	tb.waitCurrent(room)
}

// openMembers opens the members panel and waits until it lists user.
func (tb *tab) openMembers(user string) {
	tb.t.Helper()
	tb.do("open the members panel", chromedp.Click(chromedp.ID("members-toggle")), chromedp.WaitVisible(chromedp.ID("members-panel")))
	tb.waitMember(user)
}

// waitMember waits until the members panel lists user.
func (tb *tab) waitMember(user string) {
	tb.t.Helper()
	tb.waitFor(user+" among the members", fmt.Sprintf(`[...document.querySelectorAll("#members li .name")].some(e => e.textContent === %s)`, jsString(user)))
}

// invite invites user through the members panel's invite box.
func (tb *tab) invite(user string) {
	tb.t.Helper()
	tb.do("invite "+user,
		chromedp.SendKeys(chromedp.ID("invite-user"), user),
		chromedp.Click(chromedp.CSS(`#invite-form button[type="submit"]`)))
	tb.waitMember(user)
}

// messageAction clicks one of a message's buttons (edit, delete, delete-yes...).
func (tb *tab) messageAction(text, action string) {
	tb.t.Helper()
	tb.do(action+" "+text, chromedp.Click(chromedp.JSPath(jsMessage(text)+fmt.Sprintf(`?.querySelector('[data-action=%q]')`, action))))
}

// editMessage edits the reader's message text to edited inline: Enter saves.
func (tb *tab) editMessage(text, edited string) {
	tb.t.Helper()
	tb.messageAction(text, "edit")
	tb.waitFor("the edit box, focused", `document.activeElement?.classList.contains("edit-box")`)
	tb.do("type the edit",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#messages .edit-box").value = ""`),
		chromedp.SendKeys(chromedp.CSS("#messages .edit-box"), edited),
		pressEnter)
}

// waitEdited waits until the message text shows as edited.
func (tb *tab) waitEdited(text string) {
	tb.t.Helper()
	tb.waitFor(text+" shown as edited", jsMessage(text)+`?.querySelector(".edited")?.textContent === "(edited)"`)
}

// TestBrowserPrivateRoom: alice creates a private room and invites bob, who
// sees it appear and opens it; carol's page never lists it and cannot join
// it. alice's edit and delete show on bob's page in place; then alice
// removes bob, whose page leaves the room at once. Screenshots of alice's
// page with the members panel, an edited and a deleted message.
func TestBrowserPrivateRoom(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	for _, u := range []string{"alice", "bob", "carol"} {
		s.addUser(u, u+"-password-1")
	}
	browser := startChromium(t)
	tabs := map[string]*tab{}
	for _, u := range []string{"alice", "bob", "carol"} {
		tb := openTab(t, browser, u, chromedp.WithNewBrowserContext())
		utcEnUS(tb)
		tb.login(s.URL, u, u+"-password-1")
		tb.waitOnline(u)
		tabs[u] = tb
	}
	alice, bob, carol := tabs["alice"], tabs["bob"], tabs["carol"]

	alice.createPrivate("secret")
	alice.waitFor("a lock on #secret", jsRoomButton("secret")+`?.querySelector("svg.lock") && document.querySelector("#room-title svg.lock")`)
	alice.openMembers("alice")
	alice.waitFor("alice shown as owner", `[...document.querySelectorAll("#members li")].some(li => li.dataset.user === "alice" && li.textContent.includes("owner"))`)
	alice.invite("bob")

	// bob: the room appears in his list, locked, with a notice he can open it from.
	bob.waitFor("#secret in bob's rooms", `document.querySelector('#rooms button[data-room="secret"] svg.lock')`)
	bob.waitFor("the invitation notice", `document.getElementById("notice").textContent.includes("alice invited you to #secret")`)
	bob.clickRoom("secret")
	bob.send("hello from bob")
	alice.waitMessage("bob", "hello from bob")
	bob.waitFor("no members' buttons for bob", `!document.getElementById("members-toggle").hidden && document.getElementById("invite-form").hidden`)

	alice.send("a typo heer")
	alice.send("something to take back")
	alice.send("the last word")
	bob.waitMessage("alice", "the last word")

	// carol: a public room newer than #secret reaches her list, #secret never does.
	pub := s.dialBearer(s.token("carol", "carol-password-1"))
	pub.until("joined", aboutRoom("general"))
	pub.send(map[string]any{"type": "join", "room": "lobby"})
	pub.until("joined", aboutRoom("lobby"))
	post(pub, "lobby", "anyone here?")
	carol.do("reload", chromedp.Reload())
	carol.waitFor("the page's script", `document.readyState === "complete"`)
	carol.waitFor("#lobby in carol's list", jsRoomButton("lobby"))
	if got := value(carol, "read carol's rooms", chromedp.Evaluate[string](jsShownRooms)); strings.Contains(got, "secret") {
		t.Errorf("carol's room lists show #secret: %q", got)
	}
	// Joining it by name: refused, and the page gives it up and says why.
	carol.do("join secret", chromedp.SendKeys(chromedp.ID("join-room"), "secret"), chromedp.Click(chromedp.CSS(`#join-form button[type="submit"]`)))
	carol.waitFor("the refusal", `document.getElementById("notice").textContent.includes("#secret is private")`)
	carol.waitCurrent("general")
	if got := value(carol, "read carol's rooms", chromedp.Evaluate[string](jsShownRooms)); strings.Contains(got, "secret") {
		t.Errorf("carol's room lists show #secret after the refusal: %q", got)
	}
	if n := carol.countMessages("the last word"); n != 0 {
		t.Errorf("carol's page shows a message of #secret")
	}

	// Escape cancels an edit: nothing is sent, the text is as it was.
	dir := screenshotDir(t)
	alice.emulate(1280, 800, "light")
	alice.messageAction("the last word", "edit")
	alice.do("type", chromedp.SendKeys(chromedp.CSS("#messages .edit-box"), " not sent"))
	alice.savePNG(dir, "private-editing-1280-light.png")
	alice.do("cancel", chromedp.KeyEvent(kb.Escape))
	alice.waitFor("the edit box gone", `!document.querySelector("#messages .edit-box")`)
	alice.waitMessage("alice", "the last word")

	// An edit: in place, marked, on both pages.
	alice.editMessage("a typo heer", "a typo here")
	for _, tb := range []*tab{alice, bob} {
		tb.waitMessage("alice", "a typo here")
		tb.waitEdited("a typo here")
	}
	// A delete, after its confirm step: its place stays, its text is gone.
	id := value(alice, "read the id", chromedp.Evaluate[string](jsMessage("something to take back")+`.dataset.id`))
	alice.messageAction("something to take back", "delete")
	alice.savePNG(dir, "private-confirm-1280-light.png")
	alice.messageAction("something to take back", "delete-yes")
	for _, tb := range []*tab{alice, bob} {
		tb.waitFor("message deleted", fmt.Sprintf(`(() => {
			const li = document.querySelector('#messages li.msg[data-id="%s"]');
			return li && li.classList.contains("deleted") && li.textContent.includes("message deleted") &&
				li.previousElementSibling?.querySelector(".text")?.textContent === "a typo here" &&
				li.nextElementSibling?.querySelector(".text")?.textContent === "the last word";
		})()`, id))
		if got := value(tb, "search the page", chromedp.Evaluate[bool](`document.body.textContent.includes("something to take back")`)); got {
			t.Errorf("%s: the deleted text is still in the page", tb.name)
		}
	}
	if n := bob.countMessages("the last word"); n != 1 {
		t.Errorf("bob: the last message shown %d times", n)
	}

	alice.do("blur", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	for _, width := range []int64{375, 1280} {
		alice.emulate(width, map[int64]int64{375: 740, 1280: 800}[width], "light")
		alice.checkLayout(width)
		alice.savePNG(dir, fmt.Sprintf("private-%d-light.png", width))
	}
	alice.emulate(1280, 800, "dark")
	alice.savePNG(dir, "private-1280-dark.png")

	// Removal: bob's page leaves the room at once and says so.
	alice.do("remove bob", chromedp.Click(chromedp.CSS(`#members button[data-remove="bob"]`)))
	bob.waitCurrent("general")
	bob.waitFor("the removal notice", `document.getElementById("notice").textContent.includes("You were removed from #secret")`)
	if got := value(bob, "read bob's rooms", chromedp.Evaluate[string](jsShownRooms)); strings.Contains(got, "secret") {
		t.Errorf("bob's room lists still show #secret: %q", got)
	}
	alice.waitFor("bob gone from the members", `![...document.querySelectorAll("#members li")].some(li => li.dataset.user === "bob")`)
	alice.send("after bob left")
	alice.waitMessage("alice", "after bob left")
	if n := bob.countMessages("after bob left"); n != 0 {
		t.Errorf("bob's page shows a message of #secret after his removal")
	}
	for _, tb := range []*tab{alice, bob, carol} {
		tb.checkConsole(false)
	}
}

// TestBrowserDirectMessage: "Message" beside bob in alice's online list
// opens a dm; bob's page gets it in his list with a notice, shows it under
// alice's name, and his own "Message" beside alice opens the same one.
func TestBrowserDirectMessage(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	for _, u := range []string{"alice", "bob"} {
		s.addUser(u, u+"-password-1")
	}
	browser := startChromium(t)
	alice := openTab(t, browser, "alice", chromedp.WithNewBrowserContext())
	alice.login(s.URL, "alice", "alice-password-1")
	bob := openTab(t, browser, "bob", chromedp.WithNewBrowserContext())
	bob.login(s.URL, "bob", "bob-password-1")
	alice.waitOnline("bob")
	bob.waitOnline("alice")
	if n := value(alice, "count Message buttons", chromedp.Evaluate[int](`document.querySelectorAll('#online button[data-dm="alice"]').length`)); n != 0 {
		t.Errorf("alice's online list offers a message to herself")
	}

	alice.do("message bob", chromedp.Click(chromedp.CSS(`#online button[data-dm="bob"]`)))
	alice.waitFor("the dm shown", `document.getElementById("room-title").textContent === "@bob" &&
		document.querySelector('#rooms button[aria-current="true"]')?.dataset.kind === "dm"`)
	room := value(alice, "read the dm's name", chromedp.Evaluate[string](`document.querySelector('#rooms button[aria-current="true"]').dataset.room`))
	if !strings.HasPrefix(room, store.DMPrefix) {
		t.Fatalf("the dm is %q, want a name starting %q", room, store.DMPrefix)
	}
	alice.send("just between us")
	alice.waitMessage("alice", "just between us")

	bob.waitFor("the dm in bob's list, under alice's name", fmt.Sprintf(`document.querySelector('#rooms button[data-room=%q][data-kind="dm"] .room-name')?.textContent === "@alice"`, room))
	bob.waitFor("the notice", `document.getElementById("notice").textContent.includes("alice started a conversation with you")`)
	bob.do("open it from the notice", chromedp.Click(chromedp.CSS(`#notice button[data-room]`)))
	bob.waitFor("the dm shown", `document.getElementById("room-title").textContent === "@alice"`)
	bob.waitMessage("alice", "just between us")

	// On a phone, bob's Message beside alice (in general, in the room
	// drawer's online list) opens the same conversation.
	bob.clickRoom("general")
	bob.emulate(375, 740, "light")
	bob.do("open the room drawer", chromedp.Click(chromedp.ID("rooms-toggle")), chromedp.WaitVisible(chromedp.ID("sidebar")))
	bob.savePNG(screenshotDir(t), "dm-375-drawer-light.png")
	bob.do("message alice", chromedp.Click(chromedp.CSS(`#drawer-online button[data-dm="alice"]`)))
	bob.waitFor("the same dm shown", fmt.Sprintf(`document.getElementById("room-title").textContent === "@alice" &&
		document.querySelector('#rooms button[aria-current="true"]')?.dataset.room === %q`, room))
	bob.do("wait for the drawer to close", chromedp.WaitNotVisible(chromedp.ID("sidebar")))
	bob.send("agreed")
	alice.waitMessage("bob", "agreed")
	bob.do("blur", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	bob.checkLayout(375)
	bob.savePNG(screenshotDir(t), "dm-375-light.png")
	alice.emulate(1280, 800, "light")
	alice.checkLayout(1280)
	alice.savePNG(screenshotDir(t), "dm-1280-light.png")
	if n := value(bob, "count dms", chromedp.Evaluate[int](`document.querySelectorAll('#rooms button[data-kind="dm"]').length`)); n != 1 {
		t.Errorf("bob's list has %d dms, want 1", n)
	}

	// While bob reads general, two unread in the dm; one deleted leaves one.
	bob.emulate(1280, 800, "light")
	bob.clickRoom("general")
	alice.send("unread one")
	alice.send("unread two")
	bob.waitFor("2 unread in the dm", jsUnread(room)+` === "2"`)
	alice.messageAction("unread one", "delete")
	alice.messageAction("unread one", "delete-yes")
	bob.waitFor("1 unread in the dm", jsUnread(room)+` === "1"`)
	for _, tb := range []*tab{alice, bob} {
		tb.checkConsole(false)
	}
}

// recordSends makes the tab keep every frame its page sends on a socket, as
// JSON text in window.sentFrames; before the page loads.
func recordSends(tb *tab) {
	tb.t.Helper()
	tb.do("record the page's frames", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
			const send = WebSocket.prototype.send;
			WebSocket.prototype.send = function (data) { (window.sentFrames ||= []).push(String(data)); return send.call(this, data); };`})
		return err
	}))
}

// jsLastJoinSince is a page expression for the since of the last join of
// room the page sent (0 if none had one).
func jsLastJoinSince(room string) string {
	return fmt.Sprintf(`(window.sentFrames || []).map(s => JSON.parse(s)).filter(f => f.type === "join" && f.room === %s).map(f => f.since || 0).pop() ?? 0`, jsString(room))
}

// TestBrowserResumeCoversChanges: a page that was away resumes a room after
// the highest id it saw, of a message or of a change (an edit, a delete):
// the edit and the delete of older messages made while it was away show in
// place, each message once, and its next resume starts after them.
func TestBrowserResumeCoversChanges(t *testing.T) {
	requireChromium(t)
	dir := t.TempDir()
	s := startServer(t, dir)
	s.addUser("alice", "alice-password-1")
	s.addUser("bob", "bob-password-1")
	alice := s.dialBearer(s.token("alice", "alice-password-1"))
	alice.until("joined", aboutRoom("general"))
	alice.send(map[string]any{"type": "join", "room": "dev"})
	alice.until("joined", aboutRoom("dev"))

	bob := openTab(t, startChromium(t), "bob")
	recordSends(bob)
	bob.login(s.URL, "bob", "bob-password-1")
	bob.waitOnline("bob")
	bob.joinRoom("dev")
	bob.waitOnline("alice")

	ids := map[string]int64{}
	for _, text := range []string{"one", "two", "three"} {
		alice.send(map[string]any{"type": "send", "room": "dev", "text": text})
		f := alice.until("message", func(f map[string]any) bool { return f["text"] == text })
		ids[text] = int64(f["id"].(float64))
	}
	bob.waitMessage("alice", "three")
	alice.send(map[string]any{"type": "edit", "room": "dev", "id": ids["one"], "text": "one, edited"})
	edited := alice.until("edited", aboutRoom("dev"))
	change, ok := edited["change"].(float64)
	if !ok || int64(change) <= ids["three"] {
		t.Fatalf("edited frame %v: want a change id above the last message's %d", edited, ids["three"])
	}
	bob.waitEdited("one, edited")

	// Away: while the server is down, an edit and a delete of older
	// messages, stored as the hub stores them.
	addr := strings.TrimPrefix(s.URL, "http://")
	s.Stop()
	bob.do("wait for the reconnecting banner", chromedp.WaitVisible(chromedp.ID("banner")))
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	author, err := db.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.AppendMessages(ctx, []store.NewMessage{
		{Room: "dev", UserID: author.ID, User: "alice", Text: "two, edited", TS: time.Now(), Kind: store.KindEdit, Target: ids["two"]},
		{Room: "dev", UserID: author.ID, User: "alice", TS: time.Now(), Kind: store.KindDelete, Target: ids["three"]},
	})
	db.Close()
	if err != nil || len(rows) != 2 || rows[1].ID == 0 {
		t.Fatalf("store the changes: %v %+v", err, rows)
	}
	last := rows[1].ID

	s2 := startServer(t, dir, "--addr", addr)
	bob.waitFor("the banner to hide", `document.getElementById("banner").hidden`)
	if since := value(bob, "read the resume", chromedp.Evaluate[int64](jsLastJoinSince("dev"))); since != int64(change) {
		t.Errorf("bob resumed #dev after %d, want %d (the edit seen live, above every message)", since, int64(change))
	}
	bob.waitMessage("alice", "two, edited")
	bob.waitEdited("two, edited")
	bob.waitFor("three deleted in its place", fmt.Sprintf(`document.querySelector('#messages li.msg[data-id="%d"]')?.classList.contains("deleted")`, ids["three"]))
	for _, text := range []string{"one, edited", "two, edited"} {
		if n := bob.countMessages(text); n != 1 {
			t.Errorf("bob: %q shown %d times, want once; page: %s", text, n, bob.state())
		}
	}
	if n := value(bob, "count messages", chromedp.Evaluate[int](`document.querySelectorAll("#messages li.msg").length`)); n != 3 {
		t.Errorf("bob's page shows %d messages, want 3: %s", n, bob.state())
	}

	// The next resume starts after the changes the replay brought.
	s2.Stop()
	bob.do("wait for the reconnecting banner", chromedp.WaitVisible(chromedp.ID("banner")))
	startServer(t, dir, "--addr", addr)
	bob.waitFor("the banner to hide", `document.getElementById("banner").hidden`)
	bob.waitFor("a resume of #dev after the delete", fmt.Sprintf(`%s === %d`, jsLastJoinSince("dev"), last))
	bob.checkConsole(true)
}

// TestBrowserAdminDeletes: an admin's page offers delete on anyone's
// message, and the delete reaches the others; a member's page offers it
// only on their own.
func TestBrowserAdminDeletes(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	for _, u := range []string{"boss", "alice", "bob"} {
		s.addUser(u, u+"-password-1")
	}
	if out, err := s.cli("", "user", "role", "boss", "admin"); err != nil {
		t.Fatalf("user role boss admin: %v (%s)", err, out)
	}
	bob := s.dialBearer(s.token("bob", "bob-password-1"))
	bob.until("joined", aboutRoom("general"))
	post(bob, "general", "spam, spam, spam")

	browser := startChromium(t)
	boss := openTab(t, browser, "boss", chromedp.WithNewBrowserContext())
	boss.login(s.URL, "boss", "boss-password-1")
	alice := openTab(t, browser, "alice", chromedp.WithNewBrowserContext())
	alice.login(s.URL, "alice", "alice-password-1")
	for _, tb := range []*tab{boss, alice} {
		tb.waitMessage("bob", "spam, spam, spam")
	}
	if got := value(alice, "read alice's buttons", chromedp.Evaluate[string](jsMessage("spam, spam, spam")+`.querySelector(".actions")?.textContent ?? ""`)); got != "" {
		t.Errorf("alice's page offers %q on bob's message", got)
	}
	boss.messageAction("spam, spam, spam", "delete")
	boss.messageAction("spam, spam, spam", "delete-yes")
	bob.until("deleted", aboutRoom("general"))
	for _, tb := range []*tab{boss, alice} {
		tb.waitFor("the message deleted", `document.querySelector("#messages li.msg.deleted") && !document.body.textContent.includes("spam, spam")`)
		tb.checkConsole(false)
	}
}
