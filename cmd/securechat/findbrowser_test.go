package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"securechat/app/store"
	"securechat/app/store/sqlite"
)

// The chat page's side of issue 13: search, unread and mention badges across
// tabs, the title and icon, typing, @ completion, mentions, notifications,
// links and multi-line messages.

// jsMentions is a page expression for the mention badge of a joined room:
// its text ("@1"), or "" when there is none.
func jsMentions(room string) string {
	return fmt.Sprintf(`(() => {
		const b = document.querySelector("#rooms button[data-room=" + JSON.stringify(%s) + "] .mention-badge");
		return b && !b.hidden ? b.querySelector(".count").textContent : "";
	})()`, jsString(room))
}

// openSecondTab opens another tab of tb's browser context (the same
// cookies: the same user, logged in) on the chat page.
func openSecondTab(t *testing.T, tb *tab, baseURL, name string) *tab {
	t.Helper()
	other := openTab(t, tb.ctx, name)
	other.do("open /", chromedp.Navigate(baseURL+"/"), chromedp.WaitVisible(chromedp.ID("send-form")))
	other.waitFor("the page's script", `document.readyState === "complete"`)
	return other
}

// TestBrowserUnreadAcrossTabs: two tabs of bob show the same unread and
// mention badges for a room he is not reading, the title and the icon carry
// the total, and reading the room in one tab clears both tabs.
func TestBrowserUnreadAcrossTabs(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	s.addUser("bob", "bob-password-22")
	alice := s.dialBearer(s.token("alice", "alice-password-1"))
	alice.until("joined", aboutRoom("general"))
	alice.joinRoom("dev")
	post(alice, "general", "hello") // general has a message to read: it is the room bob read last

	browser := startChromium(t)
	bob := openTab(t, browser, "bob", chromedp.WithNewBrowserContext())
	bob.login(s.URL, "bob", "bob-password-22")
	bob.waitOnline("bob")
	bob.joinRoom("dev")
	bob.clickRoom("general")
	bob.waitMessage("alice", "hello")
	second := openSecondTab(t, bob, s.URL, "bob's second tab")
	second.waitOnline("bob")
	second.waitCurrent("general")

	post(alice, "dev", "a note for the team")
	post(alice, "dev", "@bob can you look at this?")
	for _, tb := range []*tab{bob, second} {
		tb.waitFor("2 unread in #dev", jsUnread("dev")+` === "2"`)
		tb.waitFor("1 mention in #dev", jsMentions("dev")+` === "@1"`)
		tb.waitFor("the total in the title", `document.title.startsWith("(2) ")`)
		tb.waitFor("the total in the icon", `document.querySelector('link[rel="icon"]').href.startsWith("data:image/svg+xml,")`)
	}

	second.clickRoom("dev")
	second.waitMessage("alice", "@bob can you look at this?")
	for _, tb := range []*tab{second, bob} {
		tb.waitFor("no unread badge for #dev", jsUnread("dev")+` === ""`)
		tb.waitFor("no mention badge for #dev", jsMentions("dev")+` === ""`)
		tb.waitFor("no total in the title", `!document.title.startsWith("(")`)
		tb.waitFor("the plain icon", `document.querySelector('link[rel="icon"]').href.endsWith("/static/favicon.svg")`)
	}
	for _, tb := range []*tab{bob, second} {
		tb.checkConsole(false)
	}
}

