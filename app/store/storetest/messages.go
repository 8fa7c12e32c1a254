package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"securechat/app/store"
)

// msg is a new message in room at base+ms milliseconds.
func msg(room, user, text string, ms int) store.NewMessage {
	return store.NewMessage{Room: room, User: user, Text: text, TS: at(time.Duration(ms) * time.Millisecond)}
}

// appendAll stores msgs and checks what AppendMessages returns: the messages
// as given, in order, with increasing ids.
func (e *env) appendAll(t *testing.T, msgs ...store.NewMessage) []store.Message {
	t.Helper()
	got, err := e.AppendMessages(e.ctx, msgs)
	must(t, err, "append messages")
	if len(got) != len(msgs) {
		t.Fatalf("AppendMessages returned %d messages for %d", len(got), len(msgs))
	}
	for i, m := range got {
		n := msgs[i]
		if m.Room != n.Room || m.UserID != n.UserID || m.User != n.User || m.Text != n.Text || !stored(m.TS).Equal(stored(n.TS)) {
			t.Errorf("AppendMessages[%d] = %+v; want %+v", i, m, n)
		}
		if i > 0 && m.ID <= got[i-1].ID {
			t.Errorf("AppendMessages ids not increasing: %d after %d", m.ID, got[i-1].ID)
		}
	}
	return got
}

