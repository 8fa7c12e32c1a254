package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"securechat/app/store"
)

// by is a message by the user of id uid in room at base+ms milliseconds.
func by(room string, uid int64, user, text string, ms int) store.NewMessage {
	m := msg(room, user, text, ms)
	m.UserID = uid
	return m
}

// edit is uid's edit of message target to text; del is uid's delete of it.
func edit(room string, uid int64, target int64, text string, ms int) store.NewMessage {
	m := by(room, uid, "", text, ms)
	m.Kind, m.Target = store.KindEdit, target
	return m
}

func del(room string, uid int64, target int64, ms int) store.NewMessage {
	m := by(room, uid, "", "", ms)
	m.Kind, m.Target = store.KindDelete, target
	return m
}

// change stores msgs (messages and changes) and returns what AppendMessages did.
func (e *env) change(t *testing.T, msgs ...store.NewMessage) []store.Message {
	t.Helper()
	got, err := e.AppendMessages(e.ctx, msgs)
	must(t, err, "append changes")
	if len(got) != len(msgs) {
		t.Fatalf("AppendMessages returned %d messages for %d", len(got), len(msgs))
	}
	for i, m := range got {
		if m.Kind != msgs[i].Kind || m.Target != msgs[i].Target || m.Room != msgs[i].Room {
			t.Errorf("AppendMessages[%d] = %+v; want kind %q target %d in %s", i, m, msgs[i].Kind, msgs[i].Target, msgs[i].Room)
		}
	}
	return got
}

// everything reads every row of room.
func (e *env) everything(t *testing.T, room string) []store.Message {
	t.Helper()
	got, err := e.MessagesAfter(e.ctx, room, 0, 1000)
	must(t, err, "read "+room)
	return got
}

// history reads the message rows of room as history shows them.
func (e *env) history(t *testing.T, room string) []store.Message {
	t.Helper()
	got, err := e.MessagesBefore(e.ctx, room, 0, 1000)
	must(t, err, "read history of "+room)
	return got
}

// contiguous fails t unless the rows' seqs are 1, 2, 3… and their ids increase.
func contiguous(t *testing.T, what string, rows []store.Message) {
	t.Helper()
	if got := seqs(rows); !slices.Equal(got, span(1, int64(len(rows)))) {
		t.Errorf("%s: seqs %v; want 1..%d", what, got, len(rows))
	}
	for i := 1; i < len(rows); i++ {
		if rows[i].ID <= rows[i-1].ID {
			t.Errorf("%s: id %d after %d", what, rows[i].ID, rows[i-1].ID)
		}
	}
}

