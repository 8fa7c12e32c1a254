package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"securechat"
	"securechat/app/chat"
)

const pw = "correct horse"

func TestHTTPPagesRedirectWithoutSession(t *testing.T) {
	s := startServer(t, "")
	c := noRedirect(nil)
	cases := []struct {
		path, wantLocation string
	}{
		{"/", "/login?next=%2F"},
		{"/rooms/x?tab=2", "/login?next=%2Frooms%2Fx%3Ftab%3D2"},
		{"/anything", "/login?next=%2Fanything"},
	}
	for _, tc := range cases {
		resp, err := c.Get(s.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.wantLocation {
			t.Errorf("GET %s: %d %q, want 303 %q", tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.wantLocation)
		}
	}
	// A forged cookie is no session.
	req, _ := http.NewRequest("GET", s.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: "securechat", Value: "tokenizedalice"})
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("forged cookie: %d, want 303", resp.StatusCode)
	}
}

func TestHTTPHealthAndStatic(t *testing.T) {
	s := startServer(t, "")
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	// The page's script is ES modules in a folder: a browser runs a module
	// only if it is served as JavaScript.
	modules, err := fs.Glob(securechat.Static(), "js/*.js")
	if err != nil || !slices.Contains(modules, "js/main.js") {
		t.Fatalf("embedded modules: %q, %v; want js/main.js among them", modules, err)
	}
	types := map[string]string{".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
	for _, path := range append([]string{"/static/app.css", "/static/favicon.svg"}, prefixAll("/static/", modules)...) {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != 200 || etag == "" {
			t.Fatalf("GET %s: %d etag %q", path, resp.StatusCode, etag)
		}
		if ct, want := resp.Header.Get("Content-Type"), types[filepath.Ext(path)]; !strings.HasPrefix(ct, want) {
			t.Errorf("GET %s: Content-Type %q, want %s", path, ct, want)
		}
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match: %d, want 304", path, resp.StatusCode)
		}
	}
	resp, err = http.Get(s.URL + "/static/nope.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("missing static file: %d, want 404", resp.StatusCode)
	}
}

// prefixAll returns each of names with prefix before it.
func prefixAll(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// TestHTTPChatPageCarriesLimits: the chat page gets the protocol's rules from
// the server (its constants and its configuration), as data- attributes for
// the script and as the boxes' own limits.
func TestHTTPChatPageCarriesLimits(t *testing.T) {
	s := startServer(t, "", "--max-text", "1234")
	s.addUser("alice", pw)
	b := s.newBrowser()
	b.login("alice", pw)
	resp, err := b.client.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`data-max-text="1234"`,
		fmt.Sprintf(`data-page-size="%d"`, chat.HistoryPage),
		fmt.Sprintf(`data-room-pattern="%s"`, html.EscapeString(chat.RoomPattern)),
		fmt.Sprintf(`data-max-room-name="%d"`, chat.MaxRoomName),
		`<textarea id="text" rows="1" maxlength="1234"`,
		fmt.Sprintf(`<input id="join-room" type="text" placeholder="room-name" maxlength="%d" pattern="%s"`,
			chat.MaxRoomName, html.EscapeString(`[A-Za-z0-9_\-]{1,64}`)),
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("chat page lacks %s", want)
		}
	}
}

