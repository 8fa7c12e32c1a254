package storetest

import (
	"slices"
	"testing"
	"time"

	"securechat/app/store"
)

// mentioning is a message of room by the user id and name that mentions names.
func mentioning(room string, uid int64, user, text string, ms int, names ...string) store.NewMessage {
	m := msg(room, user, text, ms)
	m.UserID, m.Mentions = uid, names
	return m
}

// mentionsIn is the user's mention count of room in their memberships (-1: not listed).
func (e *env) mentionsIn(t *testing.T, userID int64, room string, maxUnread int) int {
	t.Helper()
	for _, m := range e.members(t, userID, maxUnread) {
		if m.Room == room {
			return m.Mentions
		}
	}
	return -1
}

var mentionCases = []scenario{
	{"a mention is recorded for members who may read the room, never the author", func(t *testing.T, e *env) {
		alice, bob, carol := e.user(t, "alice"), e.user(t, "bob"), e.user(t, "carol")
		e.user(t, "dave") // an account, but not a member of ops
		// Public: a member is whoever has the room among their rooms.
		must(t, e.JoinRoom(e.ctx, bob, "dev", 0, base), "bob joins dev")
		must(t, e.JoinRoom(e.ctx, alice, "dev", 0, base), "alice joins dev")
		// Private: only its members; carol has a membership row (a stale
		// one) but is not a member, dave is nobody's.
		must(t, e.CreateRoom(e.ctx, "ops", store.RoomPrivate, alice, base), "create ops")
		_, err := e.AddMember(e.ctx, "ops", bob, store.MemberMember, base)
		must(t, err, "add bob")
		must(t, e.JoinRoom(e.ctx, carol, "ops", 0, base), "carol's stale membership")
		got := e.appendAll(t,
			mentioning("dev", alice, "alice", "hi @bob @carol @alice @nobody", 1, "bob", "carol", "alice", "nobody"),
			mentioning("ops", alice, "alice", "@bob @carol @dave", 2, "bob", "carol", "dave"),
			mentioning("dev", bob, "bob", "no mention", 3))
		for i, want := range [][]int64{{bob}, {bob}, nil} {
			if !slices.Equal(got[i].Mentioned, want) {
				t.Errorf("message %d mentioned %v; want %v", i, got[i].Mentioned, want)
			}
		}
		if n := e.mentionsIn(t, bob, "dev", 999); n != 1 {
			t.Errorf("bob's mentions in dev = %d; want 1", n)
		}
		if n := e.mentionsIn(t, bob, "general", 999); n != -1 {
			t.Errorf("bob lists general: %d", n)
		}
		if n := e.mentionsIn(t, alice, "dev", 999); n != 0 {
			t.Errorf("alice's own mention counted: %d", n)
		}
	}},
	{"mentions count after the read position, bounded, and not once deleted", func(t *testing.T, e *env) {
		alice, bob := e.user(t, "alice"), e.user(t, "bob")
		must(t, e.JoinRoom(e.ctx, bob, "dev", 0, base), "bob joins dev")
		var batch []store.NewMessage
		for i := range 5 {
			batch = append(batch, mentioning("dev", alice, "alice", "@bob look", i, "bob"))
		}
		ms := e.appendAll(t, batch...)
		if n := e.mentionsIn(t, bob, "dev", 999); n != 5 {
			t.Fatalf("mentions = %d; want 5", n)
		}
		if n := e.mentionsIn(t, bob, "dev", 3); n != 3 {
			t.Errorf("mentions bounded by 3 = %d; want 3", n)
		}
		_, _, err := e.MarkRead(e.ctx, bob, "dev", ms[1].ID, at(time.Second))
		must(t, err, "mark read")
		if n := e.mentionsIn(t, bob, "dev", 999); n != 3 {
			t.Errorf("mentions after reading 2 = %d; want 3", n)
		}
		e.change(t, store.NewMessage{Room: "dev", UserID: alice, User: "alice", TS: at(2 * time.Second), Kind: store.KindDelete, Target: ms[4].ID})
		if n := e.mentionsIn(t, bob, "dev", 999); n != 2 {
			t.Errorf("mentions after a delete = %d; want 2", n)
		}
		// An edit adds no mention (mentions come from the send).
		e.change(t, store.NewMessage{Room: "dev", UserID: alice, User: "alice", Text: "@bob again", TS: at(3 * time.Second),
			Kind: store.KindEdit, Target: ms[3].ID, Mentions: []string{"bob"}})
		if n := e.mentionsIn(t, bob, "dev", 999); n != 2 {
			t.Errorf("mentions after an edit = %d; want 2", n)
		}
		// Other users and rooms are not counted.
		if n := e.mentionsIn(t, alice, "dev", 999); n != -1 {
			t.Errorf("alice lists dev with %d mentions; she never joined it", n)
		}
	}},
	{"deleting a user deletes their mentions", func(t *testing.T, e *env) {
		alice, bob := e.user(t, "alice"), e.user(t, "bob")
		must(t, e.JoinRoom(e.ctx, bob, "dev", 0, base), "bob joins dev")
		e.appendAll(t, mentioning("dev", alice, "alice", "@bob", 1, "bob"))
		must(t, e.DeleteUser(e.ctx, bob, at(time.Second)), "delete bob")
		// A membership made afresh for the same id (never happens: ids are
		// not reused) would find no mention left behind.
		must(t, e.JoinRoom(e.ctx, bob, "dev", 0, at(2*time.Second)), "membership again")
		if n := e.mentionsIn(t, bob, "dev", 999); n != 0 {
			t.Errorf("mentions of a deleted user = %d; want 0", n)
		}
	}},
}
