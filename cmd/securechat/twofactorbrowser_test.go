package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// TestBrowserTwoFactor: enrol on /settings/2fa (reached by the link on
// /settings) reading the secret from the page, log out, and log in with the password and then a code computed
// from that secret. Screenshots of the enrolment, the recovery codes and
// the second login step (see screenshotDir).
func TestBrowserTwoFactor(t *testing.T) {
	requireChromium(t)
	clk := newFakeClock()
	s := startServerClock(t, clk)
	s.addUser("alice", "alice-password-1")
	dir := screenshotDir(t)

	browser := startChromium(t)
	alice := openTab(t, browser, "alice", chromedp.WithNewBrowserContext())
	alice.login(s.URL, "alice", "alice-password-1")

	alice.do("open /settings/2fa from /settings and set up",
		chromedp.Navigate(s.URL+"/settings"),
		chromedp.Click(chromedp.ID("two-factor-link")),
		chromedp.Click(chromedp.CSS(`form[action="/settings/2fa/start"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("totp-secret")),
	)
	// The QR code is a PNG the page carries (img-src data:), drawn and loaded.
	alice.waitFor("the QR code", `document.getElementById("totp-qr").complete && document.getElementById("totp-qr").naturalWidth >= 100`)
	secret := strings.TrimSpace(value(alice, "read the secret", chromedp.TextContent(chromedp.ID("totp-secret"))))
	alice.savePNG(dir, "2fa-enrol.png")
	code := func() string {
		c, err := totp.GenerateCode(secret, clk.Now())
		if err != nil {
			t.Fatalf("code from the secret %q on the page: %v", secret, err)
		}
		return c
	}
	alice.do("confirm with a code",
		chromedp.SendKeys(chromedp.ID("code"), code()),
		chromedp.Click(chromedp.CSS(`form[action="/settings/2fa/confirm"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")),
	)
	alice.waitFor("10 recovery codes", `document.querySelectorAll("#recovery-codes li").length === 10`)
	alice.savePNG(dir, "2fa-recovery-codes.png")

	alice.do("log out",
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("send-form")),
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	// A code is accepted once: the login's comes from the next step.
	clk.Advance(30 * time.Second)
	alice.do("log in with the password",
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), "alice-password-1"),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login/2fa"] #code`)),
	)
	alice.savePNG(dir, "2fa-login-code.png")
	alice.do("give the code",
		chromedp.SendKeys(chromedp.ID("code"), code()),
		chromedp.Click(chromedp.CSS(`form[action="/login/2fa"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("send-form")),
	)
	alice.waitFor("the page's script", `document.readyState === "complete"`)
	if me := value(alice, "read #me", chromedp.TextContent(chromedp.ID("me"))); me != "alice" {
		t.Errorf("after the second step the chat shows %q, want alice", me)
	}
	alice.checkConsole(false)
}
