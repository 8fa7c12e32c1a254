package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// twoFactorUser is an account with two-factor login turned on through the
// API, on a server whose clock the test moves by whole time steps.
type twoFactorUser struct {
	s        *testServer
	clk      *fakeClock
	name     string
	password string
	secret   string
	recovery []string
	token    string // a /token session from before two-factor login was on
}

// codeNow computes the authenticator's code at the server's time, as the app would.
func (u *twoFactorUser) codeNow() string {
	u.s.t.Helper()
	c, err := totp.GenerateCode(u.secret, u.clk.Now())
	if err != nil {
		u.s.t.Fatal(err)
	}
	return c
}

// nextStep moves the server to the next 30-second step: a code is accepted
// once, so each login needs a new one.
func (u *twoFactorUser) nextStep() { u.clk.Advance(30 * time.Second) }

// apiCall sends a JSON API request with a bearer token.
func apiCall(t *testing.T, method, url, bearer string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// enrolTwoFactor starts a server on a fake clock with alice, and turns her
// two-factor login on through the API with a bearer token.
func enrolTwoFactor(t *testing.T, flags ...string) *twoFactorUser {
	t.Helper()
	clk := newFakeClock()
	s := startServerClock(t, clk, flags...)
	u := &twoFactorUser{s: s, clk: clk, name: "alice", password: "correct horse"}
	s.addUser(u.name, u.password)
	tok := s.token(u.name, u.password)
	u.token = tok

	status, out := apiCall(t, "POST", s.URL+"/api/2fa/totp", tok, nil)
	u.secret, _ = out["secret"].(string)
	otpURL, _ := out["otpauth_url"].(string)
	if status != http.StatusOK || u.secret == "" || !strings.HasPrefix(otpURL, "otpauth://totp/") {
		t.Fatalf("POST /api/2fa/totp = %d %v", status, out)
	}
	if status, out := apiCall(t, "POST", s.URL+"/api/2fa/totp/confirm", tok, map[string]string{"code": "000000"}); status != http.StatusBadRequest {
		t.Fatalf("confirm with a wrong code = %d %v; want 400", status, out)
	}
	status, out = apiCall(t, "POST", s.URL+"/api/2fa/totp/confirm", tok, map[string]string{"code": u.codeNow()})
	codes, _ := out["recovery_codes"].([]any)
	if status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirm = %d %v; want 10 recovery codes", status, out)
	}
	for _, c := range codes {
		u.recovery = append(u.recovery, c.(string))
	}
	u.nextStep()
	return u
}

