package chat

// Mentions and typing over whole hubs in synctest bubbles (helpers in
// fakes_test.go and private_synctest_test.go).

import (
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestMentionNames(t *testing.T) {
	many := ""
	for i := range maxMentions + 5 {
		many += " @u" + string(rune('a'+i))
	}
	for _, tc := range []struct {
		text string
		want []string
		cut  bool
	}{
		{"no one", nil, false},
		{"@bob hi", []string{"bob"}, false},
		{"hi @Bob, @carol and @bob again", []string{"bob", "carol"}, false},
		{"mail bob@example.com or @", nil, false},
		{"(@dave_1-x)", []string{"dave_1-x"}, false},
		{"@" + strings.Repeat("a", maxAccountName+1) + " too long", nil, false},
		{"@ü @é", nil, false},
		{many, func() []string {
			var w []string
			for i := range maxMentions {
				w = append(w, "u"+string(rune('a'+i)))
			}
			return w
		}(), true},
	} {
		got, cut := mentionNames(tc.text)
		if !slices.Equal(got, tc.want) || cut != tc.cut {
			t.Errorf("mentionNames(%q) = %v, %v; want %v, %v", tc.text, got, cut, tc.want, tc.cut)
		}
	}
}

// A mention reaches every socket of a member of the room, on every node,
// whether or not it joined the room; not a non-member, not the author.
func TestMentionReachesMembersOnEveryNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hubs := newUnitCluster(t, 2, unitLimits())
		alice, _ := privateRoom(t, hubs[0], "ops", "first")
		bobHere, bobThere := hubs[0].connect(t, "bob"), hubs[1].connect(t, "bob")
		carolHere, carolThere := hubs[0].connect(t, "carol"), hubs[1].connect(t, "carol")
		synctest.Wait()
		only(t, "invite", alice.ask(map[string]any{"type": "invite", "room": "ops", "user": "bob"}), "members")
		synctest.Wait()

		m := only(t, "send", alice.ask(map[string]any{"type": "send", "room": "ops", "text": "@bob @carol @alice look"}), "message")
		synctest.Wait()
		for name, c := range map[string]*unitClient{"bob here": bobHere, "bob there": bobThere} {
			got := c.received("mention")
			if len(got) != 1 || got[0].Room != "ops" || got[0].ID != m.ID || got[0].User != "alice" || got[0].Text != "@bob @carol @alice look" {
				t.Errorf("%s: mention frames %+v; want one of message %d by alice", name, got, m.ID)
			}
			if n := len(c.received("message")); n != 0 {
				t.Errorf("%s got %d message frames of a room it did not join", name, n)
			}
		}
		for name, c := range map[string]*unitClient{"carol here": carolHere, "carol there": carolThere, "alice": alice} {
			if got := c.received("mention"); len(got) != 0 {
				t.Errorf("%s got mention frames %+v", name, got)
			}
		}

		// A public room: a member is whoever has it among their rooms.
		dave := hubs[1].connect(t, "dave")
		synctest.Wait()
		hubs[0].store.mu.Lock()
		hubs[0].store.rooms = map[int64][]string{hubs[0].userID("bob"): {"general"}}
		hubs[0].store.mu.Unlock()
		m = only(t, "send general", alice.ask(map[string]any{"type": "send", "room": "general", "text": "@dave @bob"}), "message")
		synctest.Wait()
		if got := bobThere.received("mention"); len(got) != 2 || got[1].ID != m.ID || got[1].Room != "general" {
			t.Errorf("bob's mentions after general: %+v", got)
		}
		if got := dave.received("mention"); len(got) != 0 {
			t.Errorf("dave, not a member of general on record, got %+v", got)
		}
	})
}

// Typing: one frame per socket and room per typingInterval reaches the
// room's other users (not the typist's own sockets, not a non-member); more
// are dropped without an answer; after the interval another goes through.
func TestTypingIsLimitedAndReachesOnlyOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newUnitHub(t, unitLimits())
		a1, a2, bob, carol := h.connect(t, "alice"), h.connect(t, "alice"), h.connect(t, "bob"), h.connect(t, "carol")
		synctest.Wait()
		for _, c := range []*unitClient{a1, a2, bob} {
			only(t, "join", c.ask(map[string]any{"type": "join", "room": "dev"}), "joined")
		}
		typing := map[string]any{"type": "typing", "room": "dev"}
		for range 5 {
			a1.send(typing)
		}
		synctest.Wait()
		check := func(when string, wantBob int) {
			t.Helper()
			got := bob.received("typing")
			if len(got) != wantBob {
				t.Fatalf("%s: bob got %d typing frames; want %d", when, len(got), wantBob)
			}
			for _, f := range got {
				if f.Room != "dev" || f.User != "alice" {
					t.Errorf("%s: typing frame %s", when, f.raw)
				}
			}
			for name, c := range map[string]*unitClient{"alice's other socket": a2, "carol": carol} {
				if n := len(c.received("typing")); n != 0 {
					t.Errorf("%s: %s got %d typing frames", when, name, n)
				}
			}
			if got := a1.received("typing", "error"); len(got) != 0 {
				t.Errorf("%s: the typist got %v", when, frameTypes(got))
			}
		}
		check("five at once", 1)
		// Another socket of the same user, or a room not joined: nothing either.
		a2.send(typing)
		a1.send(map[string]any{"type": "typing", "room": "elsewhere"})
		synctest.Wait()
		check("a second socket", 2)
		time.Sleep(typingInterval - time.Millisecond)
		a1.send(typing)
		synctest.Wait()
		check("just before the interval", 2)
		time.Sleep(time.Millisecond)
		a1.send(typing)
		synctest.Wait()
		check("after the interval", 3)
		// Bob typing reaches alice's sockets, not his own.
		bob.send(typing)
		synctest.Wait()
		for _, c := range []*unitClient{a1, a2} {
			if got := c.received("typing"); len(got) != 1 || got[0].User != "bob" {
				t.Errorf("alice got %+v; want bob typing", got)
			}
		}
		// A flood of typing is never a strike: the socket stays open.
		for range 100 {
			a1.send(typing)
		}
		synctest.Wait()
		if code := a1.closeCode(); code != 0 {
			t.Errorf("a flood of typing closed the socket: %d", code)
		}
	})
}

// Typing reaches the room's members on the other nodes, never a non-member.
func TestTypingAcrossNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hubs := newUnitCluster(t, 2, unitLimits())
		alice, aliceThere := hubs[0].connect(t, "alice"), hubs[1].connect(t, "alice")
		bob, carol := hubs[1].connect(t, "bob"), hubs[1].connect(t, "carol")
		synctest.Wait()
		for _, c := range []*unitClient{alice, aliceThere, bob} {
			only(t, "join", c.ask(map[string]any{"type": "join", "room": "dev"}), "joined")
		}
		synctest.Wait()
		alice.send(map[string]any{"type": "typing", "room": "dev"})
		synctest.Wait()
		if got := bob.received("typing"); len(got) != 1 || got[0].User != "alice" || got[0].Room != "dev" {
			t.Errorf("bob on the other node got %+v; want alice typing in dev", got)
		}
		for name, c := range map[string]*unitClient{"carol": carol, "alice's socket there": aliceThere} {
			if got := c.received("typing"); len(got) != 0 {
				t.Errorf("%s got %+v", name, got)
			}
		}
	})
}
