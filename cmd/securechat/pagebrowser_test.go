package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"securechat/app/store"
	"securechat/app/store/sqlite"
)

// jsFocused is a page expression for the id of the focused element.
const jsFocused = `document.activeElement?.id`

// TestBrowserLeaveRoom: a room other than general has a Leave button; it
// leaves the room on the server (no more unread from it), takes it out of
// "Your rooms", shows general, and a reload does not bring it back.
func TestBrowserLeaveRoom(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	s.addUser("bob", "bob-password-22")
	bob := s.dialBearer(s.token("bob", "bob-password-22"))
	bob.until("joined", aboutRoom("general"))
	bob.joinRoom("dev")

	alice := openTab(t, startChromium(t), "alice")
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitOnline("alice")
	alice.waitFor("no Leave button in general", `document.getElementById("leave").hidden`)
	alice.joinRoom("dev")
	alice.waitOnline("bob")
	alice.waitFor("a Leave button in #dev", `!document.getElementById("leave").hidden`)
	if label := value(alice, "read the button's label", chromedp.AttributeValue(chromedp.ID("leave"), "aria-label")); label.Value != "Leave #dev" {
		t.Errorf("Leave button labelled %q, want %q", label.Value, "Leave #dev")
	}

	alice.do("leave #dev", chromedp.Click(chromedp.ID("leave")))
	alice.waitCurrent("general")
	alice.waitFor("#dev gone from her rooms", `!document.querySelector('#rooms button[data-room="dev"]')`)
	// The server no longer counts her in #dev: bob sees her leave.
	bob.until("presence", func(f map[string]any) bool {
		return f["room"] == "dev" && len(f["users"].([]any)) == 1
	})
	post(bob, "dev", "are you still here?")
	post(bob, "general", "marker")
	alice.waitMessage("bob", "marker")
	if got := value(alice, "read her rooms", chromedp.Evaluate[string](`[...document.querySelectorAll("#rooms button[data-room]")].map(b => b.dataset.room).join(" ")`)); got != "general" {
		t.Errorf("her rooms after leaving #dev: %q, want general only", got)
	}

	alice.do("reload", chromedp.Reload())
	alice.waitFor("the page's script", `document.readyState === "complete"`)
	alice.waitOnline("alice")
	alice.waitCurrent("general")
	if got := value(alice, "read her rooms", chromedp.Evaluate[string](`[...document.querySelectorAll("#rooms button[data-room]")].map(b => b.dataset.room).join(" ")`)); got != "general" {
		t.Errorf("her rooms after a reload: %q, want general only", got)
	}
	alice.checkConsole(false)
}

// TestBrowserNewRoomLive: a room another user starts reaches an open page's
// room list as soon as it has a first message, long before the page's
// 60-second poll.
func TestBrowserNewRoomLive(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	s.addUser("bob", "bob-password-22")
	alice := openTab(t, startChromium(t), "alice")
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitOnline("alice")

	bob := s.dialBearer(s.token("bob", "bob-password-22"))
	bob.until("joined", aboutRoom("general"))
	bob.joinRoom("launch-party")
	post(bob, "launch-party", "first!")
	alice.waitFor("#launch-party among the other rooms, first", `document.querySelector('#other-rooms button[data-room]')?.dataset.room === "launch-party"`)
	alice.checkConsole(false)
}