// loginPassword posts the password form and returns the status and the
// pending login of the second form.
func loginPassword(b *browser, name, password string) (int, string) {
	b.s.t.Helper()
	form := url.Values{"username": {name}, "password": {password}, "_csrf": {b.csrf("/login")}}
	resp, err := b.client.PostForm(b.s.URL+"/login", form)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`name="pending" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, string(m[1])
}

// loginCode posts the second form and returns its status and page.
func loginCode(b *browser, pending, code string) (int, string) {
	b.s.t.Helper()
	form := url.Values{"pending": {pending}, "code": {code}, "_csrf": {b.csrf("/login")}}
	resp, err := b.client.PostForm(b.s.URL+"/login/2fa", form)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// loggedIn reports whether the browser's session opens the chat page.
func loggedIn(b *browser) bool {
	resp, err := b.client.Get(b.s.URL + "/")
	if err != nil {
		b.s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func TestTwoFactorLogin(t *testing.T) {
	u := enrolTwoFactor(t)
	b := u.s.newBrowser()

	// The right password alone does not log in: it answers the second form.
	status, pending := loginPassword(b, u.name, u.password)
	if status != http.StatusOK || pending == "" || b.sessionCookie() != "" || loggedIn(b) {
		t.Fatalf("password step: status %d, pending %t, session cookie %t; want 200, the second form, no session", status, pending != "", b.sessionCookie() != "")
	}
	if status, _ := loginCode(b, pending, "000000"); status != http.StatusUnauthorized || loggedIn(b) {
		t.Errorf("wrong code: status %d; want 401 and no session", status)
	}
	if status, _ := loginCode(b, "forged"+pending[6:], u.codeNow()); status != http.StatusBadRequest || loggedIn(b) {
		t.Errorf("tampered pending login: status %d; want 400 and no session", status)
	}
	code := u.codeNow()
	if status, _ := loginCode(b, pending, code); status != http.StatusSeeOther || !loggedIn(b) {
		t.Fatalf("right code: status %d, logged in %t; want 303 and a session", status, loggedIn(b))
	}

	// The same code again, in another login within its step: refused.
	b2 := u.s.newBrowser()
	_, pending2 := loginPassword(b2, u.name, u.password)
	if status, _ := loginCode(b2, pending2, code); status != http.StatusUnauthorized || loggedIn(b2) {
		t.Errorf("reused code: status %d; want 401 and no session", status)
	}
	// A recovery code works, once.
	if status, _ := loginCode(b2, pending2, u.recovery[0]); status != http.StatusSeeOther || !loggedIn(b2) {
		t.Errorf("recovery code: status %d; want 303 and a session", status)
	}
	b3 := u.s.newBrowser()
	_, pending3 := loginPassword(b3, u.name, u.password)
	if status, _ := loginCode(b3, pending3, u.recovery[0]); status != http.StatusUnauthorized || loggedIn(b3) {
		t.Errorf("used recovery code: status %d; want 401 and no session", status)
	}
	// The pending login lasts 5 minutes.
	u.clk.Advance(5 * time.Minute)
	if status, _ := loginCode(b3, pending3, u.codeNow()); status != http.StatusBadRequest || loggedIn(b3) {
		t.Errorf("code after 5 minutes: status %d; want 400 and no session", status)
	}
}

func TestTwoFactorAttemptLimit(t *testing.T) {
	// 6 wrong codes an hour per user: enrolling used one.
	metricsAddr := freeAddr(t)
	u := enrolTwoFactor(t, "--2fa-attempts", "3", "--2fa-limit", "6/1h", "--metrics-addr", metricsAddr)
	b := u.s.newBrowser()
	_, pending := loginPassword(b, u.name, u.password)
	for i := range 3 {
		if status, _ := loginCode(b, pending, "000000"); status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: status %d; want 401", i+1, status)
		}
	}
	// Past --2fa-attempts even the right code is refused: start over.
	status, page := loginCode(b, pending, u.codeNow())
	if status != http.StatusTooManyRequests || loggedIn(b) || !strings.Contains(page, `action="/login"`) {
		t.Fatalf("after 3 wrong codes: status %d, logged in %t; want 429 and the password form", status, loggedIn(b))
	}
	// A new login may try again, until the limit per user.
	_, pending = loginPassword(b, u.name, u.password)
	for i := range 2 {
		if status, _ := loginCode(b, pending, "000000"); status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d of the second login: status %d; want 401", i+1, status)
		}
	}
	if status, _ := loginCode(b, pending, u.codeNow()); status != http.StatusTooManyRequests || loggedIn(b) {
		t.Fatalf("after 6 wrong codes for the user: status %d; want 429 and no session", status)
	}
	_, pending = loginPassword(b, u.name, u.password)
	if status, _ := loginCode(b, pending, u.codeNow()); status != http.StatusTooManyRequests || loggedIn(b) {
		t.Fatalf("new login past the per-user limit: status %d; want 429", status)
	}
	for limit, want := range map[string]float64{"login": 1, "user": 2} {
		if got := scrape(t, metricsAddr, `securechat_2fa_refusals_total{limit="`+limit+`"}`); got != want {
			t.Errorf("securechat_2fa_refusals_total{limit=%q} = %v; want %v", limit, got, want)
		}
	}
	// The limit refills: a right code then works.
	u.clk.Advance(15 * time.Minute)
	_, pending = loginPassword(b, u.name, u.password)
	if status, _ := loginCode(b, pending, u.codeNow()); status != http.StatusSeeOther || !loggedIn(b) {
		t.Fatalf("right code after the limit refilled: status %d; want 303", status)
	}
}

// TestTwoFactorTokenRefused: /token refuses a user with two-factor login,
// pointing to personal access tokens on /settings, and starts no session;
// a personal access token then works on the socket and the API.
func TestTwoFactorTokenRefused(t *testing.T) {
	u := enrolTwoFactor(t)
	before := len(u.s.sessions(u.token))
	resp, err := http.PostForm(u.s.URL+"/token", url.Values{"username": {u.name}, "password": {u.password}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "invalid_grant" ||
		!strings.Contains(body["error_description"], "personal access token") || !strings.Contains(body["error_description"], "/settings") ||
		body["access_token"] != "" {
		t.Errorf("/token for a 2FA user = %d %v; want 400 invalid_grant pointing to personal access tokens on /settings", resp.StatusCode, body)
	}
	if after := len(u.s.sessions(u.token)); after != before {
		t.Errorf("the refused /token left %d sessions; want %d (no session started)", after, before)
	}
	pat := u.s.createPAT(u.token, `{"name":"ci"}`)
	u.s.dialBearer(pat.Token).until("welcome", nil)
	if code, out := u.s.api("GET", "/api/sessions", pat.Token, ""); code != http.StatusOK {
		t.Errorf("GET /api/sessions with the PAT of a 2FA user: %d %s", code, out)
	}
	// A wrong password is still just a wrong password.
	resp2, _ := http.PostForm(u.s.URL+"/token", url.Values{"username": {u.name}, "password": {"wrong password"}})
	json.NewDecoder(resp2.Body).Decode(&body)
	resp2.Body.Close()
	if body["error_description"] != "unknown username or wrong password" {
		t.Errorf("/token with a wrong password said %q", body["error_description"])
	}
}

// TestTwoFactorLoginSession: the password step starts no session; the code
// starts one of kind browser that records the client's address and user
// agent, as a password-only login does. /settings shows the state of
// two-factor login with a link to /settings/2fa.
func TestTwoFactorLoginSession(t *testing.T) {
	u := enrolTwoFactor(t)
	before := len(u.s.sessions(u.token))
	b := u.s.newBrowser()
	_, pending := loginPassword(b, u.name, u.password)
	if pending == "" || loggedIn(b) {
		t.Fatal("the password alone: want the second form and no session")
	}
	if after := len(u.s.sessions(u.token)); after != before {
		t.Fatalf("after the password step %d sessions; want %d", after, before)
	}
	form := url.Values{"pending": {pending}, "code": {u.codeNow()}, "_csrf": {b.csrf("/login")}}
	req, _ := http.NewRequest("POST", u.s.URL+"/login/2fa", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "phone-browser/7")
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !loggedIn(b) {
		t.Fatalf("the code: status %d; want 303 and a session", resp.StatusCode)
	}
	var found []sessionJSON
	for _, ss := range u.s.sessions(u.token) {
		if ss.UserAgent == "phone-browser/7" {
			found = append(found, ss)
		}
	}
	if len(found) != 1 || found[0].Kind != "browser" || found[0].Address != "127.0.0.1" {
		t.Errorf("the two-step login's sessions: %+v; want one of kind browser from 127.0.0.1", found)
	}

	// /settings: on, with the link; another user's: off, with the link.
	p := b.get("/settings")
	if !regexp.MustCompile(`id="two-factor-state">Two-factor login is <strong>on</strong>`).MatchString(p) || !strings.Contains(p, `href="/settings/2fa"`) {
		t.Errorf("/settings of a 2FA user does not say it is on with a link to /settings/2fa")
	}
	u.s.addUser("bob", "correct horse")
	b2 := u.s.newBrowser()
	b2.login("bob", "correct horse")
	p = b2.get("/settings")
	if !regexp.MustCompile(`id="two-factor-state">Two-factor login is <strong>off</strong>`).MatchString(p) || !strings.Contains(p, `href="/settings/2fa"`) {
		t.Errorf("/settings of a user without 2FA does not say it is off with a link to /settings/2fa")
	}
}

func TestTwoFactorDisableAndReset(t *testing.T) {
	u := enrolTwoFactor(t)
	b := u.s.newBrowser()
	_, pending := loginPassword(b, u.name, u.password)
	if status, _ := loginCode(b, pending, u.codeNow()); status != http.StatusSeeOther {
		t.Fatalf("login: status %d", status)
	}
	u.nextStep()

	// With the cookie, a script sends the CSRF token as a header.
	del := func(code, csrf string) int {
		req, _ := http.NewRequest("DELETE", u.s.URL+"/api/2fa/totp", strings.NewReader(`{"code":"`+code+`"}`))
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	csrf := ""
	base, _ := url.Parse(u.s.URL)
	for _, c := range b.client.Jar.Cookies(base) {
		if c.Name == "_csrf" {
			csrf = c.Value
		}
	}
	if status := del(u.codeNow(), ""); status != http.StatusForbidden {
		t.Errorf("DELETE with the cookie and no CSRF header = %d; want 403", status)
	}
	if status := del("000000", csrf); status != http.StatusBadRequest {
		t.Errorf("DELETE with a wrong code = %d; want 400", status)
	}
	if status := del(u.codeNow(), csrf); status != http.StatusNoContent {
		t.Fatalf("DELETE with a code = %d; want 204", status)
	}
	// Off: the password alone logs in, and /token works again.
	b2 := u.s.newBrowser()
	if status, pending := loginPassword(b2, u.name, u.password); status != http.StatusSeeOther || pending != "" || !loggedIn(b2) {
		t.Fatalf("password login after disabling: status %d; want 303", status)
	}
	tok := u.s.token(u.name, u.password)

	// On again, then the admin's reset turns it off.
	u.nextStep()
	_, out := apiCall(t, "POST", u.s.URL+"/api/2fa/totp", tok, nil)
	u.secret, _ = out["secret"].(string)
	if status, out := apiCall(t, "POST", u.s.URL+"/api/2fa/totp/confirm", tok, map[string]string{"code": u.codeNow()}); status != http.StatusOK {
		t.Fatalf("enrol again = %d %v", status, out)
	}
	if status, pending := loginPassword(u.s.newBrowser(), u.name, u.password); status != http.StatusOK || pending == "" {
		t.Fatalf("password login with 2FA on again: status %d; want the second form", status)
	}
	out2, err := u.s.cli("", "user", "2fa-reset", "Alice")
	if err != nil || !strings.Contains(out2, "off for alice") {
		t.Fatalf("user 2fa-reset = %q, %v", out2, err)
	}
	if _, err := u.s.cli("", "user", "2fa-reset", "alice"); err == nil || !strings.Contains(err.Error(), "not on") {
		t.Errorf("second 2fa-reset = %v; want 'not on'", err)
	}
	b3 := u.s.newBrowser()
	if status, pending := loginPassword(b3, u.name, u.password); status != http.StatusSeeOther || pending != "" || !loggedIn(b3) {
		t.Errorf("password login after 2fa-reset: status %d; want 303", status)
	}
}

func TestTwoFactorSettingsPage(t *testing.T) {
	clk := newFakeClock()
	s := startServerClock(t, clk)
	s.addUser("bob", "correct horse")
	b := s.newBrowser()
	b.login("bob", "correct horse")

	page := func(resp *http.Response) string {
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	form := url.Values{"_csrf": {b.csrf("/settings/2fa")}}
	resp, err := b.client.PostForm(s.URL+"/settings/2fa/start", form)
	if err != nil {
		t.Fatal(err)
	}
	p := page(resp)
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(p)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(p, `src="data:image/png;base64,`) {
		t.Fatalf("start: status %d; want the secret as text and a QR code PNG on the page", resp.StatusCode)
	}
	secret := m[1]
	// A wrong code shows the same secret again.
	resp, _ = b.client.PostForm(s.URL+"/settings/2fa/confirm", url.Values{"_csrf": form["_csrf"], "code": {"000000"}})
	if p := page(resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(p, secret) {
		t.Errorf("wrong confirmation code: status %d; want 400 and the same secret", resp.StatusCode)
	}
	code, _ := totp.GenerateCode(secret, clk.Now())
	resp, _ = b.client.PostForm(s.URL+"/settings/2fa/confirm", url.Values{"_csrf": form["_csrf"], "code": {code}})
	p = page(resp)
	if n := len(regexp.MustCompile(`<li><code>[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}</code></li>`).FindAllString(p, -1)); resp.StatusCode != http.StatusOK || n != 10 {
		t.Fatalf("confirm: status %d, %d recovery codes; want 200 and 10", resp.StatusCode, n)
	}
	// Shown once: the page now only offers to turn it off.
	if p := page(must(b.client.Get(s.URL + "/settings/2fa"))); !strings.Contains(p, "Two-factor login is on") || strings.Contains(p, "recovery-codes") {
		t.Errorf("settings page after enrolling does not say it is on, or shows the codes again")
	}
	clk.Advance(30 * time.Second)
	code, _ = totp.GenerateCode(secret, clk.Now())
	resp, _ = b.client.PostForm(s.URL+"/settings/2fa/disable", url.Values{"_csrf": form["_csrf"], "code": {code}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: status %d; want 303", resp.StatusCode)
	}
	if p := page(must(b.client.Get(s.URL + "/settings/2fa"))); !strings.Contains(p, "Two-factor login is off") {
		t.Errorf("settings page after disabling does not say it is off")
	}
	// Without a session, the page sends to the login.
	resp = must(s.newBrowser().client.Get(s.URL + "/settings/2fa"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("settings page without a session: status %d; want 303", resp.StatusCode)
	}
}

func must(resp *http.Response, err error) *http.Response {
	if err != nil {
		panic(err)
	}
	return resp
}

// TestTwoFactorAPIMalformed: every malformed call gets a clear 4xx, and the
// server keeps serving.
func TestTwoFactorAPIMalformed(t *testing.T) {
	s := startServer(t, "")
	s.addUser("carol", "correct horse")
	tok := s.token("carol", "correct horse")
	for _, c := range []struct {
		name, method, path, auth, body string
		want                           int
	}{
		{"no credentials", "POST", "/api/2fa/totp", "", "", http.StatusForbidden}, // no cookie, no CSRF token: the CSRF check answers first
		{"basic auth", "POST", "/api/2fa/totp", "Basic YTpi", "", http.StatusUnauthorized},
		{"bad token", "POST", "/api/2fa/totp", "Bearer nope", "", http.StatusUnauthorized},
		{"confirm, nothing pending", "POST", "/api/2fa/totp/confirm", "Bearer " + tok, `{"code":"123456"}`, http.StatusConflict},
		{"confirm, not JSON", "POST", "/api/2fa/totp/confirm", "Bearer " + tok, `code=1`, http.StatusBadRequest},
		{"confirm, no code", "POST", "/api/2fa/totp/confirm", "Bearer " + tok, `{}`, http.StatusBadRequest},
		{"disable, not on", "DELETE", "/api/2fa/totp", "Bearer " + tok, `{"code":"123456"}`, http.StatusConflict},
		{"disable, truncated JSON", "DELETE", "/api/2fa/totp", "Bearer " + tok, `{"code":`, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, s.URL+c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("status %d; want %d", resp.StatusCode, c.want)
			}
		})
	}
	// Still serving: the enrolment works.
	if status, out := apiCall(t, "POST", s.URL+"/api/2fa/totp", tok, nil); status != http.StatusOK || out["secret"] == "" {
		t.Errorf("POST /api/2fa/totp after the malformed calls = %d %v", status, out)
	}
	// A pending login that is no value at all.
	b := s.newBrowser()
	if status, _ := loginCode(b, strings.Repeat("x", 5000), "123456"); status != http.StatusBadRequest {
		t.Errorf("/login/2fa with a made-up pending login: status %d; want 400", status)
	}
}

