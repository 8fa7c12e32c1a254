package chat

// Private rooms, dms, removals, edits and deletes, over whole hubs in
// synctest bubbles (helpers in fakes_test.go): membership is checked on
// every path, and a non-member learns nothing of a room.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"securechat/app/store"
	"securechat/app/throttle"
)

// ask sends v and returns the frames that arrived once the hub was done with it.
func (c *unitClient) ask(v any) []frame {
	c.t.Helper()
	n := len(c.received())
	c.send(v)
	synctest.Wait()
	return c.received()[n:]
}

// only returns the one frame of type typ among fs, failing otherwise.
func only(t *testing.T, what string, fs []frame, typ string) frame {
	t.Helper()
	var got []frame
	for _, f := range fs {
		if f.Type == typ {
			got = append(got, f)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%s: got %v, want one %s frame", what, frameTypes(fs), typ)
	}
	return got[0]
}

func frameTypes(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Type + ":" + f.Code
	}
	return out
}

// wantError checks that the answer to a frame is exactly one error with code.
func wantError(t *testing.T, what string, fs []frame, code string) {
	t.Helper()
	if len(fs) != 1 || fs[0].Type != "error" || fs[0].Code != code {
		t.Fatalf("%s: got %v, want only error %s", what, frameTypes(fs), code)
	}
}

// privateRoom has alice create private room name and say secret in it; it
// returns alice's socket and the message's id.
func privateRoom(t *testing.T, h *unitHub, name, secret string) (*unitClient, int64) {
	t.Helper()
	alice := h.connect(t, "alice")
	synctest.Wait()
	got := alice.ask(map[string]any{"type": "create", "room": name, "private": true})
	j := only(t, "create", got, "joined")
	if j.Kind != store.RoomPrivate || j.Role != store.MemberOwner {
		t.Fatalf("joined after create: kind %q role %q, want private owner", j.Kind, j.Role)
	}
	m := only(t, "send", alice.ask(map[string]any{"type": "send", "room": name, "text": secret}), "message")
	return alice, m.ID
}

// A user who is not a member of a private room is refused with forbidden on
// every path, and no frame they get names the room's messages or presence;
// a room that does not exist answers the same. An admin is no exception.
func TestPrivateRoomRefusesNonMembers(t *testing.T) {
	for _, admin := range []bool{false, true} {
		t.Run(fmt.Sprintf("admin=%v", admin), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newUnitHub(t, unitLimits())
				alice, id := privateRoom(t, h, "secret", "the plans")
				carol := h.connect(t, "carol")
				if admin {
					h.store.setRole("carol", store.RoleAdmin)
				}
				synctest.Wait()
				for _, room := range []string{"secret", "nowhere"} {
					for _, tc := range []struct {
						name  string
						frame map[string]any
					}{
						{"join", map[string]any{"type": "join", "room": room}},
						{"join since", map[string]any{"type": "join", "room": room, "since": 0}},
						{"send", map[string]any{"type": "send", "room": room, "text": "hi"}},
						{"history", map[string]any{"type": "history", "room": room}},
						{"invite", map[string]any{"type": "invite", "room": room, "user": "carol"}},
						{"remove", map[string]any{"type": "remove", "room": room, "user": "alice"}},
						{"edit", map[string]any{"type": "edit", "room": room, "id": id, "text": "mine"}},
						{"delete", map[string]any{"type": "delete", "room": room, "id": id}},
						{"members", map[string]any{"type": "members", "room": room}},
					} {
						if room == "nowhere" && (tc.name == "join" || tc.name == "join since" || tc.name == "send") {
							continue // join creates a public room; send answers not_joined (no secret)
						}
						if admin && room == "secret" && tc.name == "remove" {
							continue // an admin may remove anyone (TestRemoveByAdminAndSelf)
						}
						wantError(t, room+" "+tc.name, carol.ask(tc.frame), "forbidden")
					}
				}
				rooms := only(t, "rooms", carol.ask(map[string]any{"type": "rooms"}), "rooms")
				for _, r := range rooms.Rooms {
					if r.Name == "secret" {
						t.Errorf("carol's room list names secret: %+v", rooms.Rooms)
					}
				}
				// Meanwhile alice's room lives on: carol hears none of it.
				alice.ask(map[string]any{"type": "send", "room": "secret", "text": "more plans"})
				time.Sleep(maxPresenceDelay)
				synctest.Wait()
				for _, f := range carol.received() {
					if strings.Contains(f.raw, "plans") || f.Room == "secret" && f.Type != "error" {
						t.Errorf("carol got %s", f.raw)
					}
				}
				mine := only(t, "rooms", alice.ask(map[string]any{"type": "rooms"}), "rooms")
				if !slices.Contains(mine.Rooms, roomFrame{Name: "secret", Kind: store.RoomPrivate}) {
					t.Errorf("alice's rooms %+v lack secret (private)", mine.Rooms)
				}
			})
		})
	}
}

