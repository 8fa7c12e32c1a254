package main

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// sessionJSON is one row of GET /api/sessions.
type sessionJSON struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"last_seen"`
	Expires   time.Time `json:"expires"`
	Address   string    `json:"address"`
	UserAgent string    `json:"user_agent"`
	Current   bool      `json:"current"`
}

// api calls an /api endpoint with a bearer token and returns the status
// and body.
func (s *testServer) api(method, path, bearer, body string) (int, string) {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "sessions-test/1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sessions lists the sessions the bearer token's user has.
func (s *testServer) sessions(bearer string) []sessionJSON {
	s.t.Helper()
	code, body := s.api("GET", "/api/sessions", bearer, "")
	if code != http.StatusOK {
		s.t.Fatalf("GET /api/sessions: %d %s", code, body)
	}
	var out []sessionJSON
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		s.t.Fatalf("GET /api/sessions: %v in %s", err, body)
	}
	return out
}

// tokenUA gets a bearer token from /token with a User-Agent.
func (s *testServer) tokenUA(name, password, ua string) string {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/token", strings.NewReader(url.Values{"username": {name}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", ua)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		s.t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

// mustClose4401 waits for the socket's 4401 close, within 1 s of start.
func mustClose4401(t *testing.T, what string, c *wsClient, start time.Time) {
	t.Helper()
	if code, _ := c.closeCode(5 * time.Second); code != 4401 || time.Since(start) > time.Second {
		t.Errorf("%s: close %d after %v; want 4401 within 1 s", what, code, time.Since(start))
	}
}

// TestHTTPSessionsList: the list shows each session of the caller's user
// with its kind, address and user agent (cut to 256 bytes), marks the
// caller's own as current, shows no other user's, and gives public ids that
// are not the session's.
func TestHTTPSessionsList(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	b := s.newBrowser()
	b.login("alice", pw)
	long := "long-agent/" + strings.Repeat("x", 1000)
	s.tokenUA("alice", pw, long)
	mine := s.tokenUA("alice", pw, "script/2")
	s.tokenUA("bob", pw, "bob/1")

	list := s.sessions(mine)
	if len(list) != 3 {
		t.Fatalf("alice's sessions: %+v; want 3", list)
	}
	byUA := map[string]sessionJSON{}
	for _, ss := range list {
		if ss.Address != "127.0.0.1" || len(ss.ID) != 16 || ss.Created.IsZero() || ss.LastSeen.IsZero() {
			t.Errorf("session %+v: want address 127.0.0.1, a 16-character id, times", ss)
		}
		if strings.Contains(mine, ss.ID) || strings.Contains(b.sessionCookie(), ss.ID) {
			t.Errorf("session id %s appears in a token", ss.ID)
		}
		byUA[ss.UserAgent[:min(len(ss.UserAgent), 11)]] = ss
	}
	if w := byUA["Go-http-cli"]; w.Kind != "browser" || w.Current {
		t.Errorf("the browser's session: %+v; want kind browser, not current", w)
	}
	if l := byUA["long-agent/"]; l.Kind != "token" || len(l.UserAgent) != 256 || l.Current {
		t.Errorf("the long agent's session: kind %s, %d bytes of agent; want token, 256", l.Kind, len(l.UserAgent))
	}
	if m := byUA["script/2"]; m.Kind != "token" || !m.Current {
		t.Errorf("the caller's session: %+v; want kind token, current", m)
	}

	// The cookie works too; without credentials the answer is 401.
	resp, err := b.client.Get(s.URL + "/api/sessions")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/sessions with the cookie: %d", resp.StatusCode)
	}
	if code, _ := s.api("GET", "/api/sessions", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/sessions without credentials: %d; want 401", code)
	}
	if code, _ := s.api("GET", "/api/sessions", "garbage", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /api/sessions with a bad token: %d; want 401", code)
	}
}

// TestHTTPSessionEnd: ending one of one's sessions closes its sockets with
// 4401 within 1 s and its token stops working; another user's session id is
// 404 and ends nothing; "everywhere else" ends all but the caller's.
func TestHTTPSessionEnd(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	a1 := s.tokenUA("alice", pw, "one")
	a2 := s.tokenUA("alice", pw, "two")
	a3 := s.tokenUA("alice", pw, "three")
	bob := s.tokenUA("bob", pw, "bob")
	id := func(bearer, ua string) string {
		for _, ss := range s.sessions(bearer) {
			if ss.UserAgent == ua {
				return ss.ID
			}
		}
		t.Fatalf("no session of agent %s", ua)
		return ""
	}
	bobID := id(bob, "bob")
	sock1 := s.dialBearer(a1)
	sock1.until("welcome", nil)

	if code, _ := s.api("DELETE", "/api/sessions/"+bobID, a2, ""); code != http.StatusNotFound {
		t.Errorf("ending bob's session as alice: %d; want 404", code)
	}
	if code, _ := s.api("DELETE", "/api/sessions/nonexistent", a2, ""); code != http.StatusNotFound {
		t.Errorf("ending an unknown session: %d; want 404", code)
	}
	if len(s.sessions(bob)) != 1 {
		t.Errorf("bob's session ended by alice")
	}

	start := time.Now()
	if code, body := s.api("DELETE", "/api/sessions/"+id(a2, "one"), a2, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE own session: %d %s", code, body)
	}
	mustClose4401(t, "the ended session's socket", sock1, start)
	if code, _ := s.api("GET", "/api/sessions", a1, ""); code != http.StatusUnauthorized {
		t.Errorf("the ended session's token: %d; want 401", code)
	}

	sock3 := s.dialBearer(a3)
	sock3.until("welcome", nil)
	sock2 := s.dialBearer(a2)
	sock2.until("welcome", nil)
	start = time.Now()
	code, body := s.api("POST", "/api/sessions/others", a2, "")
	if code != http.StatusOK || !strings.Contains(body, `"ended":1`) {
		t.Fatalf("POST /api/sessions/others: %d %s; want 1 ended", code, body)
	}
	mustClose4401(t, "the other session's socket", sock3, start)
	if list := s.sessions(a2); len(list) != 1 || !list[0].Current {
		t.Errorf("after everywhere else: %+v; want only the caller's", list)
	}
	// The caller's own socket stays open.
	sock2.send(map[string]any{"type": "ping"})
	if _, err := sock2.read(2 * time.Second); err != nil {
		t.Errorf("the caller's own socket: %v", err)
	}
}

// TestHTTPSessionsCSRF: a cookie-authenticated call to the JSON API from a
// script without the CSRF header, or from another site, is refused; with
// the header (or from the same origin, per Sec-Fetch-Site) it passes.
func TestHTTPSessionsCSRF(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	b := s.newBrowser()
	b.login("alice", pw)
	token := b.csrf("/settings")
	for _, tc := range []struct {
		name string
		h    map[string]string
		want int
	}{
		{"no token", nil, http.StatusForbidden},
		{"cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"header token", map[string]string{"X-CSRF-Token": token}, http.StatusOK},
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, http.StatusOK},
	} {
		req, _ := http.NewRequest("POST", s.URL+"/api/sessions/others", nil)
		for k, v := range tc.h {
			req.Header.Set(k, v)
		}
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d; want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

// patJSON is the answer of POST /api/tokens.
type patJSON struct {
	Token string `json:"token"`
	sessionJSON
}

// createPAT makes a personal access token through the API.
func (s *testServer) createPAT(bearer, body string) patJSON {
	s.t.Helper()
	code, out := s.api("POST", "/api/tokens", bearer, body)
	if code != http.StatusCreated {
		s.t.Fatalf("POST /api/tokens %s: %d %s", body, code, out)
	}
	var p patJSON
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// TestHTTPPersonalAccessTokens: a PAT is answered once, works as a bearer
// on /ws, /secured-ws and /api, is listed (on /api/tokens, /api/sessions and
// /settings) without the secret, is not ended by "everywhere else", and
// once revoked closes its sockets with 4401 within 1 s and authenticates
// nothing. Bad names, lifetimes and bodies are 400; the limit per user is
// 409 and counted.
func TestHTTPPersonalAccessTokens(t *testing.T) {
	metricsAddr := freeAddr(t)
	s := startServer(t, "", "--max-pats-per-user", "2", "--metrics-addr", metricsAddr)
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	login := s.token("alice", pw)
	p := s.createPAT(login, `{"name":"ci","expires_in_days":30}`)
	if !strings.HasPrefix(p.Token, "scpat_") || p.Kind != "pat" || p.Name != "ci" || len(p.ID) != 16 {
		t.Fatalf("created %+v", p)
	}
	if d := p.Expires.Sub(p.Created); d != 30*24*time.Hour {
		t.Errorf("expires %v after creation; want 30 days", d)
	}

	// It works on both sockets and on the API, whatever the maximum age of a login.
	chat := s.dialBearer(p.Token)
	chat.until("welcome", nil)
	echoSock, _, err := s.dial("/secured-ws", http.Header{"Authorization": {"Bearer " + p.Token}})
	if err != nil {
		t.Fatalf("/secured-ws with the PAT: %v", err)
	}
	defer echoSock.Close()
	code, body := s.api("GET", "/api/tokens", p.Token, "")
	if code != http.StatusOK || !strings.Contains(body, `"name":"ci"`) || strings.Contains(body, p.Token) || strings.Contains(body, "scpat_") {
		t.Errorf("GET /api/tokens: %d %s; want ci listed without the token", code, body)
	}
	b := s.newBrowser()
	b.login("alice", pw)
	page := b.get("/settings")
	if !strings.Contains(page, ">ci<") || strings.Contains(page, p.Token) {
		t.Errorf("/settings does not list the PAT by name, or shows it")
	}
	// "Log out everywhere else" leaves PATs alone.
	if code, _ := s.api("POST", "/api/sessions/others", login, ""); code != http.StatusOK {
		t.Errorf("everywhere else: %d", code)
	}
	if code, _ := s.api("GET", "/api/sessions", p.Token, ""); code != http.StatusOK {
		t.Errorf("the PAT after everywhere else: %d; want it still working", code)
	}

	// Refusals.
	for _, tc := range []struct{ body string }{
		{`{"name":"","expires_in_days":30}`},
		{`{"name":"` + strings.Repeat("n", 65) + `"}`},
		{`{"name":"x","expires_in_days":0}`},
		{`{"name":"x","expires_in_days":366}`},
		{`{"name":"x","expires_in_days":"soon"}`},
		{`not json`},
	} {
		if code, out := s.api("POST", "/api/tokens", p.Token, tc.body); code != http.StatusBadRequest {
			t.Errorf("POST /api/tokens %s: %d %s; want 400", tc.body, code, out)
		}
	}
	second := s.createPAT(p.Token, `{"name":"default lifetime"}`)
	if d := second.Expires.Sub(second.Created); d != 90*24*time.Hour {
		t.Errorf("default lifetime %v; want 90 days", d)
	}
	if code, _ := s.api("POST", "/api/tokens", p.Token, `{"name":"third"}`); code != http.StatusConflict {
		t.Errorf("a third PAT past --max-pats-per-user 2: %d; want 409", code)
	}
	if got := scrape(t, metricsAddr, "securechat_pat_refusals_total"); got != 1 {
		t.Errorf("securechat_pat_refusals_total = %v; want 1", got)
	}

	// Another user cannot revoke it; its owner can, and its sockets close.
	bob := s.token("bob", pw)
	if code, _ := s.api("DELETE", "/api/tokens/"+p.ID, bob, ""); code != http.StatusNotFound {
		t.Errorf("bob revoking alice's PAT: %d; want 404", code)
	}
	start := time.Now()
	if code, out := s.api("DELETE", "/api/tokens/"+p.ID, second.Token, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE /api/tokens: %d %s", code, out)
	}
	mustClose4401(t, "the revoked PAT's chat socket", chat, start)
	echoSock.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := echoSock.ReadMessage(); err != nil {
			if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4401 || time.Since(start) > time.Second {
				t.Errorf("the revoked PAT's echo socket: %v after %v; want 4401 within 1 s", err, time.Since(start))
			}
			break
		}
	}
	if code, _ := s.api("GET", "/api/sessions", p.Token, ""); code != http.StatusUnauthorized {
		t.Errorf("the revoked PAT on /api: %d; want 401", code)
	}
	if _, resp, err := s.dial("/ws", http.Header{"Authorization": {"Bearer " + p.Token}}); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the revoked PAT on /ws: %v; want 401", err)
	}
}

// get GETs a page in the browser and returns its body.
func (b *browser) get(path string) string {
	b.s.t.Helper()
	resp, err := b.client.Get(b.s.URL + path)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.s.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return string(body)
}

// TestHTTPTokenRevoke: POST /token/revoke (RFC 7009) ends the session of a
// session token and of a PAT, closing their sockets, and answers 200 for a
// token that is garbage or already revoked; it needs no CSRF token.
func TestHTTPTokenRevoke(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	tok := s.token("alice", pw)
	p := s.createPAT(tok, `{"name":"ci"}`)
	for _, tc := range []struct{ name, token string }{{"session token", tok}, {"PAT", p.Token}} {
		sock := s.dialBearer(tc.token)
		sock.until("welcome", nil)
		start := time.Now()
		resp, err := http.PostForm(s.URL+"/token/revoke", url.Values{"token": {tc.token}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("revoke the %s: %d; want 200", tc.name, resp.StatusCode)
		}
		mustClose4401(t, tc.name+"'s socket", sock, start)
		if code, _ := s.api("GET", "/api/sessions", tc.token, ""); code != http.StatusUnauthorized {
			t.Errorf("the revoked %s: %d; want 401", tc.name, code)
		}
	}
	for _, garbage := range []string{"garbage", "scpat_nothing", tok, strings.Repeat("a", 5000)} {
		resp, err := http.PostForm(s.URL+"/token/revoke", url.Values{"token": {garbage}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("revoke %.20q: %d; want 200", garbage, resp.StatusCode)
		}
	}
	resp, err := http.PostForm(s.URL+"/token/revoke", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("revoke without a token: %d; want 400", resp.StatusCode)
	}
}

// TestCLIToken: securechat token create prints a PAT that works on /ws,
// list shows it without the secret, revoke closes its socket with 4401
// within 1 s, and it then authenticates nothing. Flags may stand anywhere.
func TestCLIToken(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	out, err := s.cli("", "--expires-in-days", "7", "token", "create", "Alice", "--name", "deploy")
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.Fields(out)[0]
	if !strings.HasPrefix(token, "scpat_") {
		t.Fatalf("token create printed %q", out)
	}
	sock := s.dialBearer(token)
	sock.until("welcome", nil)
	list, err := s.cli("", "token", "list", "alice")
	if err != nil || !strings.Contains(list, "deploy") || strings.Contains(list, token) || strings.Count(list, "\n") != 1 {
		t.Fatalf("token list: %q, %v; want one line naming deploy, without the token", list, err)
	}
	id := strings.Fields(list)[0]
	if ps := s.sessions(token); len(ps) != 1 || ps[0].ID != id || ps[0].Kind != "pat" || ps[0].Expires.Sub(ps[0].Created) != 7*24*time.Hour {
		t.Errorf("the API's view of the CLI's token: %+v; want id %s, kind pat, 7 days", ps, id)
	}
	if _, err := s.cli("", "token", "revoke", "alice", "nosuchid"); err == nil {
		t.Errorf("revoking an unknown id succeeded")
	}
	start := time.Now()
	if out, err := s.cli("", "token", "revoke", "alice", id); err != nil {
		t.Fatalf("token revoke: %v %s", err, out)
	}
	mustClose4401(t, "the revoked token's socket", sock, start)
	if code, _ := s.api("GET", "/api/sessions", token, ""); code != http.StatusUnauthorized {
		t.Errorf("the revoked token: %d; want 401", code)
	}
	if list, _ := s.cli("", "token", "list", "alice"); list != "" {
		t.Errorf("token list after revoke: %q", list)
	}
}

// TestCLITokenUsageErrors: a malformed token command says why on one line
// and creates neither a data folder nor a token.
func TestCLITokenUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token"}, "usage: securechat token"},
		{[]string{"token", "create", "alice"}, "needs a NAME"},
		{[]string{"token", "create", "alice", "ci", "--name", "ci"}, "give the token's name once"},
		{[]string{"token", "create", "alice", "ci", "--expires-in-days", "400"}, "expires_in_days is 1 to 365"},
		{[]string{"token", "revoke", "alice"}, "usage: securechat token"},
		{[]string{"token", "list", "bad name!"}, "a username is"},
		{[]string{"user", "list", "--name", "x"}, "--name and --expires-in-days go with token create only"},
	} {
		dir := t.TempDir() + "/data"
		out, errOut, err := runCLI(t, nil, "", append(tc.args, "--data", dir)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v; want one line containing %q", tc.args, err, tc.want)
		}
		if out != "" || errOut != "" {
			t.Errorf("%q: printed %q and %q", tc.args, out, errOut)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%q: the data folder was created", tc.args)
		}
	}
}

// TestClusterSessionsEnded: a session ended, "everywhere else", and a PAT
// revoked through node A close their sockets on node B with 4401 within 1 s
// (PostgreSQL and NATS, as in production).
func TestClusterSessionsEnded(t *testing.T) {
	_, natsURL := natsOn(t, -1)
	cl := newCluster(t, natsURL, postgresURL(t))
	a, b := cl.node(), cl.node()
	a.addUser("alice", pw)
	me := a.tokenUA("alice", pw, "me")
	one := a.tokenUA("alice", pw, "one")
	two := a.tokenUA("alice", pw, "two")
	p := a.createPAT(me, `{"name":"ci"}`)
	ids := map[string]string{}
	for _, ss := range a.sessions(me) {
		ids[ss.UserAgent] = ss.ID
	}
	onOne, onTwo, onPAT := onNode(t, b, one), onNode(t, b, two), onNode(t, b, p.Token)

	start := time.Now()
	if code, body := a.api("DELETE", "/api/sessions/"+ids["one"], me, ""); code != http.StatusNoContent {
		t.Fatalf("end one: %d %s", code, body)
	}
	mustClose4401(t, "session one's socket on B", onOne, start)
	start = time.Now()
	if code, body := a.api("POST", "/api/sessions/others", me, ""); code != http.StatusOK {
		t.Fatalf("everywhere else: %d %s", code, body)
	}
	mustClose4401(t, "session two's socket on B", onTwo, start)
	start = time.Now()
	if code, body := a.api("DELETE", "/api/tokens/"+p.ID, me, ""); code != http.StatusNoContent {
		t.Fatalf("revoke the PAT: %d %s", code, body)
	}
	mustClose4401(t, "the PAT's socket on B", onPAT, start)
}

// postPage submits a form on /settings with its CSRF field and returns the
// status and body.
func (b *browser) postPage(path string, form url.Values) (int, string) {
	b.s.t.Helper()
	form.Set("_csrf", b.csrf("/settings"))
	resp, err := b.client.PostForm(b.s.URL+path, form)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestHTTPSettingsForms: the page's forms make a token (shown once, on the
// answer, never in a URL), end a session by its row (its socket closes with
// 4401), refuse another user's id with 404 and a form without the CSRF
// token with 403, and log out everywhere else.
func TestHTTPSettingsForms(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	b := s.newBrowser()
	b.login("alice", pw)
	other := s.tokenUA("alice", pw, "other")
	bob := s.tokenUA("bob", pw, "bob")

	code, page := b.postPage("/settings/tokens", url.Values{"name": {"laptop"}, "expires_in_days": {"10"}})
	token := regexp.MustCompile(`scpat_[A-Za-z0-9]+`).FindString(page)
	if code != http.StatusCreated || token == "" {
		t.Fatalf("create a token on the page: %d, token %q", code, token)
	}
	if code, _ := s.api("GET", "/api/sessions", token, ""); code != http.StatusOK {
		t.Errorf("the page's token: %d", code)
	}
	if strings.Contains(b.get("/settings"), token) {
		t.Errorf("the token is shown again")
	}
	if code, page := b.postPage("/settings/tokens", url.Values{"name": {"x"}, "expires_in_days": {"1000"}}); code != http.StatusBadRequest || !strings.Contains(page, "A token lasts 1 to 365 days.") {
		t.Errorf("a token for 1000 days: %d", code)
	}

	bobID := s.sessions(bob)[0].ID
	if code, _ := b.postPage("/settings/sessions/"+bobID+"/end", url.Values{}); code != http.StatusNotFound {
		t.Errorf("ending bob's session from alice's page: %d; want 404", code)
	}
	var otherID string
	for _, ss := range s.sessions(other) {
		if ss.UserAgent == "other" {
			otherID = ss.ID
		}
	}
	resp, err := b.client.PostForm(s.URL+"/settings/sessions/"+otherID+"/end", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a form without the CSRF token: %d; want 403", resp.StatusCode)
	}
	sock := s.dialBearer(other)
	sock.until("welcome", nil)
	start := time.Now()
	if code, _ := b.postPage("/settings/sessions/"+otherID+"/end", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("end the other session: %d; want 303", code)
	}
	mustClose4401(t, "the ended session's socket", sock, start)

	third := s.tokenUA("alice", pw, "third")
	if code, _ := b.postPage("/settings/sessions/others", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("everywhere else: %d", code)
	}
	if code, _ := s.api("GET", "/api/sessions", third, ""); code != http.StatusUnauthorized {
		t.Errorf("a session after everywhere else from the page: %d; want 401", code)
	}
	if code, _ := s.api("GET", "/api/sessions", token, ""); code != http.StatusOK {
		t.Errorf("the PAT after everywhere else: %d; want it kept", code)
	}
	if !strings.Contains(b.get("/settings"), "This session") {
		t.Errorf("the page's own session is gone")
	}
}

// TestHTTPSessionsAddressBehindProxy: behind a trusted proxy a session
// records the client address the proxy gave; without one, a forged
// X-Forwarded-For is not believed.
func TestHTTPSessionsAddressBehindProxy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"trusted proxy", []string{"--trusted-proxies", "127.0.0.1/32"}, "203.0.113.9"},
		{"no proxy", nil, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, "", tc.flags...)
			s.addUser("alice", pw)
			req, _ := http.NewRequest("POST", s.URL+"/token", strings.NewReader(url.Values{"username": {"alice"}, "password": {pw}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				AccessToken string `json:"access_token"`
			}
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if list := s.sessions(body.AccessToken); len(list) != 1 || list[0].Address != tc.want {
				t.Errorf("sessions %+v; want the address %s", list, tc.want)
			}
		})
	}
}
