package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// signUp makes an account through the sign-up page and returns its browser,
// signed in.
func (s *testServer) signUp(name, password string) *browser {
	s.t.Helper()
	b := s.newBrowser()
	if resp := b.post("/signup", "/signup", url.Values{"username": {name}, "password": {password}}); resp.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("sign-up %s: status %d; want 303", name, resp.StatusCode)
	}
	return b
}

// roles returns every account's role, from securechat user list.
func (s *testServer) roles() map[string]string {
	s.t.Helper()
	out, err := s.cli("", "user", "list")
	if err != nil {
		s.t.Fatalf("user list: %v", err)
	}
	roles := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Split(line, "\t"); len(f) == 3 {
			roles[f[0]] = f[2]
		}
	}
	return roles
}

// TestFirstUserAdmin: with --first-user-admin (or its environment variable)
// the first account made at /signup is an admin, with a role_changed row in
// the audit log saying why, and the next one a member; without it, or on a
// store that already has an account, the first sign-up is a member too.
func TestFirstUserAdmin(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       map[string]string
		flags     []string
		cliFirst  bool   // an account is made with user add before the sign-ups
		wantFirst string // the first sign-up's role
	}{
		{"off by default", nil, nil, false, "member"},
		{"flag", nil, []string{"--first-user-admin"}, false, "admin"},
		{"environment", map[string]string{"SECURECHAT_FIRST_USER_ADMIN": "true"}, nil, false, "admin"},
		{"flag, an account exists", nil, []string{"--first-user-admin"}, true, "member"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServerEnv(t, "", tc.env, tc.flags...)
			if tc.cliFirst {
				s.addUser("root", "root-password-1")
			}
			ann := s.signUp("ann", "ann-password-1")
			bob := s.signUp("bob", "bob-password-1")
			roles := s.roles()
			if roles["ann"] != tc.wantFirst || roles["bob"] != "member" {
				t.Errorf("roles after two sign-ups: %v; want ann %s, bob member", roles, tc.wantFirst)
			}
			// The role is the one the server acts on: the audit page is for admins.
			wantCode := http.StatusForbidden
			if tc.wantFirst == "admin" {
				wantCode = http.StatusOK
			}
			if code, _ := ann.status("/admin/audit"); code != wantCode {
				t.Errorf("ann's /admin/audit: %d; want %d", code, wantCode)
			}
			if code, _ := bob.status("/admin/audit"); code != http.StatusForbidden {
				t.Errorf("bob's /admin/audit: %d; want 403", code)
			}
			if tc.wantFirst == "admin" {
				page := ann.get("/admin/audit?event=role_changed")
				if !strings.Contains(page, "--first-user-admin") || !strings.Contains(page, "ann") {
					t.Errorf("no role_changed row for ann saying --first-user-admin in /admin/audit")
				}
			}
		})
	}
}

// TestFirstUserAdminConcurrentSignups: sign-ups that arrive at once on an
// empty store with --first-user-admin make exactly one admin.
func TestFirstUserAdminConcurrentSignups(t *testing.T) {
	const n = 8
	s := startServer(t, "", "--first-user-admin", "--signup-limit-addr", "100/1h")
	browsers := make([]*browser, n)
	csrfs := make([]string, n)
	for i := range browsers {
		browsers[i] = s.newBrowser()
		csrfs[i] = browsers[i].csrf("/signup")
	}
	codes := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, b := range browsers {
		wg.Go(func() {
			<-start
			resp, err := b.client.PostForm(s.URL+"/signup", url.Values{
				"_csrf": {csrfs[i]}, "username": {fmt.Sprint("user", i)}, "password": {"long-enough-password"}})
			if err != nil {
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusSeeOther {
			t.Errorf("sign-up of user%d: status %d; want 303", i, code)
		}
	}
	admins := 0
	roles := s.roles()
	for _, role := range roles {
		if role == "admin" {
			admins++
		}
	}
	if len(roles) != n || admins != 1 {
		t.Errorf("after %d sign-ups at once: %v; want %d accounts, one admin", n, roles, n)
	}
}