// The room frame (a room's first message) announces public rooms only.
func TestRoomFrameOnlyForPublicRooms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		carol := h.connect(t, "carol")
		synctest.Wait()
		alice, _ := privateRoom(t, h, "secret", "first")
		alice.ask(map[string]any{"type": "send", "room": "secret", "text": "second"})
		alice.ask(map[string]any{"type": "join", "room": "open"})
		alice.ask(map[string]any{"type": "send", "room": "open", "text": "hello"})
		var announced []string
		for _, f := range carol.received("room") {
			announced = append(announced, f.Room)
		}
		if !slices.Equal(announced, []string{"open"}) {
			t.Errorf("carol heard of rooms %v, want [open]", announced)
		}
	})
}

// An invited user's sockets hear invited and can join at once; a removed
// one's sockets hear removed, leave the room, and get nothing more of it;
// both on the inviter's node and on another.
func TestInviteAndRemoveAcrossNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hubs := newUnitCluster(t, 2, unitLimits())
		alice, _ := privateRoom(t, hubs[0], "secret", "before bob")
		bobHere, bobThere := hubs[0].connect(t, "bob"), hubs[1].connect(t, "bob")
		synctest.Wait()

		got := alice.ask(map[string]any{"type": "invite", "room": "secret", "user": "bob"})
		ms := only(t, "invite", got, "members")
		if want := []memberFrame{{"alice", "owner"}, {"bob", "member"}}; !slices.Equal(ms.Members, want) {
			t.Errorf("members after invite %+v, want %+v", ms.Members, want)
		}
		for name, b := range map[string]*unitClient{"bob here": bobHere, "bob there": bobThere} {
			inv := b.received("invited")
			if len(inv) != 1 || inv[0].Room != "secret" || inv[0].By != "alice" || inv[0].Kind != "private" {
				t.Fatalf("%s: invited frames %+v", name, inv)
			}
			got := b.ask(map[string]any{"type": "join", "room": "secret"})
			h := only(t, name+" join", got, "history")
			if len(h.Messages) != 1 || h.Messages[0].Text != "before bob" {
				t.Errorf("%s: history %+v", name, h.Messages)
			}
			if j := only(t, name+" join", got, "joined"); j.Kind != "private" || j.Role != "member" {
				t.Errorf("%s: joined %+v", name, j)
			}
		}
		alice.ask(map[string]any{"type": "send", "room": "secret", "text": "with bob"})
		for name, b := range map[string]*unitClient{"bob here": bobHere, "bob there": bobThere} {
			if ids := b.messageIDs("secret"); len(ids) != 1 {
				t.Errorf("%s got %d live messages, want 1", name, len(ids))
			}
		}

		// A member may not remove another; the owner may.
		wantError(t, "bob removes alice", bobHere.ask(map[string]any{"type": "remove", "room": "secret", "user": "alice"}), "forbidden")
		only(t, "remove", alice.ask(map[string]any{"type": "remove", "room": "secret", "user": "bob"}), "members")
		for name, b := range map[string]*unitClient{"bob here": bobHere, "bob there": bobThere} {
			rm := b.received("removed")
			if len(rm) != 1 || rm[0].Room != "secret" {
				t.Fatalf("%s: removed frames %+v", name, rm)
			}
		}
		n := map[*unitClient]int{bobHere: len(bobHere.received()), bobThere: len(bobThere.received())}
		alice.ask(map[string]any{"type": "send", "room": "secret", "text": "after bob"})
		time.Sleep(maxPresenceDelay)
		synctest.Wait()
		for name, b := range map[string]*unitClient{"bob here": bobHere, "bob there": bobThere} {
			for _, f := range b.received()[n[b]:] {
				if f.Room == "secret" {
					t.Errorf("%s got %s after removed", name, f.raw)
				}
			}
			wantError(t, name+" sends", b.ask(map[string]any{"type": "send", "room": "secret", "text": "still here?"}), "forbidden")
			wantError(t, name+" joins", b.ask(map[string]any{"type": "join", "room": "secret"}), "forbidden")
		}
	})
}