// TestTwoFactorLoginBehindProxy: behind a trusted proxy that was reached
// over https, both login steps use the __Host- cookie names, the cookies the
// second step sets are Secure, and the session records the address the
// proxy gave.
func TestTwoFactorLoginBehindProxy(t *testing.T) {
	u := enrolTwoFactor(t, "--trusted-proxies", "127.0.0.1/32")
	proxied := http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Forwarded-Proto": {"https"}}
	client := from("127.0.0.1")
	jar := map[string]*http.Cookie{} // by hand: a cookie jar sends no Secure cookie to an http URL
	send := func(method, path string, form url.Values) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, u.s.URL+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, vs := range proxied {
			req.Header[k] = vs
		}
		for _, c := range jar {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, c := range resp.Cookies() {
			jar[c.Name] = c
		}
		return resp, string(b)
	}
	field := func(page, name string) string {
		m := regexp.MustCompile(`name="` + name + `" value="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no %s field on the page", name)
		}
		return m[1]
	}
	_, page := send("GET", "/login", nil)
	if jar["__Host-csrf"] == nil {
		t.Fatalf("GET /login over the proxy's https set %v; want __Host-csrf", jar)
	}
	resp, page := send("POST", "/login", url.Values{"username": {u.name}, "password": {u.password}, "_csrf": {field(page, "_csrf")}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("password step: status %d; want the second form", resp.StatusCode)
	}
	resp, _ = send("POST", "/login/2fa", url.Values{"pending": {field(page, "pending")}, "code": {u.codeNow()}, "_csrf": {field(page, "_csrf")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("code step: status %d; want 303", resp.StatusCode)
	}
	for _, name := range []string{"__Host-securechat", "__Host-securechat-device"} {
		if c := jar[name]; c == nil || !c.Secure || c.Value == "" {
			t.Errorf("cookie %s after the code: %+v; want it set, Secure", name, c)
		}
	}
	if jar["securechat"] != nil {
		t.Errorf("the plain session cookie was set behind https")
	}
	var found bool
	for _, ss := range u.s.sessions(u.token) {
		if ss.Kind == "browser" {
			found = ss.Address == "203.0.113.7"
			if !found {
				t.Errorf("the browser session's address %q; want the proxy's client 203.0.113.7", ss.Address)
			}
		}
	}
	if !found {
		t.Error("no browser session after the two-step login behind the proxy")
	}
}
