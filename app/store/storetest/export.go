package storetest

import (
	"testing"

	"securechat/app/store"
)

// ids are the ids of msgs.
func ids(msgs []store.Message) []int64 {
	out := []int64{}
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

var exportCases = []scenario{
	{"a user's messages, only theirs, page by page", func(t *testing.T, e *env) {
		alice, bob := msg("dev", "alice", "a1", 0), msg("dev", "bob", "b1", 1)
		alice.UserID, bob.UserID = 7, 8
		alice2, bob2 := alice, bob
		alice2.Room, alice2.Text = "ops", "a2"
		bob2.Room, bob2.Text = "secret", "b2"
		alice3 := alice
		alice3.Text = "a3"
		got := e.appendAll(t, alice, bob, alice2, bob2, alice3)
		want := []int64{got[0].ID, got[2].ID, got[4].ID}

		var all []store.Message
		after := int64(0)
		for {
			page, err := e.UserMessages(e.ctx, 7, after, 2)
			must(t, err, "user messages")
			if len(page) > 2 {
				t.Fatalf("page of %d; asked for 2", len(page))
			}
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			after = page[len(page)-1].ID
		}
		if g := ids(all); len(g) != len(want) || g[0] != want[0] || g[1] != want[1] || g[2] != want[2] {
			t.Fatalf("alice's messages = %v; want %v", g, want)
		}
		for i, m := range all {
			if m.UserID != 7 || m.User != "alice" || m.Text != []string{"a1", "a2", "a3"}[i] {
				t.Errorf("message %d = %+v; want alice's a%d", i, m, i+1)
			}
		}
		checkTime(t, "ts", all[0].TS, at(0))
		if none, err := e.UserMessages(e.ctx, 9, 0, 10); err != nil || len(none) != 0 {
			t.Errorf("a user without messages: %v, %v; want none", ids(none), err)
		}
	}}, {"an export shows current text, not changes or deleted messages", func(t *testing.T, e *env) {
		m := e.change(t, by("dev", 7, "alice", "first", 0), by("dev", 7, "alice", "second", 1))
		e.change(t, edit("dev", 7, m[0].ID, "first, fixed", 2), del("dev", 7, m[1].ID, 3))
		got, err := e.UserMessages(e.ctx, 7, 0, 10)
		must(t, err, "user messages")
		if len(got) != 1 || got[0].ID != m[0].ID || got[0].Text != "first, fixed" || got[0].EditedAt.IsZero() || got[0].Kind != store.KindMessage {
			t.Fatalf("export = %+v; want only the edited first message, with its new text", got)
		}
	}},
}