// seqs are the seqs of msgs.
func seqs(msgs []store.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

// span is the seqs from, from+1, …, to (none if to < from).
func span(from, to int64) []int64 {
	out := []int64{}
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

var messageCases = []scenario{
	{"append numbers per room", func(t *testing.T, e *env) {
		first := e.appendAll(t,
			msg("lobby", "alice", "one", 0),
			msg("lobby", "bob", "two", 1),
			msg("lobby", "alice", "three", 2))
		if got := seqs(first); !slices.Equal(got, span(1, 3)) {
			t.Errorf("first batch seqs = %v; want 1..3", got)
		}
		// A later call continues each room's numbering; a new room starts at
		// 1; ids keep increasing across calls and rooms.
		second := e.appendAll(t,
			msg("lobby", "alice", "four", 3),
			msg("side", "bob", "side one", 4),
			msg("lobby", "bob", "five", 5),
			msg("side", "alice", "side two", 6))
		if got, want := seqs(second), []int64{4, 1, 5, 2}; !slices.Equal(got, want) {
			t.Errorf("second batch seqs = %v; want %v", got, want)
		}
		if second[0].ID <= first[2].ID {
			t.Errorf("second batch starts at id %d, not above %d", second[0].ID, first[2].ID)
		}
		third := e.appendAll(t, msg("side", "bob", "side three", 7))
		if third[0].Seq != 3 {
			t.Errorf("side's third message has seq %d", third[0].Seq)
		}
	}},

	{"append nothing", func(t *testing.T, e *env) {
		got, err := e.AppendMessages(e.ctx, nil)
		must(t, err, "append no messages")
		if len(got) != 0 {
			t.Errorf("AppendMessages(nil) = %+v", got)
		}
		if rooms := e.allRooms(t); len(rooms) != 0 {
			t.Errorf("Rooms after appending nothing = %+v", rooms)
		}
	}},

	{"round trip", func(t *testing.T, e *env) {
		// Text is whatever valid UTF-8 a client sent, U+0000 included.
		texts := []string{"plain", "héllo wörld 👋", "nul\x00inside", "quote ' \" \\ ; --", "line\nbreak"}
		var in []store.NewMessage
		for i, text := range texts {
			in = append(in, msg("lobby", fmt.Sprintf("user%d", i), text, i*1000))
		}
		sent := e.appendAll(t, in...)
		got, err := e.MessagesAfter(e.ctx, "lobby", 0, 100)
		must(t, err, "read lobby")
		if len(got) != len(sent) {
			t.Fatalf("read %d messages; sent %d", len(got), len(sent))
		}
		for i, m := range got {
			want := sent[i]
			if m.ID != want.ID || m.Seq != want.Seq || m.Room != want.Room || m.User != want.User || m.Text != want.Text {
				t.Errorf("message %d read back as %+v; stored %+v", i, m, want)
			}
			checkTime(t, fmt.Sprintf("message %d TS", i), m.TS, in[i].TS)
		}
	}},

	{"author id", func(t *testing.T, e *env) {
		in := []store.NewMessage{
			{Room: "lobby", UserID: 7, User: "alice", Text: "one", TS: at(0)},
			{Room: "lobby", UserID: 9, User: "bob", Text: "two", TS: at(time.Millisecond)},
			{Room: "side", UserID: 7, User: "alice", Text: "three", TS: at(2 * time.Millisecond)},
		}
		sent := e.appendAll(t, in...)
		for i, m := range sent {
			if m.UserID != in[i].UserID {
				t.Errorf("AppendMessages[%d].UserID = %d; want %d", i, m.UserID, in[i].UserID)
			}
		}
		for _, room := range []string{"lobby", "side"} {
			for _, read := range []func() ([]store.Message, error){
				func() ([]store.Message, error) { return e.MessagesAfter(e.ctx, room, 0, 10) },
				func() ([]store.Message, error) { return e.MessagesBefore(e.ctx, room, 0, 10) },
			} {
				got, err := read()
				must(t, err, "read "+room)
				for _, m := range got {
					if want := map[string]int64{"alice": 7, "bob": 9}[m.User]; m.UserID != want {
						t.Errorf("%s: message %d by %s has user id %d; want %d", room, m.ID, m.User, m.UserID, want)
					}
				}
			}
		}
	}},

	{"reading", func(t *testing.T, e *env) {
		// lobby 1..10 with side messages between, so lobby's ids have gaps.
		var lobby []store.Message
		for i := range 10 {
			got := e.appendAll(t, msg("lobby", "alice", fmt.Sprint("l", i+1), i), msg("side", "bob", fmt.Sprint("s", i+1), i))
			lobby = append(lobby, got[0])
		}
		id := func(seq int) int64 { return lobby[seq-1].ID }
		for _, tc := range []struct {
			name string
			read func() ([]store.Message, error)
			want []int64
		}{
			{"before unbounded", func() ([]store.Message, error) { return e.MessagesBefore(e.ctx, "lobby", 0, 3) }, span(8, 10)},
			{"before unbounded, all", func() ([]store.Message, error) { return e.MessagesBefore(e.ctx, "lobby", 0, 100) }, span(1, 10)},
			{"before unbounded, limit 0", func() ([]store.Message, error) { return e.MessagesBefore(e.ctx, "lobby", 0, 0) }, nil},
			{"before 5", func() ([]store.Message, error) { return e.MessagesBefore(e.ctx, "lobby", id(5), 2) }, span(3, 4)},
			{"before 5 all", func() ([]store.Message, error) { return e.MessagesBefore(e.ctx, "lobby", id(5), 100) }, span(1, 4)},
			{"before a side id", func() ([]store.Message, error) { return e.MessagesBefore(e.ctx, "lobby", id(5)+1, 100) }, span(1, 5)},
			{"before the first", func() ([]store.Message, error) { return e.MessagesBefore(e.ctx, "lobby", id(1), 100) }, nil},
			{"after 0", func() ([]store.Message, error) { return e.MessagesAfter(e.ctx, "lobby", 0, 3) }, span(1, 3)},
			{"after 7", func() ([]store.Message, error) { return e.MessagesAfter(e.ctx, "lobby", id(7), 100) }, span(8, 10)},
			{"after a side id", func() ([]store.Message, error) { return e.MessagesAfter(e.ctx, "lobby", id(7)+1, 2) }, span(8, 9)},
			{"after the last", func() ([]store.Message, error) { return e.MessagesAfter(e.ctx, "lobby", id(10), 100) }, nil},
			{"after, limit 0", func() ([]store.Message, error) { return e.MessagesAfter(e.ctx, "lobby", 0, 0) }, nil},
			{"unknown room before", func() ([]store.Message, error) { return e.MessagesBefore(e.ctx, "nowhere", 0, 10) }, nil},
			{"unknown room after", func() ([]store.Message, error) { return e.MessagesAfter(e.ctx, "nowhere", 0, 10) }, nil},
		} {
			got, err := tc.read()
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if !slices.Equal(seqs(got), tc.want) {
				t.Errorf("%s: seqs %v; want %v (oldest first)", tc.name, seqs(got), tc.want)
			}
			for _, m := range got {
				if m.Room != "lobby" || m.ID != id(int(m.Seq)) {
					t.Errorf("%s: got %+v; stored %+v", tc.name, m, lobby[m.Seq-1])
					break
				}
			}
		}
	}},

	{"room head", func(t *testing.T, e *env) {
		check := func(room string, wantID, wantSeq int64) {
			t.Helper()
			id, seq, err := e.RoomHead(e.ctx, room)
			must(t, err, "read head of "+room)
			if id != wantID || seq != wantSeq {
				t.Errorf("RoomHead(%s) = %d, %d; want %d, %d", room, id, seq, wantID, wantSeq)
			}
		}
		check("lobby", 0, 0)
		e.touch(t, "lobby", base)
		check("lobby", 0, 0)
		got := e.appendAll(t, msg("lobby", "alice", "one", 0), msg("side", "bob", "x", 1), msg("lobby", "bob", "two", 2))
		check("lobby", got[2].ID, 2)
		check("side", got[1].ID, 1)
	}},
}

var roomCases = []scenario{
	{"none", func(t *testing.T, e *env) {
		if rooms := e.allRooms(t); len(rooms) != 0 {
			t.Errorf("Rooms on an empty store = %+v", rooms)
		}
	}},

	{"by last activity", func(t *testing.T, e *env) {
		e.touch(t, "quiet", base)
		busy := e.appendAll(t, msg("busy", "alice", "a", 60_000), msg("busy", "alice", "b", 120_000))
		old := e.appendAll(t, msg("old", "bob", "c", 90_000))

		// Touching again (joining a room) changes nothing: not its activity,
		// not its last message, and it does not add a second entry.
		for _, name := range []string{"quiet", "busy", "old"} {
			if created, err := e.TouchRoom(e.ctx, name, at(time.Hour)); err != nil || created {
				t.Errorf("TouchRoom(%s) again = %v, %v; want not created", name, created, err)
			}
		}
		check := func(want ...store.Room) {
			t.Helper()
			rooms := e.allRooms(t)
			if len(rooms) != len(want) {
				t.Fatalf("Rooms = %+v; want %+v", rooms, want)
			}
			for i, r := range rooms {
				if r.Name != want[i].Name || r.LastID != want[i].LastID {
					t.Errorf("Rooms[%d] = %+v; want %+v", i, r, want[i])
				}
				checkTime(t, r.Name+" LastActivity", r.LastActivity, want[i].LastActivity)
			}
		}
		check(
			store.Room{Name: "busy", LastID: busy[1].ID, LastActivity: busy[1].TS},
			store.Room{Name: "old", LastID: old[0].ID, LastActivity: old[0].TS},
			store.Room{Name: "quiet", LastID: 0, LastActivity: base},
		)

		// A touched room's first message is its seq 1, and makes it the
		// most recently active.
		quiet := e.appendAll(t, msg("quiet", "carol", "hi", 180_000))
		if quiet[0].Seq != 1 {
			t.Errorf("first message in a touched room has seq %d", quiet[0].Seq)
		}
		check(
			store.Room{Name: "quiet", LastID: quiet[0].ID, LastActivity: quiet[0].TS},
			store.Room{Name: "busy", LastID: busy[1].ID, LastActivity: busy[1].TS},
			store.Room{Name: "old", LastID: old[0].ID, LastActivity: old[0].TS},
		)
	}},
}