var changeCases = []scenario{
	{"edits and deletes are rows of the room's sequence", func(t *testing.T, e *env) {
		const alice, bob, carol = 1, 2, 3
		m := e.appendAll(t, by("dev", alice, "alice", "first", 0), by("dev", bob, "bob", "second", 1), by("dev", alice, "alice", "third", 2))
		e.appendAll(t, by("side", bob, "bob", "elsewhere", 3))
		ch := e.change(t, edit("dev", alice, m[0].ID, "first, fixed", 1000), del("dev", carol, m[1].ID, 2000))
		if ch[0].ID <= m[2].ID || ch[1].ID <= ch[0].ID || ch[0].Seq != 4 || ch[1].Seq != 5 {
			t.Errorf("changes stored as %+v; want ids above %d, seqs 4 and 5", ch, m[2].ID)
		}
		if ch[0].Text != "first, fixed" || ch[1].Text != "" || ch[0].UserID != alice || ch[1].UserID != carol {
			t.Errorf("changes returned as %+v", ch)
		}
		more := e.appendAll(t, by("dev", bob, "bob", "fourth", 3000))
		if more[0].Seq != 6 {
			t.Errorf("a message after two changes has seq %d; want 6", more[0].Seq)
		}

		// Replay: every row in id order, changes as they were stored.
		all := e.everything(t, "dev")
		contiguous(t, "MessagesAfter", all)
		type row struct {
			kind   string
			target int64
			text   string
		}
		var got []row
		for _, r := range all {
			got = append(got, row{r.Kind, r.Target, r.Text})
		}
		want := []row{
			{"", 0, "first, fixed"}, {"", 0, ""}, {"", 0, "third"},
			{store.KindEdit, m[0].ID, "first, fixed"}, {store.KindDelete, m[1].ID, ""}, {"", 0, "fourth"},
		}
		if !slices.Equal(got, want) {
			t.Errorf("MessagesAfter = %+v; want %+v", got, want)
		}
		if after, err := e.MessagesAfter(e.ctx, "dev", m[2].ID, 100); err != nil || len(after) != 3 || after[0].ID != ch[0].ID {
			t.Errorf("MessagesAfter(third) = %+v, %v; want the two changes and fourth", after, err)
		}

		// History: only messages, as they are now.
		hist := e.history(t, "dev")
		if len(hist) != 4 || hist[0].ID != m[0].ID || hist[1].ID != m[1].ID || hist[2].ID != m[2].ID || hist[3].ID != more[0].ID {
			t.Fatalf("MessagesBefore = %+v; want the 4 messages", hist)
		}
		if hist[0].Text != "first, fixed" || hist[0].Kind != store.KindMessage || hist[0].Deleted || hist[0].User != "alice" {
			t.Errorf("edited message = %+v", hist[0])
		}
		checkTime(t, "EditedAt", hist[0].EditedAt, at(time.Second))
		if d := hist[1]; !d.Deleted || d.Text != "" || d.User != "" || d.UserID != 0 || !d.EditedAt.IsZero() {
			t.Errorf("deleted message = %+v; want deleted, no text, no user", d)
		}
		if h := hist[2]; h.Deleted || !h.EditedAt.IsZero() || h.Text != "third" {
			t.Errorf("untouched message = %+v", h)
		}
		if got, err := e.MessagesBefore(e.ctx, "dev", more[0].ID, 2); err != nil || len(got) != 2 || got[1].ID != m[2].ID {
			t.Errorf("MessagesBefore(fourth, 2) = %+v, %v; want second and third (no change rows)", got, err)
		}

		// RoomHead follows every row.
		if id, seq, err := e.RoomHead(e.ctx, "dev"); err != nil || id != more[0].ID || seq != 6 {
			t.Errorf("RoomHead = %d, %d, %v; want %d, 6", id, seq, err, more[0].ID)
		}

		// Message reads one message row of a room.
		for _, tc := range []struct {
			room string
			id   int64
			want string // "" not found
		}{
			{"dev", m[0].ID, "first, fixed"}, {"dev", m[2].ID, "third"},
			{"dev", ch[0].ID, ""}, {"dev", ch[1].ID, ""}, {"side", m[0].ID, ""}, {"dev", 1 << 40, ""},
		} {
			got, err := e.Message(e.ctx, tc.room, tc.id)
			if tc.want == "" {
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Message(%s, %d) = %+v, %v; want ErrNotFound", tc.room, tc.id, got, err)
				}
				continue
			}
			if err != nil || got.ID != tc.id || got.Text != tc.want || got.Room != tc.room {
				t.Errorf("Message(%s, %d) = %+v, %v; want text %q", tc.room, tc.id, got, err, tc.want)
			}
		}
		if d, err := e.Message(e.ctx, "dev", m[1].ID); err != nil || !d.Deleted || d.Text != "" {
			t.Errorf("Message(deleted) = %+v, %v; want it, deleted", d, err)
		}
		if got, err := e.Message(e.ctx, "dev", m[0].ID); err == nil {
			checkTime(t, "Message EditedAt", got.EditedAt, at(time.Second))
		}
	}},

	{"a change whose target does not qualify stores nothing", func(t *testing.T, e *env) {
		const alice, bob = 1, 2
		m := e.appendAll(t, by("dev", alice, "alice", "mine", 0), by("dev", bob, "bob", "bobs", 1),
			by("dev", 0, "ghost", "by nobody", 2), by("dev", alice, "alice", "gone", 3))
		other := e.appendAll(t, by("side", alice, "alice", "elsewhere", 4))
		ch := e.change(t, del("dev", alice, m[3].ID, 5), edit("dev", alice, m[0].ID, "mine, fixed", 6))
		for _, tc := range []struct {
			name string
			c    store.NewMessage
		}{
			{"edit by another user", edit("dev", bob, m[0].ID, "hijacked", 10)},
			{"edit by user 0", edit("dev", 0, m[2].ID, "by nobody, fixed", 10)},
			{"edit of a missing message", edit("dev", alice, 1<<40, "x", 10)},
			{"edit of another room's message", edit("dev", alice, other[0].ID, "x", 10)},
			{"edit of a change", edit("dev", alice, ch[1].ID, "x", 10)},
			{"edit of a deleted message", edit("dev", alice, m[3].ID, "back", 10)},
			{"delete of a deleted message", del("dev", alice, m[3].ID, 10)},
			{"delete of a missing message", del("dev", alice, 1<<40, 10)},
			{"delete of another room's message", del("dev", alice, other[0].ID, 10)},
			{"delete of a change", del("dev", alice, ch[0].ID, 10)},
			{"edit in a room that does not exist", edit("nowhere", alice, m[0].ID, "x", 10)},
		} {
			got := e.change(t, tc.c)
			if got[0].ID != 0 || got[0].Seq != 0 {
				t.Errorf("%s: stored as %+v; want ID 0", tc.name, got[0])
			}
		}
		// Between messages in one batch: the others are stored, numbered on.
		got := e.change(t, by("dev", bob, "bob", "before", 20), edit("dev", bob, m[0].ID, "hijacked", 21), by("dev", bob, "bob", "after", 22))
		if got[0].ID == 0 || got[1].ID != 0 || got[2].ID == 0 || got[0].Seq != 7 || got[2].Seq != 8 {
			t.Errorf("batch with a refused edit = %+v; want seqs 7, -, 8", got)
		}
		all := e.everything(t, "dev")
		contiguous(t, "dev after refused changes", all)
		if len(all) != 8 {
			t.Errorf("dev has %d rows; want 8 (4 messages, 2 changes, 2 messages)", len(all))
		}
		for _, r := range all {
			if strings.Contains(r.Text, "hijacked") || strings.Contains(r.Text, "back") || r.Text == "by nobody, fixed" {
				t.Errorf("a refused change left %+v", r)
			}
		}
		if h := e.history(t, "dev"); h[0].Text != "mine, fixed" || h[1].Text != "bobs" || h[2].Text != "by nobody" {
			t.Errorf("history after refused changes = %+v", h)
		}
		if ok, _ := e.RoomExists(e.ctx, "nowhere"); ok {
			t.Errorf("a refused change created its room")
		}
		if id, seq, err := e.RoomHead(e.ctx, "dev"); err != nil || id != got[2].ID || seq != 8 {
			t.Errorf("RoomHead = %d, %d, %v; want %d, 8", id, seq, err, got[2].ID)
		}
	}},

	{"a delete leaves no version of the text", func(t *testing.T, e *env) {
		const alice, owner = 1, 2
		m := e.appendAll(t, by("dev", alice, "alice", "version one", 0), by("dev", alice, "alice", "batch one", 1))
		e.change(t, edit("dev", alice, m[0].ID, "version two", 10))
		e.change(t, edit("dev", alice, m[0].ID, "version three", 20))
		d := e.change(t, del("dev", owner, m[0].ID, 30))
		if d[0].ID == 0 || d[0].UserID != owner {
			t.Fatalf("delete = %+v; want stored, by the owner", d[0])
		}
		// An edit and a delete of one message in one batch.
		b := e.change(t, edit("dev", alice, m[1].ID, "batch two", 40), del("dev", alice, m[1].ID, 41), edit("dev", alice, m[1].ID, "batch three", 42))
		if b[0].ID == 0 || b[1].ID == 0 || b[2].ID != 0 {
			t.Errorf("edit, delete, edit in one batch = %+v; want stored, stored, refused", b)
		}
		// A delete carries no text even if one is given.
		withText := del("dev", alice, 0, 50)
		withText.Text = "leaked"
		m2 := e.appendAll(t, by("dev", alice, "alice", "later", 49))
		withText.Target = m2[0].ID
		if got := e.change(t, withText, withText); got[0].Text != "" || got[1].ID != 0 || got[1].Text != "" {
			t.Errorf("two deletes with text returned %+v; want the first stored, both without text", got)
		}
		for _, r := range e.everything(t, "dev") {
			for _, text := range []string{"version", "batch", "later", "leaked"} {
				if strings.Contains(r.Text, text) {
					t.Errorf("after the deletes, row %d (%s of %d) still holds %q", r.ID, r.Kind, r.Target, r.Text)
				}
			}
		}
		for _, h := range e.history(t, "dev") {
			if !h.Deleted {
				t.Errorf("history = %+v; want every message deleted", h)
			}
		}
	}},

	{"a message deleted from several nodes at once is deleted once", func(t *testing.T, e *env) {
		m := e.appendAll(t, by("dev", 1, "alice", "a", 0), by("dev", 1, "alice", "b", 1))
		handles := make([]Store, nodes)
		for n := range handles {
			handles[n] = e.handle(t)
		}
		got := make([][]store.Message, nodes)
		errs := make([]error, nodes)
		var wg sync.WaitGroup
		for n, s := range handles {
			wg.Go(func() {
				// Each with a message of its own, so refused and stored rows mix.
				got[n], errs[n] = s.AppendMessages(e.ctx, []store.NewMessage{
					by("dev", 2, "bob", fmt.Sprint("from ", n), 10), del("dev", 1, m[0].ID, 11), edit("dev", 1, m[1].ID, fmt.Sprint("b", n), 12),
				})
			})
		}
		wg.Wait()
		deletes := 0
		for n := range handles {
			if errs[n] != nil {
				t.Fatalf("node %d: %v", n, errs[n])
			}
			if got[n][0].ID == 0 || got[n][2].ID == 0 {
				t.Errorf("node %d: message or edit not stored: %+v", n, got[n])
			}
			if got[n][1].ID != 0 {
				deletes++
			}
		}
		if deletes != 1 {
			t.Errorf("%d deletes of one message stored; want 1", deletes)
		}
		all := e.everything(t, "dev")
		contiguous(t, "dev", all)
		if len(all) != 2+2*nodes+1 {
			t.Errorf("dev has %d rows; want %d", len(all), 2+2*nodes+1)
		}
	}},

	{"changes do not move the room's activity", func(t *testing.T, e *env) {
		m := e.appendAll(t, by("dev", 1, "alice", "a", 1000), by("dev", 1, "alice", "b", 1001))
		e.appendAll(t, by("side", 1, "alice", "c", 2000))
		c := e.change(t, edit("dev", 1, m[0].ID, "a2", 5000), del("dev", 1, m[1].ID, 6000))
		rooms := e.allRooms(t)
		if got := names(rooms); !slices.Equal(got, []string{"side", "dev"}) {
			t.Fatalf("rooms = %v; want side before dev (changes are not activity)", got)
		}
		checkTime(t, "dev LastActivity", rooms[1].LastActivity, m[1].TS)
		if rooms[1].LastID != c[1].ID {
			t.Errorf("dev LastID = %d; want the delete's %d", rooms[1].LastID, c[1].ID)
		}
	}},

	{"unread counts live messages only", func(t *testing.T, e *env) {
		must(t, e.JoinRoom(e.ctx, 7, "dev", 0, base), "join dev")
		m := e.appendAll(t, by("dev", 1, "alice", "a", 0), by("dev", 1, "alice", "b", 1), by("dev", 1, "alice", "c", 2))
		if got := e.members(t, 7, 999)[0].Unread; got != 3 {
			t.Errorf("unread = %d; want 3", got)
		}
		e.change(t, edit("dev", 1, m[0].ID, "a2", 10), del("dev", 1, m[1].ID, 11))
		if got := e.members(t, 7, 999)[0].Unread; got != 2 {
			t.Errorf("unread after an edit and a delete = %d; want 2", got)
		}
		// Read up to the last message: the changes after it are not unread.
		_, _, err := e.MarkRead(e.ctx, 7, "dev", m[2].ID, at(time.Second))
		must(t, err, "mark read")
		e.change(t, edit("dev", 1, m[2].ID, "c2", 20))
		if got := e.members(t, 7, 999)[0].Unread; got != 0 {
			t.Errorf("unread after a later edit = %d; want 0", got)
		}
	}},
}