func TestHTTPLogin(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)

	t.Run("form", func(t *testing.T) {
		b := s.newBrowser()
		resp, err := b.client.Get(s.URL + "/login")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `name="password"`) {
			t.Fatalf("GET /login: %d", resp.StatusCode)
		}
		for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("missing %s", h)
			}
		}
	})

	nexts := []struct{ next, want string }{
		{"", "/"},
		{"/", "/"},
		{"/rooms/x?tab=2", "/rooms/x?tab=2"},
		{"//evil.example", "/"},
		{"https://evil.example/", "/"},
		{"/\\evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"evil", "/"},
	}
	for _, tc := range nexts {
		t.Run("next="+tc.next, func(t *testing.T) {
			b := s.newBrowser()
			resp := b.post("/login", "/login", url.Values{"username": {"Alice"}, "password": {pw}, "next": {tc.next}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.want {
				t.Fatalf("status %d location %q, want 303 %q", resp.StatusCode, resp.Header.Get("Location"), tc.want)
			}
			var ck *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == "securechat" {
					ck = c
				}
			}
			if ck == nil || !ck.HttpOnly || ck.Path != "/" || ck.SameSite != http.SameSiteLaxMode || ck.Secure {
				t.Fatalf("session cookie %+v: want HttpOnly, Path=/, SameSite=Lax, not Secure without TLS", ck)
			}
		})
	}

	t.Run("already logged in", func(t *testing.T) {
		b := s.newBrowser()
		b.login("alice", pw)
		resp, err := b.client.Get(s.URL + "/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("GET /login logged in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, err = b.client.Get(s.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `<script type="module" src="/static/js/main.js">`) {
			t.Fatalf("GET / logged in: %d", resp.StatusCode)
		}
		resp, err = b.client.Get(s.URL + "/no/such/page")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("unknown page logged in: %d, want 404", resp.StatusCode)
		}
	})

	bad := []struct{ name, user, password string }{
		{"wrong password", "alice", "wrong password"},
		{"unknown user", "mallory", pw},
		{"invalid name", "no spaces allowed", pw},
	}
	var messages []string
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			b := s.newBrowser()
			form := url.Values{"username": {tc.user}, "password": {tc.password}, "_csrf": {b.csrf("/login")}}
			resp, err := b.client.PostForm(s.URL+"/login", form)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			for _, c := range resp.Cookies() {
				if c.Name == "securechat" {
					t.Fatal("a failed login set the session cookie")
				}
			}
			messages = append(messages, string(body[strings.Index(string(body), `role="alert"`):][:60]))
		})
	}
	if len(messages) == 3 && (messages[0] != messages[1] || messages[1] != messages[2]) {
		t.Errorf("failed logins must show one message alike: %q", messages)
	}

	t.Run("no csrf field", func(t *testing.T) {
		c := noRedirect(nil)
		resp, err := c.PostForm(s.URL+"/login", url.Values{"username": {"alice"}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
	})

	t.Run("cross-site form post", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.URL+"/login", strings.NewReader(url.Values{"username": {"alice"}, "password": {pw}, "_csrf": {"x"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		resp, err := noRedirect(nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
	})

	t.Run("empty form", func(t *testing.T) {
		b := s.newBrowser()
		resp := b.post("/login", "/login", url.Values{})
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
	})
}

func TestHTTPSignup(t *testing.T) {
	s := startServer(t, "")
	s.addUser("taken", pw)
	cases := []struct {
		name, user, password string
		want                 int
	}{
		{"ok", "NewUser", pw, http.StatusSeeOther},
		{"taken", "taken", pw, http.StatusConflict},
		{"bad name", "bad name!", pw, http.StatusBadRequest},
		{"short password", "shorty", "short", http.StatusBadRequest},
		{"too long name", strings.Repeat("a", 33), pw, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := s.newBrowser()
			resp := b.post("/signup", "/signup", url.Values{"username": {tc.user}, "password": {tc.password}})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusSeeOther && b.sessionCookie() == "" {
				t.Fatal("sign-up did not log in")
			}
		})
	}
	// The new account is case-folded and can log in.
	s.newBrowser().login("newuser", pw)

	off := startServer(t, "", "--signup=false")
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, off.URL+"/signup", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// POST without a CSRF field is refused before it reaches the handler; either way no sign-up.
		if method == "GET" && resp.StatusCode != 404 || method == "POST" && resp.StatusCode != 404 && resp.StatusCode != 403 {
			t.Errorf("%s /signup with --signup=false: %d, want 404", method, resp.StatusCode)
		}
	}
	b := off.newBrowser()
	form := url.Values{"username": {"x"}, "password": {pw}, "_csrf": {b.csrf("/login")}}
	resp, err := b.client.PostForm(off.URL+"/signup", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("POST /signup with CSRF and --signup=false: %d, want 404", resp.StatusCode)
	}
}

func TestHTTPLogout(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	b := s.newBrowser()
	b.login("alice", pw)
	cookie := b.sessionCookie()
	resp := b.post("/logout", "/", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if b.sessionCookie() != "" {
		t.Error("logout did not clear the cookie")
	}
	// The old cookie value is revoked on the server, not just forgotten by the browser.
	req, _ := http.NewRequest("GET", s.URL+"/", nil)
	req.AddCookie(&http.Cookie{Name: "securechat", Value: cookie})
	r2, err := noRedirect(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusSeeOther {
		t.Errorf("revoked cookie still opens the page: %d", r2.StatusCode)
	}
}

func TestHTTPToken(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	cases := []struct {
		name        string
		contentType string
		body        string
		status      int
		errCode     string
	}{
		{"ok", "application/x-www-form-urlencoded", "username=alice&password=correct+horse", 200, ""},
		{"ok with grant_type", "application/x-www-form-urlencoded", "grant_type=password&username=ALICE&password=correct+horse", 200, ""},
		{"wrong password", "application/x-www-form-urlencoded", "username=alice&password=nope", 400, "invalid_grant"},
		{"unknown user", "application/x-www-form-urlencoded", "username=bob&password=nope", 400, "invalid_grant"},
		{"missing password", "application/x-www-form-urlencoded", "username=alice", 400, "invalid_request"},
		{"empty", "application/x-www-form-urlencoded", "", 400, "invalid_request"},
		{"other grant", "application/x-www-form-urlencoded", "grant_type=client_credentials&username=alice&password=x", 400, "unsupported_grant_type"},
		{"json body", "application/json", `{"username":"alice","password":"correct horse"}`, 400, "invalid_request"},
		{"repeated field", "application/x-www-form-urlencoded", "username=alice&username=bob&password=x", 400, "invalid_request"},
		{"bad encoding", "application/x-www-form-urlencoded", "username=%zz", 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(s.URL+"/token", tc.contentType, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%v)", resp.StatusCode, tc.status, body)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
			}
			if tc.status == 200 {
				if body["token_type"] != "bearer" || body["access_token"] == "" || body["expires_in"].(float64) < 86000 {
					t.Errorf("token response %v", body)
				}
			} else if body["error"] != tc.errCode {
				t.Errorf("error %v, want %s", body["error"], tc.errCode)
			}
		})
	}
}