// TestBrowserOfflineAndBack: with the server gone the online list says it
// does not know who is online (no count, no "and 2 more"), on a phone too;
// the "Not connected" notice of a send tried then is gone once the
// connection is back.
func TestBrowserOfflineAndBack(t *testing.T) {
	requireChromium(t)
	dir := t.TempDir()
	s := startServer(t, dir)
	s.addUser("alice", "alice-password-1")
	s.addUser("bob", "bob-password-22")
	bob := s.dialBearer(s.token("bob", "bob-password-22"))
	bob.until("joined", aboutRoom("general"))

	alice := openTab(t, startChromium(t), "alice")
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitOnline("bob")

	addr := strings.TrimPrefix(s.URL, "http://")
	s.Stop()
	alice.do("wait for the reconnecting banner", chromedp.WaitVisible(chromedp.ID("banner")))
	const online = `[...document.querySelectorAll("#online li")].map(li => li.textContent).join("|")`
	alice.waitFor("the online list unknown", online+` === "Unknown while offline"`)
	if h := value(alice, "read the heading", chromedp.Evaluate[string](`document.getElementById("online-heading").textContent`)); strings.Contains(h, "(") {
		t.Errorf("online heading offline: %q, want no count", h)
	}
	alice.emulate(375, 740, "light")
	if got := value(alice, "read the phone's summary", chromedp.Evaluate[string](`document.getElementById("online-summary").textContent`)); got != "Offline: who is online is unknown" {
		t.Errorf("phone's online summary offline: %q", got)
	}
	alice.savePNG(screenshotDir(t), "chat-375-offline-light.png")
	alice.emulate(1280, 800, "dark")
	alice.savePNG(screenshotDir(t), "chat-1280-offline-dark.png")

	alice.send("written while offline")
	alice.waitFor("the not-connected notice", `document.getElementById("notice").textContent.startsWith("Not connected.")`)
	s2 := startServer(t, dir, "--addr", addr)
	if s2.URL != s.URL {
		t.Fatalf("restarted on %s, want %s", s2.URL, s.URL)
	}
	alice.waitFor("the banner to hide", `document.getElementById("banner").hidden`)
	if n := value(alice, "read the notice", chromedp.Evaluate[string](`document.getElementById("notice").textContent`)); n != "" {
		t.Errorf("notice once reconnected: %q, want none", n)
	}
	if v := value(alice, "read #text", chromedp.Value(chromedp.ID("text"))); v != "written while offline" {
		t.Errorf("message box holds %q, want the text kept", v)
	}
	alice.waitOnline("alice")
	alice.checkConsole(true)
}

// TestBrowserRateLimitNotice: a burst past the message rate is refused by
// the server; the page says once, in words, when sending works again (whole
// seconds, never "0.0s"), and every refused text is back in the box.
func TestBrowserRateLimitNotice(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "", "--message-rate", "1/1s:1")
	s.addUser("alice", "alice-password-1")
	alice := openTab(t, startChromium(t), "alice")
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitOnline("alice")

	value(alice, "send a burst of four", chromedp.Evaluate[bool](`(() => {
		const box = document.getElementById("text");
		for (const text of ["burst 1", "burst 2", "burst 3", "burst 4"]) {
			box.value = text;
			box.form.requestSubmit();
		}
		return true;
	})()`))
	alice.waitMessage("alice", "burst 1")
	alice.waitFor("the three refused texts back in the box", `document.getElementById("text").value === "burst 2\nburst 3\nburst 4"`)
	const want = "Slow down: you can send again in 1 second. Your 3 messages are back in the message box."
	if got := value(alice, "read the notice", chromedp.Evaluate[string](`document.getElementById("notice").textContent`)); got != want {
		t.Errorf("notice %q, want %q", got, want)
	}
	alice.checkConsole(false)
}

// TestBrowserFocus: the message box has the focus when the chat opens, after
// joining a room, and after switching rooms, on a phone through the drawer too.
func TestBrowserFocus(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	alice := openTab(t, startChromium(t), "alice")
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitFor("the message box focused on opening", jsFocused+` === "text"`)
	alice.joinRoom("dev")
	alice.waitFor("the message box focused after joining", jsFocused+` === "text"`)
	alice.clickRoom("general")
	alice.waitFor("the message box focused after switching", jsFocused+` === "text"`)
	alice.emulate(375, 740, "light")
	alice.do("open the drawer", chromedp.Click(chromedp.ID("rooms-toggle")), chromedp.WaitVisible(chromedp.ID("sidebar")))
	alice.do("pick #dev", chromedp.Click(chromedp.CSS(`#rooms button[data-room="dev"]`)))
	alice.waitCurrent("dev")
	alice.waitFor("the message box focused after the drawer", jsFocused+` === "text"`)
	alice.checkConsole(false)
}

