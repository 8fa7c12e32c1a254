package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
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
		tabs[i] = openTab(t, browser, u.name)
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

	bob.screenshot(screenshotDir(t), "chat.png")

	for _, tb := range tabs {
		for _, p := range tb.consoleProblems() {
			t.Errorf("%s: browser console: %s", tb.name, p)
		}
	}
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
	problems []string // console errors and uncaught exceptions, in order
}

// openTab opens a page in a new browser context of browser and starts
// recording what the page reports as errors.
func openTab(t *testing.T, browser context.Context, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
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
				tb.problems = append(tb.problems, fmt.Sprintf("%s (%s:%d)", m.Text, m.URL, m.Line+1)) // Line counts from 0
				tb.mu.Unlock()
			}
		}
	}()
	return tb
}

func (tb *tab) consoleProblems() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.problems...)
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
		`[...document.querySelectorAll("#online li")].find(li => li.textContent === %s)`, jsString(user)))))
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
			author: li.querySelector(".author").textContent,
			text: li.querySelector(".text").textContent,
			mine: li.classList.contains("mine"),
		} : {};
	})()`))
}

// screenshot saves a full-page PNG of the tab at a desktop size as dir/name.
func (tb *tab) screenshot(dir, name string) {
	tb.t.Helper()
	tb.do("set viewport", chromedp.EmulateViewport(1280, 800))
	png := value(tb, "screenshot", chromedp.FullScreenshot(100)) // 100: PNG, not JPEG
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