// An admin may remove anyone from a private room they are not in (and
// learns nothing of it: no member list); a member may remove themself.
func TestRemoveByAdminAndSelf(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		alice, _ := privateRoom(t, h, "secret", "x")
		bob, carol, dave := h.connect(t, "bob"), h.connect(t, "carol"), h.connect(t, "dave")
		synctest.Wait()
		for _, u := range []string{"bob", "carol"} {
			only(t, "invite", alice.ask(map[string]any{"type": "invite", "room": "secret", "user": u}), "members")
		}
		wantError(t, "dave (no admin) removes bob", dave.ask(map[string]any{"type": "remove", "room": "secret", "user": "bob"}), "forbidden")
		h.store.setRole("dave", store.RoleAdmin)
		if got := dave.ask(map[string]any{"type": "remove", "room": "secret", "user": "bob"}); len(got) != 0 {
			t.Errorf("an admin outside the room got %v for a removal, want nothing", frameTypes(got))
		}
		only(t, "bob removed", bob.received(), "removed")
		wantError(t, "admin invites themself", dave.ask(map[string]any{"type": "invite", "room": "secret", "user": "dave"}), "forbidden")
		got := carol.ask(map[string]any{"type": "remove", "room": "secret", "user": "carol"})
		only(t, "carol leaves", got, "removed")
		wantError(t, "removed twice", alice.ask(map[string]any{"type": "remove", "room": "secret", "user": "carol"}), "not_found")
		wantError(t, "unknown user", alice.ask(map[string]any{"type": "invite", "room": "secret", "user": "nobody"}), "unknown_user")
		wantError(t, "public room", alice.ask(map[string]any{"type": "invite", "room": "general", "user": "bob"}), "not_private")
	})
}