// TestBrowserFieldRules: a value that breaks a field's rule is told the
// app's rule, in the browser's message and in the hint the field is
// described by: the join box, and the username on login and sign-up.
func TestBrowserFieldRules(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	browser := startChromium(t)
	visitor := openTab(t, browser, "visitor", chromedp.WithNewBrowserContext())
	for _, page := range []string{"/login", "/signup"} {
		visitor.do("open "+page, chromedp.Navigate(s.URL+page))
		visitor.waitFor("the page's script", `document.readyState === "complete"`)
		visitor.do("type a name with a space", chromedp.SendKeys(chromedp.ID("username"), "Alice Smith"))
		checkRule(t, visitor, page, "username", "A username is 1 to 32 of a–z, 0–9, _ and -: no spaces or other signs.")
	}
	visitor.do("type a short password", chromedp.SendKeys(chromedp.ID("password"), "short"))
	checkRule(t, visitor, "/signup", "password", "A password is at least 8 characters.")
	for _, scheme := range []string{"light", "dark"} {
		visitor.emulate(375, 740, scheme)
		visitor.savePNG(screenshotDir(t), "signup-rules-375-"+scheme+".png")
	}
	visitor.emulate(1280, 800, "light")

	alice := openTab(t, browser, "alice", chromedp.WithNewBrowserContext())
	alice.login(s.URL, "alice", "alice-password-1")
	alice.do("type a bad room name", chromedp.SendKeys(chromedp.ID("join-room"), "bad room!"))
	alice.do("try to join", chromedp.Click(chromedp.CSS(`#join-form button[type="submit"]`)))
	checkRule(t, alice, "chat", "join-room", "A room name is 1 to 64 of a–z, 0–9, - and _.")
	alice.savePNG(screenshotDir(t), "chat-1280-join-rule-light.png")
	// Fixed, the hint is a hint again and the room is joined.
	alice.do("clear the join box", chromedp.Evaluate[chromedp.Void](`(() => { const i = document.getElementById("join-room"); i.value = ""; i.dispatchEvent(new Event("input")); })()`))
	alice.joinRoom("good-room")
	if inv := value(alice, "read the hint", chromedp.Evaluate[bool](`document.getElementById("join-hint").classList.contains("invalid")`)); inv {
		t.Error("join hint still marked invalid after a valid name")
	}
	visitor.checkConsole(false)
	alice.checkConsole(false)
}

// checkRule checks that the field id says rule in its validation message and
// that a hint it is described by is marked and says the rule's gist.
func checkRule(t *testing.T, tb *tab, page, id, rule string) {
	t.Helper()
	type ruleReport struct {
		Message string `json:"message"`
		Invalid string `json:"invalid"`
		Hint    string `json:"hint"`
		Marked  bool   `json:"marked"`
	}
	r := value(tb, "read the rule of #"+id, chromedp.Evaluate[ruleReport](fmt.Sprintf(`(() => {
		const i = document.getElementById(%s);
		const h = document.getElementById((i.getAttribute("aria-describedby") || "").split(" ")[0]);
		return { message: i.validationMessage, invalid: i.getAttribute("aria-invalid") || "", hint: h ? h.textContent : "", marked: !!h && h.classList.contains("invalid") };
	})()`, jsString(id))))
	if r.Message != rule || r.Invalid != "true" || r.Hint == "" || !r.Marked {
		t.Errorf("%s #%s: %+v; want the message %q, aria-invalid and a marked hint", page, id, r, rule)
	}
}

