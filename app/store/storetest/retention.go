package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"securechat/app/store"
)

const day = 24 * time.Hour

// expireAll calls ExpireMessages until it deletes fewer than limit and
// returns how many it deleted in each call.
func (e *env) expireAll(t *testing.T, cutoff, now time.Time, limit int) []int {
	t.Helper()
	var calls []int
	for {
		n, err := e.ExpireMessages(e.ctx, cutoff, now, limit)
		must(t, err, "expire messages")
		calls = append(calls, n)
		if n < limit || len(calls) > 100 {
			return calls
		}
	}
}

var retentionCases = []scenario{
	{"ServerCutoffKeepsNewer", func(t *testing.T, e *env) {
		uid := e.user(t, "ann")
		// old (before the cutoff), edited after it; newer, edited; one at the cutoff.
		m := e.change(t, by("a", uid, "ann", "old secret", 0), by("a", uid, "ann", "newer", 2000), by("a", uid, "ann", "at cutoff", 1000))
		ch := e.change(t, edit("a", uid, m[0].ID, "old secret v2", 3000), edit("a", uid, m[1].ID, "newer v2", 3000))
		other := e.change(t, by("b", uid, "ann", "old in b", 500))
		if n := e.expireAll(t, at(1000*time.Millisecond), at(day), 100); !slices.Equal(n, []int{2}) {
			t.Errorf("ExpireMessages calls deleted %v; want [2] (the old message of a and of b)", n)
		}
		want := []int64{m[1].ID, m[2].ID, ch[1].ID} // the old message's edit went with it
		if got := ids(e.everything(t, "a")); !slices.Equal(got, want) {
			t.Errorf("rows of a after expiry = %v; want %v", got, want)
		}
		if got := ids(e.history(t, "a")); !slices.Equal(got, []int64{m[1].ID, m[2].ID}) {
			t.Errorf("history of a after expiry = %v; want %v", got, []int64{m[1].ID, m[2].ID})
		}
		if got := e.everything(t, "b"); len(got) != 0 {
			t.Errorf("b after expiry = %+v; want nothing (%d expired)", got, other[0].ID)
		}
		// Search agrees with history: the index lost the expired texts.
		for text, want := range map[string]int{"old secret": 0, "newer": 1} {
			got, err := e.SearchMessages(e.ctx, store.SearchQuery{UserID: uid, Text: text, Limit: 10})
			if err != nil || len(got) != want {
				t.Errorf("search %q after expiry: %d results, %v; want %d", text, len(got), err, want)
			}
		}
		if _, err := e.Message(e.ctx, "a", m[0].ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Message(expired) = %v; want ErrNotFound", err)
		}
		// A resume since an id older than the retention gets what remains.
		after, err := e.MessagesAfter(e.ctx, "a", m[0].ID-1, 100)
		must(t, err, "read after the expired")
		if got := ids(after); !slices.Equal(got, want) {
			t.Errorf("MessagesAfter(before the expired) = %v; want %v", got, want)
		}
		// The sequence goes on: the room's head is untouched.
		next := e.change(t, by("a", uid, "ann", "after", 4000))
		if next[0].Seq != ch[1].Seq+1 {
			t.Errorf("seq after expiry = %d; want %d", next[0].Seq, ch[1].Seq+1)
		}
	}},
	{"RoomRetentionOnlyShortens", func(t *testing.T, e *env) {
		uid := e.user(t, "ann")
		now := at(10 * day)
		old := e.change(t, by("short", uid, "ann", "3 days old", int((7*day).Milliseconds())),
			by("long", uid, "ann", "3 days old", int((7*day).Milliseconds())),
			by("plain", uid, "ann", "3 days old", int((7*day).Milliseconds())))
		keep := e.change(t, by("short", uid, "ann", "hour old", int((10*day-time.Hour).Milliseconds())),
			by("long", uid, "ann", "hour old", int((10*day-time.Hour).Milliseconds())))
		must(t, e.SetRoomRetention(e.ctx, "short", 2), "set retention of short")
		must(t, e.SetRoomRetention(e.ctx, "long", 30), "set retention of long")
		got, err := e.RoomRetentions(e.ctx)
		must(t, err, "read retentions")
		if len(got) != 2 || got["short"] != 2 || got["long"] != 30 {
			t.Errorf("RoomRetentions = %v; want short 2, long 30", got)
		}
		// No server default: only short's own retention applies.
		if n := e.expireAll(t, time.Time{}, now, 100); !slices.Equal(n, []int{1}) {
			t.Errorf("expiry without a server default deleted %v; want [1]", n)
		}
		if got := ids(e.everything(t, "short")); !slices.Equal(got, []int64{keep[0].ID}) {
			t.Errorf("short = %v; want %v", got, []int64{keep[0].ID})
		}
		if got := ids(e.everything(t, "long")); !slices.Equal(got, []int64{old[1].ID, keep[1].ID}) {
			t.Errorf("long = %v; want both", got)
		}
		// A server default of 1 day wins over long's 30: the room cannot keep longer.
		if n := e.expireAll(t, now.Add(-day), now, 100); !slices.Equal(n, []int{2}) {
			t.Errorf("expiry with a 1-day default deleted %v; want [2]", n)
		}
		if got := ids(e.everything(t, "long")); !slices.Equal(got, []int64{keep[1].ID}) {
			t.Errorf("long under a shorter default = %v; want %v", got, []int64{keep[1].ID})
		}
		if got := e.everything(t, "plain"); len(got) != 0 {
			t.Errorf("plain = %+v; want nothing", got)
		}
		// 0 gives the room back the server default.
		must(t, e.SetRoomRetention(e.ctx, "short", 0), "reset retention of short")
		if got, _ := e.RoomRetentions(e.ctx); len(got) != 1 {
			t.Errorf("RoomRetentions after reset = %v; want long only", got)
		}
	}},
	{"Batches", func(t *testing.T, e *env) {
		uid := e.user(t, "ann")
		var msgs []store.NewMessage
		for i := range 5 {
			msgs = append(msgs, by("a", uid, "ann", "old", i))
		}
		msgs = append(msgs, by("a", uid, "ann", "new", 5000))
		e.change(t, msgs...)
		if n := e.expireAll(t, at(time.Second), at(day), 2); !slices.Equal(n, []int{2, 2, 1}) {
			t.Errorf("batches = %v; want [2 2 1]", n)
		}
		if got := e.everything(t, "a"); len(got) != 1 || got[0].Text != "new" {
			t.Errorf("left = %+v; want the new message", got)
		}
		if n := e.expireAll(t, time.Time{}, at(day), 2); !slices.Equal(n, []int{0}) {
			t.Errorf("no retention anywhere deleted %v; want [0]", n)
		}
	}},
	{"RoomAndServerCutoffsTogether", func(t *testing.T, e *env) {
		uid := e.user(t, "ann")
		now := at(10 * day)
		d := func(days float64) int { return int((time.Duration(days * float64(day))).Milliseconds()) }
		msgs := e.change(t, by("short", uid, "ann", "day 1", d(1)), by("short", uid, "ann", "day 2", d(2)),
			by("short", uid, "ann", "day 7", d(7)), by("short", uid, "ann", "day 9.5", d(9.5)),
			by("plain", uid, "ann", "day 7", d(7)))
		must(t, e.SetRoomRetention(e.ctx, "short", 2), "set retention")
		// The server's cutoff (5 days) and short's (2 days) both take day 1 and 2:
		// each message is counted and deleted once.
		if n := e.expireAll(t, now.Add(-5*day), now, 100); !slices.Equal(n, []int{3}) {
			t.Errorf("expiry deleted %v; want [3]", n)
		}
		if got := ids(e.everything(t, "short")); !slices.Equal(got, []int64{msgs[3].ID}) {
			t.Errorf("short = %v; want %v", got, []int64{msgs[3].ID})
		}
		if got := ids(e.everything(t, "plain")); !slices.Equal(got, []int64{msgs[4].ID}) {
			t.Errorf("plain = %v; want %v (5 days keep it)", got, []int64{msgs[4].ID})
		}
	}},
	{"RoomRetentionBatches", func(t *testing.T, e *env) {
		uid := e.user(t, "ann")
		var msgs []store.NewMessage
		for i := range 5 {
			msgs = append(msgs, by("short", uid, "ann", "old", i))
		}
		msgs = append(msgs, by("short", uid, "ann", "new", int((2*day).Milliseconds())))
		e.change(t, msgs...)
		must(t, e.SetRoomRetention(e.ctx, "short", 1), "set retention")
		if n := e.expireAll(t, time.Time{}, at(2*day+time.Hour), 2); !slices.Equal(n, []int{2, 2, 1}) {
			t.Errorf("batches = %v; want [2 2 1]", n)
		}
		if got := e.everything(t, "short"); len(got) != 1 || got[0].Text != "new" {
			t.Errorf("left = %+v; want the new message", got)
		}
	}},
	{"SetRetentionErrors", func(t *testing.T, e *env) {
		if err := e.SetRoomRetention(e.ctx, "nowhere", 3); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("retention of a missing room = %v; want ErrNotFound", err)
		}
		_, err := e.TouchRoom(e.ctx, "a", base)
		must(t, err, "touch room")
		for _, days := range []int{-1, store.MaxRetentionDays + 1} {
			if err := e.SetRoomRetention(e.ctx, "a", days); err == nil || errors.Is(err, store.ErrNotFound) {
				t.Errorf("retention %d days = %v; want an error", days, err)
			}
		}
	}},
}