// writeGeneral writes n messages by alice (user 1) to general beside the
// server, the first one being first; the rest are "filler N".
func writeGeneral(t *testing.T, s *testServer, first string, n int) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), s.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now().Add(-time.Hour)
	msgs := []store.NewMessage{{Room: "general", UserID: 1, User: "alice", Text: first, TS: start}}
	for i := 1; i < n; i++ {
		msgs = append(msgs, store.NewMessage{Room: "general", UserID: 1, User: "alice", Text: fmt.Sprintf("filler %d", i), TS: start.Add(time.Duration(i) * time.Second)})
	}
	if _, err := db.AppendMessages(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserSearchOpensRoom: a search lists a message far older than the
// page holds, with its room and author and the match marked; clicking it
// opens the room around the message, highlighted and in view, and the page
// can go back to the newest messages.
func TestBrowserSearchOpensRoom(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	s.addUser("bob", "bob-password-22")
	const needle = "the release checklist is in the wiki"
	writeGeneral(t, s, needle, 120) // more than a join's 50: the needle is not on the page

	browser := startChromium(t)
	bob := openTab(t, browser, "bob", chromedp.WithNewBrowserContext())
	bob.login(s.URL, "bob", "bob-password-22")
	bob.waitOnline("bob")
	bob.waitMessage("alice", "filler 119")
	if n := bob.countMessages(needle); n != 0 {
		t.Fatalf("bob: the needle is shown before the search (%d)", n)
	}
	bob.joinRoom("dev") // the result opens another room than the one shown

	bob.do("search", chromedp.SendKeys(chromedp.ID("search"), "checklist"), chromedp.Click(chromedp.CSS(`#search-form button`)))
	bob.waitFor("one result", `document.querySelectorAll("#results li.result").length === 1`)
	res := value(bob, "read the result", chromedp.Evaluate[map[string]string](`(() => {
		const b = document.querySelector("#results li.result button");
		return {room: b.querySelector(".result-room").textContent, author: b.querySelector(".author").textContent,
			time: b.querySelector("time")?.dateTime || "", text: b.querySelector(".result-text").textContent,
			mark: b.querySelector(".result-text mark")?.textContent || ""};
	})()`))
	if res["room"] != "#general" || res["author"] != "alice" || res["time"] == "" || res["text"] != needle || res["mark"] != "checklist" {
		t.Errorf("bob: result %+v", res)
	}

	// Many results: a page at a time, the next one asked for with before.
	bob.do("search filler", chromedp.SetValue(chromedp.ID("search"), "filler"), chromedp.Click(chromedp.CSS(`#search-form button`)))
	bob.waitFor("a first page of results", `document.querySelectorAll("#results li.result").length === 20 && !document.getElementById("search-more").hidden`)
	bob.do("more results", chromedp.Click(chromedp.ID("search-more")))
	bob.waitFor("a second page of results", `document.querySelectorAll("#results li.result").length === 40`)
	if got := value(bob, "read the last result", chromedp.Evaluate[string](`[...document.querySelectorAll("#results .result-text")].pop().textContent`)); got != "filler 80" {
		t.Errorf("bob: the 40th result is %q, want filler 80 (newest first)", got)
	}
	bob.do("search again", chromedp.SetValue(chromedp.ID("search"), "checklist"), chromedp.Click(chromedp.CSS(`#search-form button`)))
	bob.waitFor("one result", `document.querySelectorAll("#results li.result").length === 1`)
	bob.do("open the result", chromedp.Click(chromedp.CSS(`#results li.result button`)))
	bob.waitCurrent("general")
	bob.waitFor("the search panel closed", `document.getElementById("search-panel").hidden`)
	bob.waitMessage("alice", needle)
	bob.waitFor("the result highlighted and in view", fmt.Sprintf(`(() => {
		const li = %s;
		if (!li || !li.classList.contains("found")) return false;
		const r = li.getBoundingClientRect(), l = document.getElementById("messages").getBoundingClientRect();
		return r.top >= l.top && r.bottom <= l.bottom;
	})()`, jsMessage(needle)))
	// Its neighbours are there, and the newest messages are one click away.
	bob.waitMessage("alice", "filler 1")
	bob.waitFor("the jump to the newest", `!document.getElementById("jump-newest").hidden`)
	bob.savePNG(screenshotDir(t), "find-opened-result.png")
	bob.do("jump to the newest", chromedp.Click(chromedp.ID("jump-newest")))
	bob.waitMessage("alice", "filler 119")
	bob.waitFor("the jump gone", `document.getElementById("jump-newest").hidden`)
	bob.checkConsole(false)
}

// pressShiftEnter presses Shift+Enter in the focused element as a keyboard does.
var pressShiftEnter = chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
	for _, p := range []input.DispatchKeyEventParams{
		{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter", Text: "\r", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13, Modifiers: 8},
		{Type: input.DispatchKeyEventTypeKeyUp, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13, Modifiers: 8},
	} {
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, p); err != nil {
			return err
		}
	}
	return nil
})