// TestBrowserGroupingAndDays: consecutive messages by one author within 5
// minutes on one day share one name and time; each day starts with a
// separator (Yesterday, Today); times have no leading zero in en-US.
func TestBrowserGroupingAndDays(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	for _, u := range []string{"alice", "bob", "carol"} {
		s.addUser(u, u+"-password-1")
	}
	writeDays(t, s)

	alice := openTab(t, startChromium(t), "alice")
	utcEnUS(alice)
	alice.login(s.URL, "alice", "alice-password-1")
	alice.waitMessage("bob", "t5")
	type shown struct {
		Days  []string `json:"days"`
		Cont  []string `json:"cont"`
		Times []string `json:"times"`
	}
	got := value(alice, "read the list", chromedp.Evaluate[shown](`(() => ({
		days: [...document.querySelectorAll("#messages li.day")].map(li => li.textContent),
		cont: [...document.querySelectorAll("#messages li.msg.cont .text")].map(e => e.textContent),
		times: [...document.querySelectorAll("#messages li.msg:not(.cont) time")].map(e => e.textContent),
	}))()`))
	if strings.Join(got.Days, ",") != "Yesterday,Today" {
		t.Errorf("day separators %q, want Yesterday, Today", got.Days)
	}
	if strings.Join(got.Cont, ",") != "y2,t2" {
		t.Errorf("grouped messages %q, want y2 and t2", got.Cont)
	}
	if strings.Join(got.Times, ",") != "3:00 PM,9:05 AM,9:08 AM,9:20 AM,9:40 AM" {
		t.Errorf("times shown %q", got.Times)
	}
	// A screen reader still hears who wrote a grouped message.
	if a := value(alice, "read a grouped message's author", chromedp.Evaluate[string](`document.querySelector("#messages li.msg.cont .author").textContent`)); a != "bob" {
		t.Errorf("grouped message's author %q, want bob kept for screen readers", a)
	}
	alice.checkConsole(false)
}

// writeDays writes bob's and carol's messages of yesterday and today (UTC)
// to general, beside the server, before any page connects.
func writeDays(t *testing.T, s *testServer) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), s.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	yesterday := today.Add(-24 * time.Hour)
	at := func(day time.Time, h, m int) time.Time {
		return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	msg := func(user string, ts time.Time, text string) store.NewMessage {
		id := map[string]int64{"alice": 1, "bob": 2, "carol": 3}[user]
		return store.NewMessage{Room: "general", UserID: id, User: user, Text: text, TS: ts}
	}
	msgs := []store.NewMessage{
		msg("bob", at(yesterday, 15, 0), "y1"),
		msg("bob", at(yesterday, 15, 2), "y2"), // grouped: same author, 2 minutes
		msg("bob", at(today, 9, 5), "t1"),      // a new day: not grouped
		msg("bob", at(today, 9, 7), "t2"),      // grouped
		msg("carol", at(today, 9, 8), "t3"),    // another author
		msg("bob", at(today, 9, 20), "t4"),     // after carol
		msg("bob", at(today, 9, 40), "t5"),     // 20 minutes later
	}
	if _, err := db.AppendMessages(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
}

// utcEnUS makes the tab's clock read UTC and its locale en-US, so times
// and days are what a test expects; before the page loads.
func utcEnUS(tb *tab) {
	tb.t.Helper()
	tb.do("UTC and en-US", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "UTC"}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: "en-US"})
		return err
	}))
}

