package main

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestAuditPage: /admin/audit shows an admin the audit log as a table,
// filtered by user and event through its GET form, and is linked from
// /settings for admins only; a member gets 403 and no session goes to
// /login.
func TestAuditPage(t *testing.T) {
	s := startServer(t, "", "--trusted-proxies", "127.0.0.1/32")
	s.addUser("boss", "boss-password-1")
	s.addUser("alice", "alice-password-1")
	if out, err := s.cli("", "user", "role", "boss", "admin"); err != nil {
		t.Fatalf("user role boss admin: %v (%s)", err, out)
	}

	// A failed login from a known address, with markup in the user agent
	// to show it is escaped.
	intruder := s.newBrowser()
	intruder.client.Transport = forwardedFor{addr: "198.51.100.23", ua: "<b>probe</b>"}
	if resp := intruder.post("/login", "/login", url.Values{"username": {"alice"}, "password": {"wrong-password"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d; want 401", resp.StatusCode)
	}

	boss := s.newBrowser()
	boss.login("boss", "boss-password-1")
	page := boss.get("/admin/audit")
	for _, want := range []string{"<table", "login_failed", "198.51.100.23", "&lt;b&gt;probe&lt;/b&gt;", "role_changed"} {
		if !strings.Contains(page, want) {
			t.Errorf("/admin/audit lacks %q", want)
		}
	}
	if strings.Contains(page, "<b>probe</b>") {
		t.Error("/admin/audit shows a user agent unescaped")
	}

	filtered := boss.get("/admin/audit?" + url.Values{"user": {"alice"}, "event": {"login_failed"}}.Encode())
	if !strings.Contains(filtered, "198.51.100.23") || strings.Contains(filtered, "role_changed") || strings.Contains(filtered, "<td>login</td>") {
		t.Errorf("/admin/audit?user=alice&event=login_failed shows other rows or not the failed login")
	}
	if none := boss.get("/admin/audit?event=no_such_event"); strings.Contains(none, "login_failed") || !strings.Contains(none, "No events.") {
		t.Error("/admin/audit?event=no_such_event shows rows")
	}
	if code, _ := boss.status("/admin/audit?before=x"); code != http.StatusBadRequest {
		t.Errorf("/admin/audit?before=x: %d; want 400", code)
	}
	if !strings.Contains(boss.get("/settings"), `href="/admin/audit"`) {
		t.Error("/settings does not link an admin to /admin/audit")
	}

	alice := s.newBrowser()
	alice.login("alice", "alice-password-1")
	if code, _ := alice.status("/admin/audit"); code != http.StatusForbidden {
		t.Errorf("/admin/audit as a member: %d; want 403", code)
	}
	if strings.Contains(alice.get("/settings"), "/admin/audit") {
		t.Error("/settings links a member to /admin/audit")
	}

	if code, loc := s.newBrowser().status("/admin/audit"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Errorf("/admin/audit without a session: %d to %q; want 303 to /login", code, loc)
	}
}

// TestAuditPageOlder: past 100 rows, /admin/audit links to the older ones,
// keeping the filters.
func TestAuditPageOlder(t *testing.T) {
	s := startServer(t, "", "--max-pats-per-user", "200")
	s.addUser("boss", "boss-password-1")
	if out, err := s.cli("", "user", "role", "boss", "admin"); err != nil {
		t.Fatalf("user role boss admin: %v (%s)", err, out)
	}
	s.addUser("alice", "alice-password-1")
	alice := s.token("alice", "alice-password-1")
	for i := range 101 {
		s.createPAT(alice, fmt.Sprintf(`{"name":"pat-%03d"}`, i))
	}
	boss := s.newBrowser()
	boss.login("boss", "boss-password-1")
	page := boss.get("/admin/audit?user=alice&event=pat_created")
	if n := strings.Count(page, "<td>pat_created</td>"); n != 100 {
		t.Fatalf("first page: %d rows; want 100", n)
	}
	if strings.Contains(page, "pat-000") || !strings.Contains(page, "pat-100") {
		t.Error("first page is not the newest 100")
	}
	m := regexp.MustCompile(`id="audit-older" href="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("first page has no Older link")
	}
	older := boss.get(html.UnescapeString(m[1]))
	if n := strings.Count(older, "<td>pat_created</td>"); n != 1 || !strings.Contains(older, "pat-000") || strings.Contains(older, "audit-older") {
		t.Errorf("older page: %d rows, or not pat-000, or another Older link", n)
	}
}
