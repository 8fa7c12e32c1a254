package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// userExport is the part of a user's export the tests read.
type userExport struct {
	Format  string `json:"format"`
	Account struct {
		Name string `json:"name"`
	} `json:"account"`
	Sessions []struct {
		Current bool `json:"current"`
	} `json:"sessions"`
	Memberships []struct {
		Room string `json:"room"`
	} `json:"memberships"`
	Messages []struct {
		Room string `json:"room"`
		Text string `json:"text"`
	} `json:"messages"`
}

func (u userExport) texts() []string {
	var out []string
	for _, m := range u.Messages {
		out = append(out, m.Text)
	}
	return out
}

// download posts the settings page's "Download my data" form, with the
// CSRF token of formPage, and returns the response and its body.
func (b *browser) download(formPage string) (*http.Response, string) {
	b.s.t.Helper()
	form := url.Values{"_csrf": {b.csrf(formPage)}}
	resp, err := b.client.PostForm(b.s.URL+"/settings/export", form)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.s.t.Fatal(err)
	}
	return resp, string(body)
}

// exportFixture is a server where alice and bob have written: alice in
// general, bob in general and in a room of his own alice never joined.
func exportFixture(t *testing.T) *testServer {
	t.Helper()
	s := startServer(t, "")
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	alice := s.dialBearer(s.token("alice", pw))
	bob := s.dialBearer(s.token("bob", pw))
	alice.until("joined", inRoom("general"))
	bob.until("joined", inRoom("general"))
	alice.send(map[string]any{"type": "send", "room": "general", "text": "alice says hi", "ref": "a"})
	alice.until("message", func(f map[string]any) bool { return f["ref"] == "a" })
	bob.send(map[string]any{"type": "send", "room": "general", "text": "bob in general", "ref": "b1"})
	bob.until("message", func(f map[string]any) bool { return f["ref"] == "b1" })
	bob.joinRoom("bobs-den")
	bob.send(map[string]any{"type": "send", "room": "bobs-den", "text": "bob alone", "ref": "b2"})
	bob.until("message", func(f map[string]any) bool { return f["ref"] == "b2" })
	return s
}

// "Download my data" gives the logged-in user their own messages and
// account, nothing of another user's; another user's session gets their
// own; no session gets the login page; no CSRF token, 403.
func TestExportDownload(t *testing.T) {
	s := exportFixture(t)

	a := s.newBrowser()
	a.login("alice", pw)
	resp, err := a.client.Get(s.URL + "/settings")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `action="/settings/export"`) || !strings.Contains(string(page), "Download my data") {
		t.Fatalf("settings page has no Download my data form")
	}
	resp, body := a.download("/settings")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename=securechat-alice-`) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("download: %d %v", resp.StatusCode, resp.Header)
	}
	var ex userExport
	if err := json.Unmarshal([]byte(body), &ex); err != nil {
		t.Fatalf("download is not JSON: %v\n%s", err, body)
	}
	if ex.Account.Name != "alice" || !slices.Equal(ex.texts(), []string{"alice says hi"}) {
		t.Errorf("alice's export: account %q, messages %q; want alice's one message", ex.Account.Name, ex.texts())
	}
	if len(ex.Sessions) == 0 || !slices.ContainsFunc(ex.Sessions, func(s struct {
		Current bool `json:"current"`
	}) bool {
		return s.Current
	}) {
		t.Errorf("alice's export lists sessions %+v; want hers, this one current", ex.Sessions)
	}
	for _, secret := range []string{"bob", "$argon2", "password"} {
		if strings.Contains(body, secret) {
			t.Errorf("alice's export contains %q:\n%s", secret, body)
		}
	}

	b := s.newBrowser()
	b.login("bob", pw)
	_, body = b.download("/settings")
	ex = userExport{}
	if err := json.Unmarshal([]byte(body), &ex); err != nil {
		t.Fatalf("bob's download is not JSON: %v", err)
	}
	if ex.Account.Name != "bob" || !slices.Equal(ex.texts(), []string{"bob in general", "bob alone"}) || strings.Contains(body, "alice says hi") {
		t.Errorf("bob's export: account %q, messages %q; want bob's two", ex.Account.Name, ex.texts())
	}

	// No session: the login page, not anyone's data.
	nobody := s.newBrowser()
	resp, body = nobody.download("/login")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") || strings.Contains(body, "alice says hi") {
		t.Errorf("without a session: %d %q; want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A post without the CSRF token (another site's form) is refused.
	resp, err = a.client.PostForm(s.URL+"/settings/export", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("without a CSRF token: %d; want 403", resp.StatusCode)
	}

	if out, err := s.cli("", "audit", "--user", "alice"); err != nil || !strings.Contains(out, "data_exported") {
		t.Errorf("audit after alice's download: %v\n%s", err, out)
	}
}

// export user and export room on the command line, flags before or after
// the arguments.
func TestExportCLI(t *testing.T) {
	s := exportFixture(t)
	dir := t.TempDir()

	f := filepath.Join(dir, "alice.json")
	out, err := s.cli("", "export", "user", "alice", "--out", f)
	if err != nil || !strings.Contains(out, "1 messages") {
		t.Fatalf("export user: %v (%s)", err, out)
	}
	if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v", err)
	}
	var ex userExport
	b, _ := os.ReadFile(f)
	if err := json.Unmarshal(b, &ex); err != nil || !slices.Equal(ex.texts(), []string{"alice says hi"}) || strings.Contains(string(b), "bob") {
		t.Errorf("alice's export: %v %q", err, ex.texts())
	}
	if _, err := s.cli("", "export", "user", "alice", "--out", f); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("export over an existing file: %v; want a refusal naming --force", err)
	}

	// A room: everyone's messages of it, to standard output.
	out, err = s.cli("", "export", "room", "general")
	var room struct {
		Room     string `json:"room"`
		Messages []struct {
			User string `json:"user"`
			Text string `json:"text"`
		} `json:"messages"`
	}
	if err != nil || json.Unmarshal([]byte(out), &room) != nil || room.Room != "general" || len(room.Messages) != 2 ||
		room.Messages[0].User != "alice" || room.Messages[1].Text != "bob in general" {
		t.Errorf("export room general: %v %+v\n%s", err, room, out)
	}
	g := filepath.Join(dir, "den.json")
	if _, err := s.cli("", "--out", g, "export", "room", "bobs-den"); err != nil {
		t.Fatalf("export room with --out first: %v", err)
	}
	if b, _ := os.ReadFile(g); !strings.Contains(string(b), "bob alone") {
		t.Errorf("bobs-den export: %s", b)
	}

	for _, args := range [][]string{{"export", "room", "nowhere"}, {"export", "user", "nobody"}, {"export", "user"}, {"export", "alice"}} {
		if _, err := s.cli("", args...); err == nil {
			t.Errorf("%q succeeded", args)
		}
	}
}