// TestBrowserAccount: from the chat's top bar to the account page; the
// password is changed there (the page stays signed in, the old password no
// longer works), then the account is deleted and the browser is at /login.
func TestBrowserAccount(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	alice := openTab(t, startChromium(t), "alice")
	alice.login(s.URL, "alice", "alice-password-1")
	alice.do("open the account page", chromedp.Click(chromedp.CSS(`a.account-link`)), chromedp.WaitVisible(chromedp.ID("current-password")))
	dir := screenshotDir(t)
	for _, size := range []struct{ width, height int64 }{{375, 740}, {1280, 800}} {
		for _, scheme := range []string{"light", "dark"} {
			alice.emulate(size.width, size.height, scheme)
			alice.savePNG(dir, fmt.Sprintf("account-%d-%s.png", size.width, scheme))
		}
	}
	alice.emulate(1280, 800, "light")

	alice.do("change the password",
		chromedp.SendKeys(chromedp.ID("current-password"), "alice-password-1"),
		chromedp.SendKeys(chromedp.ID("new-password"), "alice-password-2"),
		chromedp.Click(chromedp.CSS(`form[action="/account/password"] button[type="submit"]`)))
	// A form post loads a new page: wait for its element, then poll.
	alice.do("wait for the answer", chromedp.WaitVisible(chromedp.CSS(".form-done")))
	alice.waitFor("the change confirmed", `document.querySelector(".form-done")?.textContent === "Your password is changed. Your other sessions have ended."`)
	alice.savePNG(dir, "account-1280-changed-light.png")
	alice.do("back to the chat", chromedp.Click(chromedp.CSS(`.back a`)), chromedp.WaitVisible(chromedp.ID("send-form")))
	alice.waitOnline("alice")
	if s.tryLogin("alice", "alice-password-1") || !s.tryLogin("alice", "alice-password-2") {
		t.Error("after the change the old password must fail and the new one work")
	}

	alice.do("open the account page again", chromedp.Click(chromedp.CSS(`a.account-link`)), chromedp.WaitVisible(chromedp.ID("delete-password")))
	alice.do("a wrong password",
		chromedp.SendKeys(chromedp.ID("delete-password"), "not-her-password"),
		chromedp.Click(chromedp.CSS(`form[action="/account/delete"] button[type="submit"]`)))
	alice.do("wait for the answer", chromedp.WaitVisible(chromedp.CSS("form[action='/account/delete'] .form-error")))
	alice.waitFor("the refusal", `document.querySelector("form[action='/account/delete'] .form-error")?.textContent === "That is not your password."`)
	alice.do("delete the account",
		chromedp.SendKeys(chromedp.ID("delete-password"), "alice-password-2"),
		chromedp.Click(chromedp.CSS(`form[action="/account/delete"] button[type="submit"]`)))
	alice.do("wait for the login form", chromedp.WaitVisible(chromedp.CSS(`form[action="/login"]`)))
	alice.waitFor("the login form", `location.pathname === "/login"`)
	if s.tryLogin("alice", "alice-password-2") {
		t.Error("the deleted account still logs in")
	}
	// The console has the 401 of the refused password: a network message.
	alice.checkConsole(true)
}

// TestBrowserSettingsSessions: the Settings link opens /settings, which
// lists the browser's session and another one (a script's token, with an
// open socket); ending the other from its row closes that socket with 4401
// and leaves one row, the browser's own, marked as this session.
func TestBrowserSettingsSessions(t *testing.T) {
	requireChromium(t)
	s := startServer(t, "")
	s.addUser("alice", "alice-password-1")
	script := s.tokenUA("alice", "alice-password-1", "deploy-script/1.0")
	sock := s.dialBearer(script)
	sock.until("welcome", nil)
	alice := openTab(t, startChromium(t), "alice")
	alice.login(s.URL, "alice", "alice-password-1")
	dir := screenshotDir(t)
	// The phone's top bar has room for the new link.
	alice.emulate(375, 740, "light")
	alice.waitFor("the top bar fits", `document.documentElement.scrollWidth <= innerWidth && [...document.querySelectorAll(".topbar > *")].every(e => e.getBoundingClientRect().right <= innerWidth)`)
	alice.savePNG(dir, "chat-375-topbar-light.png")
	alice.emulate(1280, 800, "light")
	alice.do("open the settings page", chromedp.Click(chromedp.CSS(`a.account-link[href="/settings"]`)), chromedp.WaitVisible(chromedp.ID("end-others")))
	alice.waitFor("two sessions listed", `document.querySelectorAll("table.sessions tbody tr").length === 2`)
	for _, size := range []struct{ width, height int64 }{{375, 740}, {1280, 800}} {
		for _, scheme := range []string{"light", "dark"} {
			alice.emulate(size.width, size.height, scheme)
			alice.savePNG(dir, fmt.Sprintf("settings-%d-%s.png", size.width, scheme))
		}
	}
	alice.emulate(1280, 800, "light")
	start := time.Now()
	alice.do("end the script's session", chromedp.Click(chromedp.CSS(`table.sessions tbody tr button.end-session`)))
	alice.do("wait for the answer", chromedp.WaitVisible(chromedp.CSS(".form-done")))
	mustClose4401(t, "the ended session's socket", sock, start)
	alice.waitFor("one session left, this one", `document.querySelectorAll("table.sessions tbody tr").length === 1 && document.querySelector("table.sessions tbody tr strong")?.textContent === "This session"`)
	alice.savePNG(dir, "settings-1280-ended-light.png")
	alice.checkConsole(false)
}