// Edits (the author only) and deletes (the author, the owner, an admin)
// reach every member as edited and deleted frames, the sender's with its
// ref; history, a join's history and the message frames show the current
// text and a deleted message as a placeholder; a scrub follows a delete.
func TestEditAndDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		alice, a1 := privateRoom(t, h, "secret", "first draft")
		bob, dave := h.connect(t, "bob"), h.connect(t, "dave")
		synctest.Wait()
		alice.ask(map[string]any{"type": "invite", "room": "secret", "user": "bob"})
		bob.ask(map[string]any{"type": "join", "room": "secret"})
		b1 := only(t, "bob sends", bob.ask(map[string]any{"type": "send", "room": "secret", "text": "bob's words"}), "message").ID

		wantError(t, "bob edits alice's", bob.ask(map[string]any{"type": "edit", "room": "secret", "id": a1, "text": "mine now"}), "forbidden")
		wantError(t, "bob deletes alice's", bob.ask(map[string]any{"type": "delete", "room": "secret", "id": a1}), "forbidden")
		wantError(t, "no such message", alice.ask(map[string]any{"type": "edit", "room": "secret", "id": 999, "text": "x"}), "not_found")

		got := alice.ask(map[string]any{"type": "edit", "room": "secret", "id": a1, "text": "final text", "ref": "e-1"})
		ed := only(t, "edit", got, "edited")
		if ed.ID != a1 || ed.Text != "final text" || ed.Ref != "e-1" || ed.Change <= b1 || ed.EditedAt == "" {
			t.Errorf("alice's edited frame %s", ed.raw)
		}
		bed := only(t, "bob's copy", bob.received("edited"), "edited")
		if bed.Ref != "" || bed.Text != "final text" || bed.Change != ed.Change {
			t.Errorf("bob's edited frame %s", bed.raw)
		}
		// The owner deletes bob's message.
		del := only(t, "delete", alice.ask(map[string]any{"type": "delete", "room": "secret", "id": b1, "ref": "d-1"}), "deleted")
		if del.ID != b1 || del.Ref != "d-1" || del.Change <= ed.Change {
			t.Errorf("deleted frame %s", del.raw)
		}
		only(t, "bob's copy", bob.received("deleted"), "deleted")
		wantError(t, "edit a deleted message", bob.ask(map[string]any{"type": "edit", "room": "secret", "id": b1, "text": "back"}), "not_found")
		wantError(t, "delete twice", alice.ask(map[string]any{"type": "delete", "room": "secret", "id": b1}), "not_found")

		check := func(what string, ms []frame) {
			t.Helper()
			if len(ms) != 2 {
				t.Fatalf("%s: %d messages, want 2", what, len(ms))
			}
			if ms[0].ID != a1 || ms[0].Text != "final text" || ms[0].EditedAt == "" {
				t.Errorf("%s: edited message %+v", what, ms[0])
			}
			// user_id decodes to a pointer: nil means the field is absent.
			if ms[1].ID != b1 || !ms[1].Deleted || ms[1].Text != "" || ms[1].User != "" || ms[1].UserID != nil {
				t.Errorf("%s: deleted message %+v", what, ms[1])
			}
		}
		h1 := only(t, "history", bob.ask(map[string]any{"type": "history", "room": "secret"}), "history")
		check("history", h1.Messages)
		// A new socket's join takes its history from the room's cache.
		bob2 := h.connect(t, "bob")
		synctest.Wait()
		h2 := only(t, "join", bob2.ask(map[string]any{"type": "join", "room": "secret"}), "history")
		check("join", h2.Messages)

		// An admin may delete any message of a room they read; a member not.
		d1 := only(t, "dave sends", dave.ask(map[string]any{"type": "send", "room": "general", "text": "spam"}), "message").ID
		wantError(t, "bob deletes dave's", bob.ask(map[string]any{"type": "delete", "room": "general", "id": d1}), "forbidden")
		h.store.setRole("bob", store.RoleAdmin)
		only(t, "admin deletes", bob.ask(map[string]any{"type": "delete", "room": "general", "id": d1}), "deleted")

		time.Sleep(2 * scrubDelay)
		synctest.Wait()
		if n := h.store.scrubCount(); n < 1 {
			t.Errorf("%d scrubs after deletes, want at least 1", n)
		}
	})
}

// A scrub that fails is retried each scrubRetry until it succeeds; several
// deletes in a moment cost one scrub.
func TestScrubCoalescedAndRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		alice := h.connect(t, "alice")
		synctest.Wait()
		var ids []int64
		for i := range 3 {
			ids = append(ids, only(t, "send", alice.ask(map[string]any{"type": "send", "room": "general", "text": fmt.Sprint(i)}), "message").ID)
		}
		h.store.mu.Lock()
		h.store.scrubErr = errors.New("database is busy")
		h.store.mu.Unlock()
		for _, id := range ids {
			alice.ask(map[string]any{"type": "delete", "room": "general", "id": id})
		}
		time.Sleep(5 * scrubRetry)
		synctest.Wait()
		if n := h.store.scrubCount(); n != 0 {
			t.Fatalf("%d scrubs succeeded while the store failed them", n)
		}
		h.store.mu.Lock()
		h.store.scrubErr = nil
		h.store.mu.Unlock()
		time.Sleep(5 * scrubRetry)
		synctest.Wait()
		if n := h.store.scrubCount(); n != 1 {
			t.Errorf("%d scrubs for three deletes and a retry, want 1", n)
		}
	})
}