// TestBrowserLinksAndLines: an http(s) URL in a message is a link that opens
// apart from the page (rel noopener noreferrer, a new tab), and nothing else
// in a text becomes markup: a javascript: or data: URL stays text. A message
// written with Shift+Enter is shown on two lines.
func TestBrowserLinksAndLines(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	s.addUser("bob", "bob-password-22")
	alice := s.dialBearer(s.token("alice", "alice-password-1"))
	alice.until("joined", aboutRoom("general"))

	browser := startChromium(t)
	bob := openTab(t, browser, "bob", chromedp.WithNewBrowserContext())
	bob.login(s.URL, "bob", "bob-password-22")
	bob.waitOnline("bob")

	const linked = "the notes: https://example.com/notes?x=1&y=2. and <b>bold</b>"
	const unsafe = "javascript:alert(document.cookie) data:text/html,<script>alert(1)</script> JAVASCRIPT://%0aalert(1)"
	post(alice, "general", linked)
	post(alice, "general", unsafe)
	bob.waitMessage("alice", linked)
	bob.waitMessage("alice", unsafe)
	got := value(bob, "read the links", chromedp.Evaluate[map[string]any](fmt.Sprintf(`(() => {
		const l = %s, u = %s;
		const as = [...l.querySelectorAll(".text a")];
		return {n: as.length, href: as[0]?.getAttribute("href") || "", text: as[0]?.textContent || "", rel: as[0]?.rel || "",
			target: as[0]?.target || "", other: l.querySelectorAll(".text *:not(a)").length,
			unsafe: u.querySelectorAll(".text *").length};
	})()`, jsMessage(linked), jsMessage(unsafe))))
	want := map[string]any{"n": 1.0, "href": "https://example.com/notes?x=1&y=2", "text": "https://example.com/notes?x=1&y=2",
		"rel": "noopener noreferrer", "target": "_blank", "other": 0.0, "unsafe": 0.0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("bob: links: %s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}

	const twoLines = "first line\nsecond line"
	bob.do("type two lines",
		chromedp.SendKeys(chromedp.ID("text"), "first line"),
		pressShiftEnter,
		chromedp.SendKeys(chromedp.ID("text"), "second line"),
		pressEnter)
	bob.waitMessage("bob", twoLines)
	lines := value(bob, "count the lines", chromedp.Evaluate[float64](fmt.Sprintf(`(() => {
		const e = %s.querySelector(".text");
		return Math.round(e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight));
	})()`, jsMessage(twoLines))))
	if lines != 2 {
		t.Errorf("bob: the two-line message is shown on %v lines", lines)
	}
	bob.checkConsole(false)
}

// TestBrowserMentionsTyping: "alice is typing…" (and "alice and carol are
// typing…") shows while they type and goes when alice's message comes or
// after a few seconds; a message naming @bob is marked for him; @ offers the
// room's people, by keyboard.
func TestBrowserMentionsTyping(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	for _, u := range []string{"alice", "bob", "carol"} {
		s.addUser(u, u+"-password-1")
	}
	alice := s.dialBearer(s.token("alice", "alice-password-1"))
	alice.until("joined", aboutRoom("general"))
	carol := s.dialBearer(s.token("carol", "carol-password-1"))
	carol.until("joined", aboutRoom("general"))

	browser := startChromium(t)
	bob := openTab(t, browser, "bob", chromedp.WithNewBrowserContext())
	bob.login(s.URL, "bob", "bob-password-1")
	bob.waitOnline("alice")
	bob.waitOnline("carol")

	alice.send(map[string]any{"type": "typing", "room": "general"})
	bob.waitFor("alice typing", `document.getElementById("typing").textContent === "alice is typing…"`)
	carol.send(map[string]any{"type": "typing", "room": "general"})
	bob.waitFor("alice and carol typing", `document.getElementById("typing").textContent === "alice and carol are typing…"`)
	const mention = "@bob the deploy is done, @bobby is not you"
	post(alice, "general", mention)
	bob.waitMessage("alice", mention)
	bob.waitFor("alice no longer typing", `!document.getElementById("typing").textContent.includes("alice")`)
	// carol says nothing more: her line goes after a few seconds.
	bob.waitFor("nobody typing", `document.getElementById("typing").textContent === ""`)
	marks := value(bob, "read the mention", chromedp.Evaluate[[]string](fmt.Sprintf(
		`[...%s.querySelectorAll(".text mark.mention")].map(m => m.textContent)`, jsMessage(mention))))
	if len(marks) != 1 || marks[0] != "@bob" {
		t.Errorf("bob: marked mentions %q, want [@bob]", marks)
	}
	if !value(bob, "read the message's class", chromedp.Evaluate[bool](jsMessage(mention)+`.classList.contains("mentions-me")`)) {
		t.Error("bob: a message mentioning him is not marked as such")
	}

	// @ and the start of a name: the room's people (not bob), by keyboard.
	bob.do("type @", chromedp.SendKeys(chromedp.ID("text"), "thanks @"))
	bob.waitFor("alice and carol offered", `[...document.querySelectorAll("#completion li")].map(li => li.textContent).join(" ") === "@alice @carol"`)
	bob.do("choose carol", chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.Tab))
	bob.waitFor("@carol in the box", `document.getElementById("text").value === "thanks @carol " && document.getElementById("completion").hidden`)
	bob.do("type @a", chromedp.SendKeys(chromedp.ID("text"), "and @a"))
	bob.waitFor("alice offered", `[...document.querySelectorAll("#completion li")].map(li => li.textContent).join(" ") === "@alice"`)
	bob.do("take alice", pressEnter)
	bob.waitFor("@alice in the box, nothing sent", `document.getElementById("text").value === "thanks @carol and @alice "`)
	bob.do("type @c", chromedp.SendKeys(chromedp.ID("text"), "@c"))
	bob.waitFor("carol offered", `!document.getElementById("completion").hidden`)
	bob.do("escape", chromedp.KeyEvent(kb.Escape))
	bob.waitFor("the list closed", `document.getElementById("completion").hidden`)
	bob.do("send", pressEnter)
	bob.waitMessage("bob", "thanks @carol and @alice @c")
	// bob typed: alice heard it.
	alice.until("typing", func(f map[string]any) bool { return f["room"] == "general" && f["user"] == "bob" })
	bob.checkConsole(false)
}

// stubNotifications replaces the page's Notification API before the page
// loads: it counts permission requests (window.asks) and keeps each
// notification made (window.notes, {title, body}).
func stubNotifications(tb *tab) {
	tb.t.Helper()
	tb.do("stub Notification", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
			window.asks = 0;
			window.notes = [];
			window.Notification = class {
				constructor(title, o) { window.notes.push({title, body: (o && o.body) || ""}); }
				close() {}
				static requestPermission() { window.asks++; window.Notification.permission = "granted"; return Promise.resolve("granted"); }
			};
			window.Notification.permission = "default";`})
		return err
	}))
}

// TestBrowserNotifications: the page never asks for permission on load, asks
// when the button is clicked, and, while hidden, notifies a mention and a
// direct message with the room and the author.
func TestBrowserNotifications(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	s.addUser("bob", "bob-password-22")
	alice := s.dialBearer(s.token("alice", "alice-password-1"))
	alice.until("joined", aboutRoom("general"))
	alice.joinRoom("dev")

	browser := startChromium(t)
	bob := openTab(t, browser, "bob", chromedp.WithNewBrowserContext())
	stubNotifications(bob)
	bob.login(s.URL, "bob", "bob-password-22")
	bob.waitOnline("alice")
	bob.joinRoom("dev")
	bob.clickRoom("general")
	if n := value(bob, "count requests", chromedp.Evaluate[int](`window.asks`)); n != 0 {
		t.Fatalf("bob: permission asked %d times on load", n)
	}
	// Visible: no notification.
	post(alice, "general", "@bob are you there?")
	bob.waitMessage("alice", "@bob are you there?")

	bob.do("enable notifications", chromedp.Click(chromedp.ID("notify-enable")))
	bob.waitFor("one request", `window.asks === 1`)
	bob.waitFor("the button gone", `document.getElementById("notify-enable").hidden`)

	bob.do("hide the page", chromedp.Evaluate[chromedp.Void](`
		Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
		document.dispatchEvent(new Event("visibilitychange"))`))
	post(alice, "dev", "@bob the build is red")
	bob.waitFor("a notification", `window.notes.length === 1`)
	note := value(bob, "read it", chromedp.Evaluate[map[string]string](`window.notes[0]`))
	if !strings.Contains(note["title"], "alice") || !strings.Contains(note["title"], "#dev") || note["body"] != "@bob the build is red" {
		t.Errorf("bob: notification %+v, want alice and #dev in the title and the text as body", note)
	}
	// A plain message in a room is no notification; a dm is.
	post(alice, "dev", "no mention here")
	alice.send(map[string]any{"type": "dm", "users": []string{"bob"}})
	dm := alice.until("joined", func(f map[string]any) bool { return strings.HasPrefix(fmt.Sprint(f["room"]), store.DMPrefix) })
	room := fmt.Sprint(dm["room"])
	// bob's page joins the dm it was invited to: alice sees him in it.
	alice.until("presence", func(f map[string]any) bool {
		users, _ := f["users"].([]any)
		return f["room"] == room && len(users) == 2
	})
	post(alice, room, "a private word")
	bob.waitFor("a second notification", `window.notes.length === 2`)
	note = value(bob, "read it", chromedp.Evaluate[map[string]string](`window.notes[1]`))
	if !strings.Contains(note["title"], "alice") || note["body"] != "a private word" {
		t.Errorf("bob: dm notification %+v", note)
	}
	if n := value(bob, "count notifications", chromedp.Evaluate[int](`window.notes.length`)); n != 2 {
		t.Errorf("bob: %d notifications, want 2 (a mention and a dm)", n)
	}

	// While hidden, what comes in the room shown counts too: the tab's
	// title says so (#dev 2, the dm 1, #general 1), until bob looks again.
	post(alice, "general", "back in general")
	bob.waitFor("4 unread in the title", `document.title.startsWith("(4) ")`)
	bob.do("show the page", chromedp.Evaluate[chromedp.Void](`
		Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
		document.dispatchEvent(new Event("visibilitychange"))`))
	bob.waitFor("3 unread in the title", `document.title.startsWith("(3) ")`)
	bob.checkConsole(false)
}

// TestBrowserFindScreenshots saves the chat page with issue 13's parts in
// view, at 375 and 1280 px, light and dark: a link, a mention of the
// reader, a multi-line message, the typing line, unread and mention badges,
// and search results (SECURECHAT_SCREENSHOTS keeps them).
func TestBrowserFindScreenshots(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	tokens := map[string]string{}
	for _, u := range []string{"alice", "bob", "carol"} {
		s.addUser(u, u+"-password-1")
		tokens[u] = s.token(u, u+"-password-1")
	}
	bob := s.dialBearer(tokens["bob"])
	bob.until("joined", aboutRoom("general"))
	carol := s.dialBearer(tokens["carol"])
	carol.until("joined", aboutRoom("general"))
	bob.joinRoom("dev")
	post(bob, "general", "Morning! Release notes draft: https://example.com/releases/2.4 (comments welcome)")
	post(carol, "general", "@alice can you check the rollback steps before 10:00?")
	post(bob, "general", "Steps for today:\n1. freeze merges\n2. tag v2.4\n3. deploy to staging")

	browser := startChromium(t)
	alice := openTab(t, browser, "alice", chromedp.WithNewBrowserContext())
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitOnline("carol")
	alice.joinRoom("dev")
	alice.clickRoom("general")
	alice.send("On it. The checklist is in the wiki under Releases.")
	alice.waitMessage("alice", "On it. The checklist is in the wiki under Releases.")
	post(bob, "dev", "CI is green on the release branch.")
	post(bob, "dev", "@alice the release checklist needs your sign-off")
	alice.waitFor("2 unread and a mention in #dev", jsUnread("dev")+` === "2" && `+jsMentions("dev")+` === "@1"`)

	// typing makes bob and carol type in general (from fresh sockets: each
	// socket may say so once every 3 s) and waits until the page shows it.
	typing := func() {
		t.Helper()
		for _, u := range []string{"bob", "carol"} {
			c := s.dialBearer(tokens[u])
			c.until("joined", aboutRoom("general"))
			c.send(map[string]any{"type": "typing", "room": "general"})
		}
		alice.waitFor("bob and carol typing", `document.getElementById("typing").textContent === "bob and carol are typing…"`)
	}
	dir := screenshotDir(t)
	shots := []struct {
		width, height int64
		scheme        string
	}{{375, 740, "light"}, {1280, 800, "light"}, {1280, 800, "dark"}, {375, 740, "dark"}}
	for _, sh := range shots {
		alice.emulate(sh.width, sh.height, sh.scheme)
		alice.do("blur", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
		typing()
		alice.checkLayout(sh.width)
		alice.savePNG(dir, fmt.Sprintf("find-chat-%d-%s.png", sh.width, sh.scheme))
	}
	alice.do("search", chromedp.SendKeys(chromedp.ID("search"), "checklist"), chromedp.Click(chromedp.CSS(`#search-form button`)))
	alice.waitFor("two results", `document.querySelectorAll("#results li.result").length === 2`)
	for _, sh := range shots {
		alice.emulate(sh.width, sh.height, sh.scheme)
		alice.do("blur", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
		typing()
		alice.checkLayout(sh.width)
		alice.savePNG(dir, fmt.Sprintf("find-results-%d-%s.png", sh.width, sh.scheme))
	}
	alice.checkConsole(false)
}

// TestChatPageSearchLimit: the search box takes no longer a query than the
// server does (--max-search-query): the page copies no limit of its own.
func TestChatPageSearchLimit(t *testing.T) {
	s := startServer(t, "", "--max-search-query=77")
	s.addUser("alice", "alice-password-1")
	b := s.newBrowser()
	b.login("alice", "alice-password-1")
	page := b.get("/")
	i := strings.Index(page, `<input id="search"`)
	if i < 0 {
		t.Fatal("no search box in the chat page")
	}
	if box := page[i : i+strings.Index(page[i:], ">")]; !strings.Contains(box, `maxlength="77"`) {
		t.Errorf("search box %s, want maxlength=\"77\"", box)
	}
}
