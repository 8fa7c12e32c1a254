package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestDeletedNameIsNotAnIdentity is the scenario: dave writes, his
// account is deleted, a stranger tries to become dave. Deleted names stay
// reserved, so the stranger cannot sign up as dave (page or CLI) nor log in as
// him, and dave's message keeps the id of the account that wrote it.
func TestDeletedNameIsNotAnIdentity(t *testing.T) {
	s := startServer(t, "")
	s.addUser("dave", pw)
	s.addUser("alice", pw)
	d := s.dialBearer(s.token("dave", pw))
	d.until("joined", inRoom("general"))
	d.send(map[string]any{"type": "send", "room": "general", "text": "written by the first dave"})
	ack := d.until("message", inRoom("general"))
	daveID, _ := ack["user_id"].(float64)
	if ack["user"] != "dave" || daveID <= 0 {
		t.Fatalf("dave's acknowledgement %v: want user dave and his user_id", ack)
	}

	if out, err := s.cli("", "user", "delete", "dave"); err != nil {
		t.Fatalf("user delete dave: %v (%s)", err, out)
	}
	if code, _ := d.closeCode(5 * time.Second); code != 4401 {
		t.Errorf("the deleted dave's socket closed with %d; want 4401", code)
	}

	// The stranger cannot become dave: not on the page, not with the CLI.
	const stranger = "a stranger's password"
	if resp := s.newBrowser().post("/signup", "/signup", url.Values{"username": {"dave"}, "password": {stranger}}); resp.StatusCode != http.StatusConflict {
		t.Errorf("signing up as the deleted dave: status %d; want 409 (name taken)", resp.StatusCode)
	}
	if out, err := s.cli(stranger+"\n", "user", "add", "dave"); err == nil {
		t.Errorf("user add dave after deleting dave succeeded (%s)", out)
	}
	resp, err := http.PostForm(s.URL+"/token", url.Values{"username": {"dave"}, "password": {stranger}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("a token for dave was issued to the stranger")
	}
	if out, _ := s.cli("", "user", "list"); strings.Contains(out, "dave") {
		t.Errorf("user list after deleting dave: %q", out)
	}

	// History, from the room's memory (the join) and from the store (a
	// history request), shows the message with the first dave's id.
	a := s.dialBearer(s.token("alice", pw))
	h := a.until("history", inRoom("general"))
	checkAuthor := func(where string, msgs []any) {
		t.Helper()
		for _, m := range msgs {
			m := m.(map[string]any)
			if m["text"] == "written by the first dave" {
				if m["user"] != "dave" || m["user_id"] != daveID {
					t.Errorf("%s: the old message reads as %v; want dave with user_id %v", where, m, daveID)
				}
				return
			}
		}
		t.Errorf("%s: the old message is missing: %v", where, msgs)
	}
	checkAuthor("join history", h["messages"].([]any))
	a.send(map[string]any{"type": "history", "room": "general"})
	checkAuthor("history request", a.until("history", inRoom("general"))["messages"].([]any))
}