// A resume (join with since) after edits and deletes of messages older than
// since delivers an edited and a deleted frame for them, then the new
// message: every row after since once, in order, no gap, no duplicate.
func TestResumeCoversChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		alice, bob := h.connect(t, "alice"), h.connect(t, "bob")
		synctest.Wait()
		var ids []int64
		for i := range 3 {
			ids = append(ids, only(t, "send", bob.ask(map[string]any{"type": "send", "room": "general", "text": fmt.Sprint("m", i)}), "message").ID)
		}
		since := ids[2]
		bob.conn.Close()
		synctest.Wait()
		// While bob is away.
		alice.ask(map[string]any{"type": "send", "room": "general", "text": "m3"})
		bob2 := h.connect(t, "bob")
		synctest.Wait()
		bob2.ask(map[string]any{"type": "edit", "room": "general", "id": ids[0], "text": "m0 edited"})
		bob2.ask(map[string]any{"type": "delete", "room": "general", "id": ids[1]})
		bob2.conn.Close()
		synctest.Wait()

		bob3 := h.connect(t, "bob")
		synctest.Wait()
		got := bob3.ask(map[string]any{"type": "join", "room": "general", "since": since})
		var seq []string
		var last int64
		for _, f := range got {
			switch f.Type {
			case "message":
				seq = append(seq, "message "+f.Text)
			case "edited":
				seq = append(seq, fmt.Sprintf("edited %d %s", f.ID-ids[0], f.Text))
			case "deleted":
				seq = append(seq, fmt.Sprintf("deleted %d", f.ID-ids[1]))
			case "joined":
				last = f.LastID
			}
		}
		want := []string{"message m3", "edited 0 m0 edited", "deleted 0"}
		if !slices.Equal(seq, want) {
			t.Errorf("resume delivered %q, want %q", seq, want)
		}
		if last != lastRowID(h) {
			t.Errorf("joined last %d, want the newest row %d", last, lastRowID(h))
		}
	})
}

func lastRowID(h *unitHub) int64 {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	return int64(len(h.store.msgs))
}

// A dm is opened by naming the others: the same room every time for the
// same people; the others hear invited when it is new; nobody else can
// read it, and nobody can be added to it.
func TestDM(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		alice, bob, carol := h.connect(t, "alice"), h.connect(t, "bob"), h.connect(t, "carol")
		synctest.Wait()
		j := only(t, "dm", alice.ask(map[string]any{"type": "dm", "users": []string{"bob"}}), "joined")
		if !strings.HasPrefix(j.Room, store.DMPrefix) || j.Kind != store.RoomDM || j.Role != store.MemberMember {
			t.Fatalf("joined after dm: %s", j.raw)
		}
		inv := only(t, "bob invited", bob.received(), "invited")
		if inv.Room != j.Room || inv.By != "alice" || inv.Kind != store.RoomDM {
			t.Errorf("bob's invited %s", inv.raw)
		}
		again := only(t, "dm again", bob.ask(map[string]any{"type": "dm", "users": []string{"alice"}}), "joined")
		if again.Room != j.Room {
			t.Errorf("bob's dm with alice is %s, alice's with bob %s", again.Room, j.Room)
		}
		if n := len(alice.received("invited")); n != 0 {
			t.Errorf("alice heard invited %d times for a dm that existed", n)
		}
		wantError(t, "carol joins", carol.ask(map[string]any{"type": "join", "room": j.Room}), "forbidden")
		wantError(t, "carol history", carol.ask(map[string]any{"type": "history", "room": j.Room}), "forbidden")
		wantError(t, "invite to a dm", alice.ask(map[string]any{"type": "invite", "room": j.Room, "user": "carol"}), "not_private")
		wantError(t, "carol invites to a dm", carol.ask(map[string]any{"type": "invite", "room": j.Room, "user": "carol"}), "forbidden")
		wantError(t, "unknown user", alice.ask(map[string]any{"type": "dm", "users": []string{"nobody"}}), "unknown_user")
		wantError(t, "dm with oneself", alice.ask(map[string]any{"type": "dm", "users": []string{"alice"}}), "bad_frame")
		wantError(t, "create a dm name", alice.ask(map[string]any{"type": "create", "room": "dm-mine"}), "bad_room")
		wantError(t, "join a dm name", alice.ask(map[string]any{"type": "join", "room": "dm-0000000000000099"}), "forbidden")
		ms := only(t, "members", alice.ask(map[string]any{"type": "members", "room": j.Room}), "members")
		if want := []memberFrame{{"alice", "member"}, {"bob", "member"}}; !slices.Equal(ms.Members, want) {
			t.Errorf("dm members %+v, want %+v", ms.Members, want)
		}
	})
}

