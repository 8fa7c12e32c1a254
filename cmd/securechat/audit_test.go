package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// forwardedFor is a transport that sends every request as a trusted proxy
// would, naming the client it stands for.
type forwardedFor struct {
	addr, ua string
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	r.Header.Set("User-Agent", f.ua)
	return http.DefaultTransport.RoundTrip(r)
}

type auditJSON struct {
	ID        int64  `json:"id"`
	Event     string `json:"event"`
	Actor     string `json:"actor"`
	User      string `json:"user"`
	Address   string `json:"address"`
	UserAgent string `json:"user_agent"`
	SessionID string `json:"session_id"`
	Detail    string `json:"detail"`
}

// TestAuditLog: a failed login, a login, a logout and a PAT's creation are
// in /api/audit for an admin, each with the client address the server
// believes (the one a trusted proxy gave, or the connection's) and the user
// agent; a member gets 403, no credentials 401; the CLI prints the same log,
// and its own actions are in it with actor cli.
func TestAuditLog(t *testing.T) {
	s := startServer(t, "", "--trusted-proxies", "127.0.0.1/32")
	if out, err := s.cli("boss-password-1\n", "user", "add", "boss", "--admin"); err != nil {
		t.Fatalf("user add boss --admin: %v (%s)", err, out)
	}
	s.addUser("alice", "alice-password-1")

	b := s.newBrowser()
	b.client.Transport = forwardedFor{addr: "203.0.113.9", ua: "audit-test/1"}
	if resp := b.post("/login", "/login", url.Values{"username": {"alice"}, "password": {"wrong-password"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d; want 401", resp.StatusCode)
	}
	b.login("alice", "alice-password-1")
	if resp := b.post("/logout", "/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: status %d", resp.StatusCode)
	}
	alice := s.token("alice", "alice-password-1") // from the connection's own address
	pat := s.createPAT(alice, `{"name":"ci"}`)

	boss := s.token("boss", "boss-password-1")
	code, body := s.api("GET", "/api/audit?user=alice", boss, "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/audit as an admin: %d %s", code, body)
	}
	var rows []auditJSON
	if err := json.Unmarshal([]byte(body), &rows); err != nil {
		t.Fatalf("GET /api/audit: %v in %s", err, body)
	}
	// Newest first; the oldest rows are the ones the browser made.
	want := []struct {
		event, actor, addr, ua, detail string
	}{
		{"pat_created", "alice", "127.0.0.1", "sessions-test/1", `"ci"`},
		{"login", "alice", "127.0.0.1", "Go-http-client/1.1", "token"},
		{"logout", "alice", "203.0.113.9", "audit-test/1", ""},
		{"login", "alice", "203.0.113.9", "audit-test/1", "password"},
		{"login_failed", "", "203.0.113.9", "audit-test/1", "bad credentials"},
	}
	if len(rows) != len(want) {
		t.Fatalf("alice's audit rows: %+v; want %d", rows, len(want))
	}
	for i, w := range want {
		r := rows[i]
		if r.Event != w.event || r.Actor != w.actor || r.User != "alice" || r.Address != w.addr || r.UserAgent != w.ua || !strings.Contains(r.Detail, w.detail) {
			t.Errorf("row %d = %+v; want %+v about alice", i, r, w)
		}
		if i > 0 && r.ID >= rows[i-1].ID {
			t.Errorf("row %d has id %d after %d; want newest first", i, r.ID, rows[i-1].ID)
		}
	}
	if rows[0].SessionID == "" || rows[2].SessionID != rows[3].SessionID || rows[2].SessionID == "" {
		t.Errorf("session ids: PAT made from %q; logout of %q, login of %q; want the logout's session the login's", rows[0].SessionID, rows[2].SessionID, rows[3].SessionID)
	}
	if !strings.Contains(rows[0].Detail, pat.ID) {
		t.Errorf("pat_created detail %q does not name the token %s", rows[0].Detail, pat.ID)
	}

	for _, tc := range []struct {
		path, bearer string
		want         int
	}{
		{"/api/audit", alice, http.StatusForbidden},
		{"/api/audit", pat.Token, http.StatusForbidden},
		{"/api/audit", "", http.StatusUnauthorized},
		{"/api/audit?before=x", boss, http.StatusBadRequest},
		{"/api/audit?before=-1", boss, http.StatusBadRequest},
		{"/api/audit?limit=201", boss, http.StatusBadRequest},
		{"/api/audit?event=" + strings.Repeat("e", 100), boss, http.StatusBadRequest},
	} {
		if code, body := s.api("GET", tc.path, tc.bearer, ""); code != tc.want {
			t.Errorf("GET %.40s with %.12q: %d %s; want %d", tc.path, tc.bearer, code, body, tc.want)
		}
	}
	code, body = s.api("GET", "/api/audit?event=logout", boss, "")
	if code != http.StatusOK || strings.Count(body, `"event":"logout"`) != 1 || strings.Contains(body, `"event":"login"`) {
		t.Errorf("GET /api/audit?event=logout: %d %s; want the one logout", code, body)
	}
	code, body = s.api("GET", "/api/audit?user=alice&limit=2&before="+jsonInt(rows[1].ID), boss, "")
	if code != http.StatusOK || !strings.Contains(body, `"id":`+jsonInt(rows[2].ID)+`,`) || !strings.Contains(body, `"id":`+jsonInt(rows[3].ID)+`,`) || strings.Count(body, `"id":`) != 2 {
		t.Errorf("the next page: %d %s; want rows %d and %d", code, body, rows[2].ID, rows[3].ID)
	}

	// The command line: a role change is recorded with actor cli, and takes
	// effect at the next request.
	if out, err := s.cli("", "user", "role", "alice", "admin"); err != nil {
		t.Fatalf("user role alice admin: %v (%s)", err, out)
	}
	if code, body := s.api("GET", "/api/audit", alice, ""); code != http.StatusOK {
		t.Errorf("GET /api/audit as the promoted alice: %d %s; want 200", code, body)
	}
	out, err := s.cli("", "audit", "--user", "ALICE", "--since", "1h")
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want)+1 || !strings.Contains(lines[0], "\trole_changed\tcli\talice\tcommand line\t") ||
		!strings.Contains(lines[len(lines)-1], "\tlogin_failed\t\talice\t203.0.113.9\t") {
		t.Errorf("securechat audit --user alice:\n%s\nwant the role change first and the failed login last (%d lines)", out, len(want)+1)
	}
	out, err = s.cli("", "audit", "--user", "boss")
	if err != nil || !strings.Contains(out, "\trole_changed\tcli\tboss\t") || !strings.Contains(out, "\tlogin\tboss\tboss\t127.0.0.1\t") {
		t.Errorf("securechat audit --user boss: %v\n%s\nwant the --admin of user add and boss's login", err, out)
	}
	if _, err := s.cli("", "user", "list", "--since", "1h"); err == nil || !strings.Contains(err.Error(), "go with audit only") {
		t.Errorf("user list --since: %v; want a usage error", err)
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// auditRows reads the audit log about user through the API as an admin.
func (s *testServer) auditRows(admin, user string) []auditJSON {
	s.t.Helper()
	code, body := s.api("GET", "/api/audit?user="+url.QueryEscape(user), admin, "")
	if code != http.StatusOK {
		s.t.Fatalf("GET /api/audit?user=%s: %d %s", user, code, body)
	}
	var rows []auditJSON
	if err := json.Unmarshal([]byte(body), &rows); err != nil {
		s.t.Fatalf("GET /api/audit: %v in %s", err, body)
	}
	return rows
}

// hasEvent reports whether rows has event with a detail containing detail.
func hasEvent(rows []auditJSON, event, actor, detail string) bool {
	for _, r := range rows {
		if r.Event == event && r.Actor == actor && strings.Contains(r.Detail, detail) {
			return true
		}
	}
	return false
}

// TestAuditEvents: the other security events are recorded where they
// happen: two-factor enrolment, a wrong code, a recovery code, turning it
// off and the admin's reset; a session and a PAT ended through the API; a
// login refused by a limit and the failure that engaged it; a sign-up, a
// password change and an account deletion.
func TestAuditEvents(t *testing.T) {
	u := enrolTwoFactor(t, "--login-limit-user-addr", "2/1h")
	s := u.s
	if out, err := s.cli("boss-password-1\n", "user", "add", "boss", "--admin"); err != nil {
		t.Fatalf("user add boss --admin: %v (%s)", err, out)
	}
	boss := s.token("boss", "boss-password-1")

	// Second factor: a wrong code, then a recovery code.
	b := s.newBrowser()
	_, pending := loginPassword(b, u.name, u.password)
	if status, _ := loginCode(b, pending, "000000"); status != http.StatusUnauthorized {
		t.Fatalf("wrong code: status %d", status)
	}
	if status, _ := loginCode(b, pending, u.recovery[0]); status != http.StatusSeeOther {
		t.Fatalf("recovery code: status %d", status)
	}
	u.nextStep()
	if status, out := apiCall(t, "DELETE", s.URL+"/api/2fa/totp", u.token, map[string]string{"code": u.codeNow()}); status != http.StatusNoContent {
		t.Fatalf("disable 2FA = %d %v", status, out)
	}
	u.nextStep()
	_, out := apiCall(t, "POST", s.URL+"/api/2fa/totp", u.token, nil)
	u.secret, _ = out["secret"].(string)
	if status, out := apiCall(t, "POST", s.URL+"/api/2fa/totp/confirm", u.token, map[string]string{"code": u.codeNow()}); status != http.StatusOK {
		t.Fatalf("enrol again = %d %v", status, out)
	}
	if out, err := s.cli("", "user", "2fa-reset", "alice"); err != nil {
		t.Fatalf("user 2fa-reset: %v (%s)", err, out)
	}

	// Sessions and tokens ended through the API.
	other := s.token(u.name, u.password)
	var ended string
	for _, ss := range s.sessions(other) {
		if !ss.Current && ss.Kind == "token" {
			ended = ss.ID
		}
	}
	if code, body := s.api("DELETE", "/api/sessions/"+ended, other, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE /api/sessions/%s: %d %s", ended, code, body)
	}
	pat := s.createPAT(other, `{"name":"deploy"}`)
	if code, body := s.api("DELETE", "/api/tokens/"+pat.ID, other, ""); code != http.StatusNoContent {
		t.Fatalf("DELETE /api/tokens: %d %s", code, body)
	}

	// RFC 7009 revocation of a live token is recorded; garbage is not.
	revoked := s.token(u.name, u.password)
	for _, tok := range []string{revoked, "not-a-token"} {
		resp, err := http.PostForm(s.URL+"/token/revoke", url.Values{"token": {tok}})
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /token/revoke: %v %v", resp, err)
		}
		resp.Body.Close()
	}

	// Wrong passwords until the per-pair limit engages, then a refusal.
	for range 2 {
		if code, _ := s.postToken(http.DefaultClient, u.name, "wrong-password"); code != http.StatusBadRequest {
			t.Fatalf("wrong password: %d", code)
		}
	}
	if code, _ := s.postToken(http.DefaultClient, u.name, "wrong-password"); code != http.StatusTooManyRequests {
		t.Fatalf("past the limit: %d; want 429", code)
	}

	// "Log out everywhere else" on the settings page.
	if resp := b.post("/settings/sessions/others", "/settings", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("end the other sessions on /settings: %d", resp.StatusCode)
	}

	rows := s.auditRows(boss, "alice")
	for _, w := range []struct{ event, actor, detail string }{
		{"2fa_enrolled", "alice", ""},
		{"login_failed", "", "2fa"},
		{"recovery_code_used", "alice", ""},
		{"login", "alice", "password and recovery code"},
		{"2fa_disabled", "alice", ""},
		{"2fa_reset", "cli", ""},
		{"session_ended", "alice", "by session"},
		{"pat_created", "alice", `"deploy"`},
		{"pat_revoked", "alice", "by session"},
		{"session_ended", "alice", "token revocation (RFC 7009)"},
		{"session_ended", "alice", "all others ("},
		{"login_failed", "", "bad credentials (token)"},
		{"throttled", "", "login limit user_addr"},
		{"login_failed", "", "rate limited (token)"},
	} {
		if !hasEvent(rows, w.event, w.actor, w.detail) {
			t.Errorf("no %s by %q with %q in alice's audit log:\n%+v", w.event, w.actor, w.detail, rows)
		}
	}
	for _, r := range rows {
		if r.Address == "" || r.User != "alice" {
			t.Errorf("row %+v: want alice as the subject and an address", r)
		}
	}

	// Sign-up, password change and deletion through the pages.
	c := s.newBrowser()
	if resp := c.post("/signup", "/signup", url.Values{"username": {"carol"}, "password": {"carol-password-1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-up: %d", resp.StatusCode)
	}
	if resp := c.post("/account/password", "/account", url.Values{"password": {"carol-password-1"}, "new_password": {"carol-password-2"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password change: %d", resp.StatusCode)
	}
	if resp := c.post("/account/delete", "/account", url.Values{"password": {"carol-password-2"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	rows = s.auditRows(boss, "carol")
	for _, event := range []string{"signup", "password_changed", "account_deleted"} {
		if !hasEvent(rows, event, "carol", "") {
			t.Errorf("no %s in carol's audit log: %+v", event, rows)
		}
	}
}
