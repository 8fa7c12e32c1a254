package main

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"securechat/app/store"
	"securechat/app/store/postgres"
	"securechat/app/store/sqlite"
)

// TestMoveToPostgresClientResumes runs a server on SQLite with users, a
// private room, messages, an edit, a delete and read positions; stops it;
// moves the store to a throwaway PostgreSQL; starts a server on that; and
// checks that a client resumes with join+since from the last id it saw and
// gets exactly the later rows (no gap, no duplicate), that the old password
// logs in, that new ids follow the old ones, and that a second move into the
// now non-empty database is refused.
func TestMoveToPostgresClientResumes(t *testing.T) {
	dir := t.TempDir()
	dsn := postgresURL(t)
	s := startServer(t, dir)
	s.addUser("alice", pw)
	s.addUser("bob", pw)
	alice := onNode(t, s, s.token("alice", pw))
	bob := onNode(t, s, s.token("bob", pw))
	// A private room of alice's, with bob invited, where the resume happens.
	alice.send(map[string]any{"type": "create", "room": "hideout", "private": true})
	alice.until("joined", inRoom("hideout"))
	alice.send(map[string]any{"type": "invite", "room": "hideout", "user": "bob"})
	bob.until("invited", inRoom("hideout"))
	bob.joinRoom("hideout")
	alice.sent("hideout", "one")
	seen := alice.sent("hideout", "two") // alice's cursor: the last id she saw
	alice.send(map[string]any{"type": "read", "room": "hideout", "id": seen})
	alice.conn.Close()
	later := []int64{bob.sent("hideout", "three"), bob.sent("hideout", "four")}
	bob.sent("hideout", "five")
	// An edit and a delete: change rows alice has not seen either.
	bob.send(map[string]any{"type": "edit", "room": "hideout", "id": later[0], "text": "three (edited)"})
	bob.until("edited", inRoom("hideout"))
	bob.send(map[string]any{"type": "delete", "room": "hideout", "id": later[1]})
	bob.until("deleted", inRoom("hideout"))
	bob.sent("general", "public")
	// Not while the server runs: what it stored during the move would stay behind.
	if out, err := s.cli("", "--database-url", dsn, "move-to-postgres"); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Errorf("a move beside a running server = %v (%s); want a refusal", err, out)
	}
	s.Stop()

	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	bobUser, _ := db.UserByName(ctx, "bob")
	aliceUser, _ := db.UserByName(ctx, "alice")
	positions := map[string][]store.Membership{}
	for _, u := range []store.User{aliceUser, bobUser} {
		if positions[u.Name], err = db.Memberships(ctx, u.ID, 100, 100); err != nil {
			t.Fatal(err)
		}
	}
	want, err := db.MessagesAfter(ctx, "hideout", seen, 100)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	var wantIDs []int64
	for _, m := range want {
		wantIDs = append(wantIDs, m.ID)
	}
	if len(wantIDs) != 5 {
		t.Fatalf("rows after alice's cursor in SQLite: %v; want 3 messages and 2 changes", wantIDs)
	}

	out, err := s.cli("", "--database-url", dsn, "move-to-postgres")
	if err != nil {
		t.Fatalf("move-to-postgres: %v\n%s", err, out)
	}
	t.Log(out)
	for _, line := range []string{"users", "messages", "memberships", "rooms", "moved "} {
		if !strings.Contains(out, line) {
			t.Errorf("the move's report has no %q:\n%s", line, out)
		}
	}
	if out, err := s.cli("", "--database-url", dsn, "move-to-postgres"); err == nil || exitStatus(err) != 1 || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("a second move = %v (%s); want a refusal: the target is not empty", err, out)
	}

	moved, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []store.User{aliceUser, bobUser} {
		got, err := moved.Memberships(ctx, u.ID, 100, 100)
		if err != nil || !reflect.DeepEqual(got, positions[u.Name]) {
			t.Errorf("%s's rooms and read positions after the move: %+v, %v; want %+v", u.Name, got, err, positions[u.Name])
		}
	}
	moved.Close()

	pg := startServer(t, dir, "--database-url", dsn)
	alice = onNode(t, pg, pg.token("alice", pw)) // the old password
	alice.send(map[string]any{"type": "join", "room": "hideout", "since": seen})
	var got []int64
	for {
		f := alice.next()
		if f["room"] != "hideout" {
			continue
		}
		if f["type"] == "joined" {
			break
		}
		switch f["type"] {
		case "message":
			got = append(got, int64(f["id"].(float64)))
		case "edited", "deleted": // the hub of issue 10 sends changes so
			got = append(got, int64(f["change"].(float64)))
		}
	}
	if !slices.Equal(got, wantIDs) {
		t.Errorf("resumed hideout since %d on PostgreSQL: ids %v; want exactly %v", seen, got, wantIDs)
	}
	bob = onNode(t, pg, pg.token("bob", pw))
	bob.joinRoom("hideout")
	next := bob.sent("hideout", "six")
	if next <= wantIDs[len(wantIDs)-1] {
		t.Errorf("a new message on PostgreSQL has id %d; want above %d", next, wantIDs[len(wantIDs)-1])
	}
	if f := alice.until("message", func(f map[string]any) bool { return f["text"] == "six" }); int64(f["id"].(float64)) != next {
		t.Errorf("alice got six as %v; want id %d", f["id"], next)
	}
}
