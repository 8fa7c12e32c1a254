package storetest

import (
	"errors"
	"testing"
	"time"

	"securechat/app/store"
)

// members lists a user's memberships (unread counted up to maxUnread) as a map by room.
func (e *env) members(t *testing.T, userID int64, maxUnread int) []store.Membership {
	t.Helper()
	ms, err := e.Memberships(e.ctx, userID, maxUnread, 100)
	must(t, err, "list memberships")
	return ms
}

var membershipCases = []scenario{
	{"a join starts read where the join said", func(t *testing.T, e *env) {
		old := e.appendAll(t, msg("dev", "alice", "a", 0), msg("dev", "alice", "b", 1))
		must(t, e.JoinRoom(e.ctx, 7, "dev", old[1].ID, at(time.Second)), "join dev")
		must(t, e.JoinRoom(e.ctx, 7, "new", 0, at(2*time.Second)), "join a room with no messages")
		e.appendAll(t, msg("dev", "alice", "c", 3000), msg("dev", "alice", "d", 3001))
		got := e.members(t, 7, 999)
		if len(got) != 2 {
			t.Fatalf("memberships = %+v; want new and dev", got)
		}
		// Most recently read (here: joined) first.
		if got[0].Room != "new" || got[0].ReadID != 0 || got[0].Unread != 0 {
			t.Errorf("first = %+v; want new, read 0, 0 unread", got[0])
		}
		if got[1].Room != "dev" || got[1].ReadID != old[1].ID || got[1].Unread != 2 {
			t.Errorf("second = %+v; want dev read to %d with 2 unread", got[1], old[1].ID)
		}
		checkTime(t, "read_at", got[1].ReadAt, at(time.Second))
		// Joining again keeps the position and the time.
		must(t, e.JoinRoom(e.ctx, 7, "dev", 0, at(5*time.Second)), "join dev again")
		if again := e.members(t, 7, 999); again[1] != got[1] {
			t.Errorf("after a second join: %+v; want %+v", again[1], got[1])
		}
		if other := e.members(t, 8, 999); len(other) != 0 {
			t.Errorf("another user's memberships = %+v; want none", other)
		}
	}},
	{"read never moves back nor past the newest message", func(t *testing.T, e *env) {
		ms := e.appendAll(t, msg("dev", "alice", "a", 0), msg("dev", "alice", "b", 1), msg("dev", "alice", "c", 2))
		must(t, e.JoinRoom(e.ctx, 7, "dev", ms[2].ID, at(time.Second)), "join dev")
		must(t, e.LeaveRoom(e.ctx, 7, "dev"), "leave dev")
		must(t, e.JoinRoom(e.ctx, 7, "dev", ms[2].ID, at(time.Second)), "join dev")
		_, _, err := e.MarkRead(e.ctx, 7, "dev", ms[0].ID, at(2*time.Second))
		must(t, err, "mark read")
		// The join started at the newest: a read of an older one does not move it.
		for _, c := range []struct {
			id    int64
			want  int64
			moved bool
		}{
			{ms[0].ID, ms[2].ID, false},
			{ms[2].ID + 1000, ms[2].ID, false},
		} {
			got, moved, err := e.MarkRead(e.ctx, 7, "dev", c.id, at(3*time.Second))
			must(t, err, "mark read")
			if got != c.want || moved != c.moved {
				t.Errorf("MarkRead(%d) = %d, %v; want %d, %v", c.id, got, moved, c.want, c.moved)
			}
		}
		more := e.appendAll(t, msg("dev", "alice", "d", 4000), msg("dev", "alice", "e", 4001))
		if got := e.members(t, 7, 999); got[0].Unread != 2 {
			t.Errorf("unread = %d; want 2", got[0].Unread)
		}
		got, moved, err := e.MarkRead(e.ctx, 7, "dev", more[0].ID, at(5*time.Second))
		must(t, err, "mark read")
		if got != more[0].ID || !moved {
			t.Errorf("MarkRead(%d) = %d, %v; want it, moved", more[0].ID, got, moved)
		}
		if got, _, _ := e.MarkRead(e.ctx, 7, "dev", ms[1].ID, at(6*time.Second)); got != more[0].ID {
			t.Errorf("a read of an older message moved the position back to %d", got)
		}
		m := e.members(t, 7, 999)[0]
		if m.ReadID != more[0].ID || m.Unread != 1 {
			t.Errorf("membership = %+v; want read to %d, 1 unread", m, more[0].ID)
		}
		checkTime(t, "read_at", m.ReadAt, at(6*time.Second))
	}},
	{"read of a room one is not in", func(t *testing.T, e *env) {
		e.appendAll(t, msg("dev", "alice", "a", 0))
		if _, _, err := e.MarkRead(e.ctx, 7, "dev", 1, base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MarkRead of a room never joined: %v; want ErrNotFound", err)
		}
		must(t, e.JoinRoom(e.ctx, 7, "dev", 0, base), "join dev")
		must(t, e.LeaveRoom(e.ctx, 7, "dev"), "leave dev")
		if _, _, err := e.MarkRead(e.ctx, 7, "dev", 1, base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MarkRead of a room left: %v; want ErrNotFound", err)
		}
		if got := e.members(t, 7, 999); len(got) != 0 {
			t.Errorf("memberships after leaving = %+v; want none", got)
		}
		must(t, e.LeaveRoom(e.ctx, 7, "never"), "leave a room never joined")
	}},
	{"the most recently read room comes first, and counts stop at the bound", func(t *testing.T, e *env) {
		for _, r := range []string{"a", "b", "c"} {
			must(t, e.JoinRoom(e.ctx, 7, r, 0, base), "join "+r)
		}
		var batch []store.NewMessage
		for i := range 12 {
			batch = append(batch, msg("b", "alice", "x", i))
		}
		ms := e.appendAll(t, batch...)
		_, _, err := e.MarkRead(e.ctx, 7, "b", ms[0].ID, at(time.Minute))
		must(t, err, "mark b read")
		got := e.members(t, 7, 5)
		if len(got) != 3 || got[0].Room != "b" {
			t.Fatalf("memberships = %+v; want b first of 3", got)
		}
		if got[0].Unread != 5 {
			t.Errorf("unread of b counted to 5 = %d; want 5 (11 unread)", got[0].Unread)
		}
		if lim, err := e.Memberships(e.ctx, 7, 5, 2); err != nil || len(lim) != 2 {
			t.Errorf("Memberships(limit 2) = %d rooms, %v; want 2", len(lim), err)
		}
	}},
	{"a pruned empty room leaves its members' lists", func(t *testing.T, e *env) {
		e.touch(t, "spam", base)
		e.appendAll(t, msg("kept", "alice", "a", 0))
		must(t, e.JoinRoom(e.ctx, 7, "spam", 0, base), "join spam")
		must(t, e.JoinRoom(e.ctx, 7, "kept", 0, base), "join kept")
		n, err := e.PruneEmptyRooms(e.ctx, at(time.Hour))
		must(t, err, "prune empty rooms")
		if n != 1 {
			t.Errorf("pruned %d rooms; want 1", n)
		}
		if got := e.members(t, 7, 999); len(got) != 1 || got[0].Room != "kept" {
			t.Errorf("memberships after the prune = %+v; want kept alone", got)
		}
	}},
	{"deleting a user forgets their rooms", func(t *testing.T, e *env) {
		u, err := e.CreateUser(e.ctx, "bob", "hash", base)
		must(t, err, "create user")
		must(t, e.JoinRoom(e.ctx, u.ID, "dev", 0, base), "join dev")
		must(t, e.DeleteUser(e.ctx, u.ID, base), "delete user")
		if got := e.members(t, u.ID, 999); len(got) != 0 {
			t.Errorf("a deleted user's memberships = %+v; want none", got)
		}
	}},
}
