package storetest

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"securechat/app/store"
)

// access is a user's access to a room, failing t on error.
func (e *env) access(t *testing.T, room string, userID int64) store.Access {
	t.Helper()
	a, err := e.RoomAccess(e.ctx, room, userID)
	must(t, err, "read access to "+room)
	return a
}

// user creates an account and returns its id.
func (e *env) user(t *testing.T, name string) int64 {
	t.Helper()
	u, err := e.CreateUser(e.ctx, name, "hash", base)
	must(t, err, "create user "+name)
	return u.ID
}

// memberNames are the members of room as "name:role", in the listed order.
func (e *env) memberNames(t *testing.T, room string, limit int) []string {
	t.Helper()
	ms, err := e.RoomMembers(e.ctx, room, limit)
	must(t, err, "list members of "+room)
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Name+":"+m.Role)
	}
	return out
}

var privateCases = []scenario{
	{"a user's room list holds only rooms they may read, with their kind", func(t *testing.T, e *env) {
		alice, bob := e.user(t, "alice"), e.user(t, "bob")
		must(t, e.CreateRoom(e.ctx, "secret", store.RoomPrivate, alice, base), "create private room")
		must(t, e.CreateRoom(e.ctx, "town", store.RoomPublic, 0, base), "create public room")
		// bob's list has the private room (a join recorded it) though he is
		// not a member: a membership a removal raced with a join left behind.
		for _, uid := range []int64{alice, bob} {
			for _, room := range []string{"secret", "town", "gone"} {
				must(t, e.JoinRoom(e.ctx, uid, room, 0, base), "join "+room)
			}
		}
		for _, tc := range []struct {
			user int64
			want []string
		}{{alice, []string{"gone:public", "secret:private", "town:public"}}, {bob, []string{"gone:public", "town:public"}}} {
			ms, err := e.Memberships(e.ctx, tc.user, 10, 10)
			must(t, err, "memberships")
			got := []string{}
			for _, m := range ms {
				got = append(got, m.Room+":"+m.Kind)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("user %d's rooms = %v; want %v", tc.user, got, tc.want)
			}
		}
	}},
	{"access by kind and membership", func(t *testing.T, e *env) {
		const owner, member, outsider = 1, 2, 3
		must(t, e.CreateRoom(e.ctx, "town", store.RoomPublic, 0, base), "create public room")
		must(t, e.CreateRoom(e.ctx, "secret", store.RoomPrivate, owner, base), "create private room")
		if added, err := e.AddMember(e.ctx, "secret", member, store.MemberMember, base); err != nil || !added {
			t.Fatalf("AddMember = %v, %v; want added", added, err)
		}
		dm, created, err := e.OpenDM(e.ctx, []int64{member, owner}, base)
		must(t, err, "open dm")
		if !created {
			t.Errorf("OpenDM of a new pair reports it existed")
		}
		e.touch(t, "joined", base) // a room made by a join is public
		for _, tc := range []struct {
			room string
			user int64
			want store.Access
			read bool
		}{
			{"town", owner, store.Access{Kind: store.RoomPublic}, true},
			{"town", outsider, store.Access{Kind: store.RoomPublic}, true},
			{"joined", outsider, store.Access{Kind: store.RoomPublic}, true},
			{"secret", owner, store.Access{Kind: store.RoomPrivate, Role: store.MemberOwner}, true},
			{"secret", member, store.Access{Kind: store.RoomPrivate, Role: store.MemberMember}, true},
			{"secret", outsider, store.Access{Kind: store.RoomPrivate}, false},
			{"secret", 0, store.Access{Kind: store.RoomPrivate}, false},
			{dm, owner, store.Access{Kind: store.RoomDM, Role: store.MemberMember}, true},
			{dm, member, store.Access{Kind: store.RoomDM, Role: store.MemberMember}, true},
			{dm, outsider, store.Access{Kind: store.RoomDM}, false},
		} {
			got := e.access(t, tc.room, tc.user)
			if got != tc.want || got.CanRead() != tc.read {
				t.Errorf("RoomAccess(%s, %d) = %+v (read %v); want %+v (read %v)", tc.room, tc.user, got, got.CanRead(), tc.want, tc.read)
			}
		}
		if _, err := e.RoomAccess(e.ctx, "nowhere", owner); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RoomAccess of a missing room: %v; want ErrNotFound", err)
		}
		// Messages and joins do not change a room's kind.
		e.appendAll(t, msg("secret", "alice", "hi", 1))
		if created, err := e.TouchRoom(e.ctx, "secret", at(time.Second)); err != nil || created {
			t.Errorf("TouchRoom(secret) = %v, %v; want an existing room", created, err)
		}
		if got := e.access(t, "secret", outsider); got.Kind != store.RoomPrivate || got.CanRead() {
			t.Errorf("after a message and a join: %+v; want private, not readable", got)
		}
	}},

	{"create refuses a taken name", func(t *testing.T, e *env) {
		must(t, e.CreateRoom(e.ctx, "secret", store.RoomPrivate, 1, base), "create private room")
		e.touch(t, "joined", base)
		e.appendAll(t, msg("written", "alice", "hi", 0))
		for _, tc := range []struct{ name, kind string }{
			{"secret", store.RoomPrivate}, {"secret", store.RoomPublic},
			{"joined", store.RoomPrivate}, {"written", store.RoomPrivate},
		} {
			if err := e.CreateRoom(e.ctx, tc.name, tc.kind, 2, at(time.Second)); !errors.Is(err, store.ErrExists) {
				t.Errorf("CreateRoom(%s, %s) of a taken name: %v; want ErrExists", tc.name, tc.kind, err)
			}
		}
		for _, tc := range []struct {
			kind  string
			owner int64
		}{{store.RoomDM, 1}, {"", 1}, {"secret", 1}, {store.RoomPrivate, 0}} {
			if err := e.CreateRoom(e.ctx, "odd", tc.kind, tc.owner, base); err == nil {
				t.Errorf("CreateRoom(kind %q, owner %d) succeeded", tc.kind, tc.owner)
			}
		}
		if ok, _ := e.RoomExists(e.ctx, "odd"); ok {
			t.Errorf("a refused CreateRoom created its room")
		}
		// The failed creations changed nothing: the owner is still the only member.
		if got := e.access(t, "secret", 2); got.Role != "" {
			t.Errorf("a refused CreateRoom made user 2 %q", got.Role)
		}
		if got := e.access(t, "joined", 2); got != (store.Access{Kind: store.RoomPublic}) {
			t.Errorf("a refused CreateRoom changed joined to %+v", got)
		}
	}},

	{"members", func(t *testing.T, e *env) {
		alice, bob, carol, dave := e.user(t, "alice"), e.user(t, "bob"), e.user(t, "carol"), e.user(t, "dave")
		must(t, e.CreateRoom(e.ctx, "secret", store.RoomPrivate, carol, base), "create private room")
		for _, tc := range []struct {
			user  int64
			added bool
		}{{dave, true}, {alice, true}, {dave, false}, {carol, false}, {bob, true}} {
			added, err := e.AddMember(e.ctx, "secret", tc.user, store.MemberMember, base)
			must(t, err, "add member")
			if added != tc.added {
				t.Errorf("AddMember(%d) added = %v; want %v", tc.user, added, tc.added)
			}
		}
		if got := e.access(t, "secret", carol); got.Role != store.MemberOwner {
			t.Errorf("adding the owner again made them %q", got.Role)
		}
		if _, err := e.AddMember(e.ctx, "nowhere", bob, store.MemberMember, base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AddMember to a missing room: %v; want ErrNotFound", err)
		}
		if ok, _ := e.RoomExists(e.ctx, "nowhere"); ok {
			t.Errorf("AddMember created a room")
		}
		// The owner first, then by name; the limit bounds the list.
		want := []string{"carol:owner", "alice:member", "bob:member", "dave:member"}
		if got := e.memberNames(t, "secret", 100); !slices.Equal(got, want) {
			t.Errorf("RoomMembers = %v; want %v", got, want)
		}
		if got := e.memberNames(t, "secret", 2); !slices.Equal(got, want[:2]) {
			t.Errorf("RoomMembers(limit 2) = %v; want %v", got, want[:2])
		}
		if got := e.memberNames(t, "nowhere", 100); len(got) != 0 {
			t.Errorf("RoomMembers of a missing room = %v", got)
		}

		// Removal ends the membership and takes the room off the user's list.
		must(t, e.JoinRoom(e.ctx, bob, "secret", 0, base), "bob joins")
		must(t, e.JoinRoom(e.ctx, bob, "town", 0, base), "bob joins town")
		for _, tc := range []struct {
			user    int64
			removed bool
		}{{bob, true}, {bob, false}, {9, false}} {
			removed, err := e.RemoveMember(e.ctx, "secret", tc.user)
			must(t, err, "remove member")
			if removed != tc.removed {
				t.Errorf("RemoveMember(%d) removed = %v; want %v", tc.user, removed, tc.removed)
			}
		}
		if got := e.access(t, "secret", bob); got.CanRead() {
			t.Errorf("a removed member's access = %+v", got)
		}
		if got := e.members(t, bob, 999); len(got) != 1 || got[0].Room != "town" {
			t.Errorf("a removed member's rooms = %+v; want town alone", got)
		}
		want = []string{"carol:owner", "alice:member", "dave:member"}
		if got := e.memberNames(t, "secret", 100); !slices.Equal(got, want) {
			t.Errorf("RoomMembers after removing bob = %v; want %v", got, want)
		}
		// Invited again, bob is a member again.
		if added, err := e.AddMember(e.ctx, "secret", bob, store.MemberMember, base); err != nil || !added {
			t.Errorf("AddMember after removal = %v, %v; want added", added, err)
		}
	}},

	{"dm of a set of users", func(t *testing.T, e *env) {
		alice, bob, carol := e.user(t, "alice"), e.user(t, "bob"), e.user(t, "carol")
		ab, created, err := e.OpenDM(e.ctx, []int64{bob, alice}, base)
		must(t, err, "open dm")
		if !created || !strings.HasPrefix(ab, store.DMPrefix) || len(ab) != len(store.DMPrefix)+16 {
			t.Errorf("OpenDM = %q, created %v; want a new room %s + 16 hex digits", ab, created, store.DMPrefix)
		}
		for _, ids := range [][]int64{{alice, bob}, {bob, alice}, {alice, bob, alice}} {
			room, created, err := e.OpenDM(e.ctx, ids, at(time.Second))
			if err != nil || room != ab || created {
				t.Errorf("OpenDM(%v) = %q, %v, %v; want %q, not created", ids, room, created, err, ab)
			}
		}
		seen := map[string]bool{ab: true}
		for _, ids := range [][]int64{{alice, carol}, {bob, carol}, {carol, bob, alice}} {
			room, created, err := e.OpenDM(e.ctx, ids, base)
			must(t, err, "open another dm")
			if !created || seen[room] {
				t.Errorf("OpenDM(%v) = %q, created %v; want a new room", ids, room, created)
			}
			seen[room] = true
		}
		if got, want := e.memberNames(t, ab, 100), []string{"alice:member", "bob:member"}; !slices.Equal(got, want) {
			t.Errorf("members of the dm = %v; want %v", got, want)
		}
		if got := e.access(t, ab, carol); got != (store.Access{Kind: store.RoomDM}) {
			t.Errorf("carol's access to alice and bob's dm = %+v", got)
		}
		for _, ids := range [][]int64{nil, {alice}, {alice, alice}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {0, alice}, {-1, alice}} {
			if room, _, err := e.OpenDM(e.ctx, ids, base); err == nil {
				t.Errorf("OpenDM(%v) = %q; want an error", ids, room)
			}
		}
		if room, _, err := e.OpenDM(e.ctx, []int64{1, 2, 3, 4, 5, 6, 7, 8}, base); err != nil || room == "" {
			t.Errorf("OpenDM of 8 users = %q, %v; want a room", room, err)
		}
	}},

	{"the room list shows a user their own private rooms and dms", func(t *testing.T, e *env) {
		const alice, bob, carol, dave = 1, 2, 3, 4
		e.appendAll(t, msg("town", "x", "hi", 0))
		must(t, e.CreateRoom(e.ctx, "secret", store.RoomPrivate, alice, at(time.Second)), "create secret")
		_, err := e.AddMember(e.ctx, "secret", bob, store.MemberMember, base)
		must(t, err, "add bob")
		must(t, e.CreateRoom(e.ctx, "sealed", store.RoomPrivate, dave, at(2*time.Second)), "create sealed")
		dm, _, err := e.OpenDM(e.ctx, []int64{alice, carol}, at(3*time.Second))
		must(t, err, "open dm")
		kinds := map[string]string{"town": store.RoomPublic, "secret": store.RoomPrivate, "sealed": store.RoomPrivate, dm: store.RoomDM}
		for _, tc := range []struct {
			user   int64
			prefix string
			want   []string
		}{
			{alice, "", []string{dm, "secret", "town"}},
			{bob, "", []string{"secret", "town"}},
			{carol, "", []string{dm, "town"}},
			{dave, "", []string{"sealed", "town"}},
			{99, "", []string{"town"}},
			{0, "", []string{"town"}},
			{alice, "s", []string{"secret"}},
			{carol, "s", []string{}},
			{carol, store.DMPrefix, []string{dm}},
			{bob, store.DMPrefix, []string{}},
		} {
			rooms, err := e.Rooms(e.ctx, store.RoomQuery{UserID: tc.user, Prefix: tc.prefix, Limit: 50})
			must(t, err, "list rooms")
			if got := names(rooms); !slices.Equal(got, tc.want) {
				t.Errorf("Rooms(user %d, prefix %q) = %v; want %v", tc.user, tc.prefix, got, tc.want)
			}
			for _, r := range rooms {
				if r.Kind != kinds[r.Name] {
					t.Errorf("Rooms: %s has kind %q; want %q", r.Name, r.Kind, kinds[r.Name])
				}
			}
		}
		// Pages of one at a time reach the same rooms.
		var got []string
		for _, p := range e.pages(t, store.RoomQuery{UserID: alice, Limit: 1}) {
			got = append(got, p...)
		}
		if want := []string{dm, "secret", "town"}; !slices.Equal(got, want) {
			t.Errorf("alice's pages = %v; want %v", got, want)
		}
	}},

	{"a dm opened from several nodes at once is one room", func(t *testing.T, e *env) {
		handles := make([]Store, nodes)
		for n := range handles {
			handles[n] = e.handle(t)
		}
		rooms := make([]string, nodes)
		created := make([]bool, nodes)
		errs := make([]error, nodes)
		var wg sync.WaitGroup
		for n, s := range handles {
			wg.Go(func() {
				// Each node gives the users in its own order.
				ids := []int64{1, 2, 3}
				ids[0], ids[n%3] = ids[n%3], ids[0]
				rooms[n], created[n], errs[n] = s.OpenDM(e.ctx, ids, base)
			})
		}
		wg.Wait()
		creators := 0
		for n := range handles {
			if errs[n] != nil {
				t.Fatalf("node %d: OpenDM: %v", n, errs[n])
			}
			if rooms[n] != rooms[0] {
				t.Errorf("node %d opened %q; node 0 %q", n, rooms[n], rooms[0])
			}
			if created[n] {
				creators++
			}
		}
		if creators != 1 {
			t.Errorf("%d nodes report creating the dm; want 1", creators)
		}
		if got := e.access(t, rooms[0], 3); got != (store.Access{Kind: store.RoomDM, Role: store.MemberMember}) {
			t.Errorf("user 3's access to the dm = %+v", got)
		}
	}},

	{"pruning keeps private rooms and dms", func(t *testing.T, e *env) {
		e.touch(t, "empty", base)
		must(t, e.CreateRoom(e.ctx, "secret", store.RoomPrivate, 1, base), "create secret")
		must(t, e.CreateRoom(e.ctx, "made", store.RoomPublic, 0, base), "create public")
		dm, _, err := e.OpenDM(e.ctx, []int64{1, 2}, base)
		must(t, err, "open dm")
		n, err := e.PruneEmptyRooms(e.ctx, at(time.Hour))
		must(t, err, "prune")
		if n != 2 {
			t.Errorf("pruned %d rooms; want 2 (the empty public ones)", n)
		}
		for room, want := range map[string]bool{"empty": false, "made": false, "secret": true, dm: true} {
			if ok, err := e.RoomExists(e.ctx, room); err != nil || ok != want {
				t.Errorf("RoomExists(%s) after pruning = %v, %v; want %v", room, ok, err, want)
			}
		}
		if got := e.access(t, "secret", 1); got.Role != store.MemberOwner {
			t.Errorf("after pruning, the owner of secret is %q", got.Role)
		}
	}},

	{"deleting a user ends their room memberships", func(t *testing.T, e *env) {
		alice, bob := e.user(t, "alice"), e.user(t, "bob")
		must(t, e.CreateRoom(e.ctx, "secret", store.RoomPrivate, alice, base), "create secret")
		_, err := e.AddMember(e.ctx, "secret", bob, store.MemberMember, base)
		must(t, err, "add bob")
		dm, _, err := e.OpenDM(e.ctx, []int64{alice, bob}, base)
		must(t, err, "open dm")
		must(t, e.DeleteUser(e.ctx, bob, base), "delete bob")
		for _, room := range []string{"secret", dm} {
			if got := e.access(t, room, bob); got.Role != "" {
				t.Errorf("a deleted user's role in %s = %q", room, got.Role)
			}
		}
		if got := e.access(t, "secret", alice); got.Role != store.MemberOwner {
			t.Errorf("deleting bob changed alice's role to %q", got.Role)
		}
		rooms, err := e.Rooms(e.ctx, store.RoomQuery{UserID: bob, Limit: 50})
		must(t, err, "list rooms")
		if len(rooms) != 0 {
			t.Errorf("a deleted user's rooms = %v", names(rooms))
		}
	}},
}