// create refuses a name in use (room_exists), general included; private
// false makes a public room.
func TestCreate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		alice := h.connect(t, "alice")
		synctest.Wait()
		wantError(t, "general", alice.ask(map[string]any{"type": "create", "room": "general", "private": true}), "room_exists")
		j := only(t, "public", alice.ask(map[string]any{"type": "create", "room": "open"}), "joined")
		if j.Kind != store.RoomPublic || j.Role != "" {
			t.Errorf("joined a created public room: %s", j.raw)
		}
		wantError(t, "taken", alice.ask(map[string]any{"type": "create", "room": "open", "private": true}), "room_exists")
		bob := h.connect(t, "bob")
		synctest.Wait()
		only(t, "private", bob.ask(map[string]any{"type": "create", "room": "hidden", "private": true}), "joined")
		wantError(t, "taken by another", alice.ask(map[string]any{"type": "create", "room": "hidden"}), "room_exists")
	})
}

// A read position moved on one node reaches the user's sockets on the others.
func TestReadEchoAcrossNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hubs := newUnitCluster(t, 2, unitLimits())
		h := hubs[0]
		h.store.mu.Lock()
		h.store.readable = true
		h.store.mu.Unlock()
		alice, there := h.connect(t, "alice"), hubs[1].connect(t, "alice")
		synctest.Wait()
		id := only(t, "send", alice.ask(map[string]any{"type": "send", "room": "general", "text": "x"}), "message").ID
		alice.ask(map[string]any{"type": "read", "room": "general", "id": id})
		synctest.Wait()
		r := only(t, "read on the other node", there.received(), "read")
		if r.Room != "general" || r.ID != id {
			t.Errorf("read echo %s", r.raw)
		}
		if n := len(alice.received("read")); n != 0 {
			t.Errorf("the reading socket got its own read echo %d times", n)
		}
	})
}

// The unread list (on connect) leaves out a membership of a private room
// the user is not a member of, however it was left behind.
func TestUnreadListsOnlyReadableRooms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		privateRoom(t, h, "secret", "x")
		alice := h.connect(t, "alice")
		synctest.Wait()
		alice.ask(map[string]any{"type": "join", "room": "open"})
		bob := h.userID("bob")
		h.store.mu.Lock()
		h.store.rooms = map[int64][]string{h.ids["alice"]: {"secret", "open"}, bob: {"secret", "open"}}
		h.store.mu.Unlock()
		for user, want := range map[string][]string{"alice": {"secret", "open", "general"}, "bob": {"open", "general"}} {
			c := h.connect(t, user)
			synctest.Wait()
			var got []string
			for _, r := range only(t, user+" unread", c.received(), "unread").Rooms {
				got = append(got, r.Room)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s's unread rooms %v, want %v", user, got, want)
			}
		}
	})
}

// A removal that lands while a join is between its access check and
// entering the room (on either kind of join) keeps the socket out: the join
// asks again and is refused, and the socket gets nothing of the room.
func TestRemovalDuringJoin(t *testing.T) {
	for _, since := range []bool{false, true} {
		t.Run(fmt.Sprintf("since=%v", since), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newUnitHub(t, unitLimits())
				alice, _ := privateRoom(t, h, "secret", "before")
				bob := h.connect(t, "bob")
				synctest.Wait()
				alice.ask(map[string]any{"type": "invite", "room": "secret", "user": "bob"})
				bobID := h.ids["bob"]
				var once sync.Once
				h.store.mu.Lock()
				h.store.afterAccess = func(room string, userID int64) {
					if room == "secret" && userID == bobID {
						once.Do(func() {
							// alice removes bob now: the store first, then the sockets.
							h.store.RemoveMember(t.Context(), room, userID)
							h.removeFromRoom(userID, room, encodeRemoved(room))
						})
					}
				}
				h.store.mu.Unlock()
				join := map[string]any{"type": "join", "room": "secret"}
				if since {
					join["since"] = 0
				}
				got := bob.ask(join)
				alice.ask(map[string]any{"type": "send", "room": "secret", "text": "after"})
				time.Sleep(maxPresenceDelay)
				synctest.Wait()
				var seen []string
				for _, f := range bob.received() {
					if f.Room == "secret" || f.Type == "error" {
						seen = append(seen, f.Type+":"+f.Code)
					}
				}
				if !slices.Equal(seen, []string{"invited:", "removed:", "error:forbidden"}) {
					t.Errorf("bob got %v (answer to the join %v), want invited, removed, then forbidden only", seen, frameTypes(got))
				}
			})
		})
	}
}

