package main

import (
	"net/http"
	"net/url"
	"testing"
)

// status GETs path in b and returns the status and the Location.
func (b *browser) status(path string) (int, string) {
	b.s.t.Helper()
	resp, err := b.client.Get(b.s.URL + path)
	if err != nil {
		b.s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// tryLogin posts the login form and reports whether it succeeded.
func (s *testServer) tryLogin(name, password string) bool {
	b := s.newBrowser()
	resp := b.post("/login", "/login", url.Values{"username": {name}, "password": {password}})
	return resp.StatusCode == http.StatusSeeOther
}

// TestHTTPAccountPassword: the account page changes the password with the
// current one; the other sessions end (a browser and a bearer token), the
// changing browser stays signed in, and only the new password logs in.
// A wrong current password, a too-short new one or a missing CSRF token
// change nothing.
func TestHTTPAccountPassword(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	me, other := s.newBrowser(), s.newBrowser()
	me.login("alice", pw)
	other.login("alice", pw)
	bearer := s.token("alice", pw)

	if code, _ := me.status("/account"); code != http.StatusOK {
		t.Fatalf("GET /account: %d, want 200", code)
	}
	const newPW = "battery staple"
	refused := []struct {
		name string
		form url.Values
		want int
	}{
		{"wrong current password", url.Values{"password": {"not it at all"}, "new_password": {newPW}}, http.StatusUnauthorized},
		{"no current password", url.Values{"new_password": {newPW}}, http.StatusBadRequest},
		{"new password too short", url.Values{"password": {pw}, "new_password": {"short"}}, http.StatusBadRequest},
	}
	for _, tc := range refused {
		if resp := me.post("/account/password", "/account", tc.form); resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	// Without the CSRF token (a form from another site): refused.
	resp, err := me.client.PostForm(s.URL+"/account/password", url.Values{"password": {pw}, "new_password": {newPW}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("without CSRF token: %d, want 403", resp.StatusCode)
	}
	if !s.tryLogin("alice", pw) {
		t.Fatal("a refused change changed the password")
	}
	if code, _ := other.status("/"); code != http.StatusOK {
		t.Fatalf("a refused change ended another session: %d", code)
	}

	resp = me.post("/account/password", "/account", url.Values{"password": {pw}, "new_password": {newPW}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account?done=password" {
		t.Fatalf("change: %d %q, want 303 to /account?done=password", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, _ := me.status("/"); code != http.StatusOK {
		t.Errorf("the changing browser: GET / %d, want 200 (still signed in)", code)
	}
	if code, loc := other.status("/"); code != http.StatusSeeOther {
		t.Errorf("the other browser: GET / %d %q, want 303 to the login form", code, loc)
	}
	if _, resp, err := s.dial("/ws", http.Header{"Authorization": {"Bearer " + bearer}}); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the old bearer token still opens a socket: %v", err)
	}
	if s.tryLogin("alice", pw) || !s.tryLogin("alice", newPW) {
		t.Error("after the change: the old password must fail and the new one work")
	}
}

// TestHTTPAccountDelete: deleting one's account takes the password; then
// the browser is logged out, every session has ended, and the name no
// longer logs in.
func TestHTTPAccountDelete(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	me, other := s.newBrowser(), s.newBrowser()
	me.login("alice", pw)
	other.login("alice", pw)

	if resp := me.post("/account/delete", "/account", url.Values{"password": {"not it at all"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", resp.StatusCode)
	}
	if !s.tryLogin("alice", pw) {
		t.Fatal("a refused delete deleted the account")
	}
	resp := me.post("/account/delete", "/account", url.Values{"password": {pw}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("delete: %d %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	for name, b := range map[string]*browser{"deleting": me, "other": other} {
		if code, _ := b.status("/"); code != http.StatusSeeOther {
			t.Errorf("%s browser after the delete: GET / %d, want 303 to the login form", name, code)
		}
	}
	if s.tryLogin("alice", pw) {
		t.Error("a deleted account still logs in")
	}
}

// TestHTTPAccountNeedsSession: the account page and its forms are for a
// signed-in user only.
func TestHTTPAccountNeedsSession(t *testing.T) {
	s := startServer(t, "")
	b := s.newBrowser()
	if code, loc := b.status("/account"); code != http.StatusSeeOther || loc != "/login?next=%2Faccount" {
		t.Errorf("GET /account logged out: %d %q", code, loc)
	}
	if resp := b.post("/account/delete", "/login", url.Values{"password": {pw}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("POST /account/delete logged out: %d, want 303 to the login form", resp.StatusCode)
	}
}

// TestHTTPAccountPasswordGuessesLimited: the account forms' password check
// counts against the login failure limits, so a stolen session cookie is no
// way around them: past the limit even the right password is refused, with
// Retry-After, before any hashing.
func TestHTTPAccountPasswordGuessesLimited(t *testing.T) {
	s := startServer(t, "", "--login-limit-user-addr", "2/1h:2")
	s.addUser("alice", pw)
	b := s.newBrowser()
	b.login("alice", pw)
	for i := range 2 {
		if resp := b.post("/account/delete", "/account", url.Values{"password": {"guess " + string(rune('a'+i))}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp := b.post("/account/delete", "/account", url.Values{"password": {pw}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("past the limit: %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if code, _ := b.status("/"); code != http.StatusOK {
		t.Errorf("the refused delete ended the session: GET / %d", code)
	}
}