// Opening a new dm counts against the room creation rate; opening one that
// exists does not.
func TestDMCountsAsRoomCreation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := unitLimits()
		lim.RoomCreateRate = throttle.Limit{Rate: 1.0 / 3600, Burst: 2}
		h := newUnitHub(t, lim)
		alice := h.connect(t, "alice")
		for _, u := range []string{"bob", "carol", "dave"} {
			h.userID(u)
		}
		synctest.Wait()
		only(t, "dm bob", alice.ask(map[string]any{"type": "dm", "users": []string{"bob"}}), "joined")
		only(t, "dm bob again", alice.ask(map[string]any{"type": "dm", "users": []string{"bob"}}), "joined")
		only(t, "dm carol", alice.ask(map[string]any{"type": "dm", "users": []string{"carol"}}), "joined")
		wantError(t, "dm dave", alice.ask(map[string]any{"type": "dm", "users": []string{"dave"}}), "rate_limited")
	})
}

// A public room that never had a message, pruned while a socket sat in it
// on one node, then made private on another: its first message does not
// reach the socket, which hears removed first.
func TestPrunedRoomMadePrivateElsewhere(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hubs := newUnitCluster(t, 2, unitLimits())
		carol := hubs[0].connect(t, "carol")
		synctest.Wait()
		carol.ask(map[string]any{"type": "join", "room": "x"})
		st := hubs[0].store
		st.mu.Lock()
		delete(st.kinds, "x") // pruned: it never had a message
		st.mu.Unlock()
		alice := hubs[1].connect(t, "alice")
		synctest.Wait()
		only(t, "create", alice.ask(map[string]any{"type": "create", "room": "x", "private": true}), "joined")
		only(t, "send", alice.ask(map[string]any{"type": "send", "room": "x", "text": "private now"}), "message")
		synctest.Wait()
		var seen []string
		for _, f := range carol.received() {
			if f.Room == "x" && f.Type != "presence" && f.Type != "history" && f.Type != "joined" {
				seen = append(seen, f.Type)
			}
		}
		if !slices.Equal(seen, []string{"removed"}) {
			t.Errorf("carol got %v of x, want only removed", seen)
		}
	})
}

// A room brought into memory after an edit of its newest message starts at
// the edit (the room's head), not at the message: the next message is not a
// gap to fill, so no member hears the edit again.
func TestRoomOpensAtItsHead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		alice := h.connect(t, "alice")
		synctest.Wait()
		alice.ask(map[string]any{"type": "join", "room": "town"})
		one := only(t, "send", alice.ask(map[string]any{"type": "send", "room": "town", "text": "one"}), "message").ID
		ed := only(t, "edit", alice.ask(map[string]any{"type": "edit", "room": "town", "id": one, "text": "one, fixed"}), "edited")
		alice.ask(map[string]any{"type": "leave", "room": "town"}) // the room leaves memory
		if h.roomFor("town") != nil {
			t.Fatal("town is still in memory with no member")
		}

		bob := h.connect(t, "bob")
		synctest.Wait()
		got := bob.ask(map[string]any{"type": "join", "room": "town"})
		if j := only(t, "bob joins", got, "joined"); j.LastID != ed.Change {
			t.Errorf("joined last_id %d, want the edit's %d", j.LastID, ed.Change)
		}
		alice.ask(map[string]any{"type": "join", "room": "town"})
		two := only(t, "send", alice.ask(map[string]any{"type": "send", "room": "town", "text": "two"}), "message").ID
		synctest.Wait()
		if fs := bob.received("edited"); len(fs) != 0 {
			t.Errorf("bob heard the edit again: %s", fs[0].raw)
		}
		if ids := bob.messageIDs("town"); !slices.Equal(ids, []int64{two}) {
			t.Errorf("bob's live messages %v, want [%d]", ids, two)
		}
	})
}
