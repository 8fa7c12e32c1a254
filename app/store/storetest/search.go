package storetest

import (
	"fmt"
	"slices"
	"testing"

	"securechat/app/store"
)

// search runs q and returns the texts found, newest first.
func (e *env) search(t *testing.T, q store.SearchQuery) []string {
	t.Helper()
	got, err := e.SearchMessages(e.ctx, q)
	must(t, err, "search "+q.Text)
	texts := []string{}
	for i, m := range got {
		if m.Kind != store.KindMessage || m.Deleted {
			t.Errorf("search %q found %+v: not a message as it is", q.Text, m)
		}
		if i > 0 && m.ID >= got[i-1].ID {
			t.Errorf("search %q: ids %d then %d, not newest first", q.Text, got[i-1].ID, m.ID)
		}
		texts = append(texts, m.Text)
	}
	return texts
}

func checkTexts(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q; want %q", what, got, want)
	}
}

var searchCases = []scenario{
	{"WordsInsideWordsAndWithoutSpaces", func(t *testing.T, e *env) {
		alice := e.user(t, "alice")
		e.change(t,
			by("lobby", alice, "alice", "the wordsmith arrives", 1),
			by("lobby", alice, "alice", "東京都の天気は晴れ", 2),
			by("lobby", alice, "alice", "nothing to see", 3),
			by("lobby", alice, "alice", "WORDS in capitals", 4),
			by("other", alice, "alice", "a word, not the one", 5),
		)
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"ords", []string{"WORDS in capitals", "the wordsmith arrives"}},
			{"東京都", []string{"東京都の天気は晴れ"}},
			{"都の天", []string{"東京都の天気は晴れ"}},
			{"京都", []string{"東京都の天気は晴れ"}}, // short, but Japanese has no spaces to bound a word
			{"天気 晴れ", []string{"東京都の天気は晴れ"}},
			{"wordsmith arrives", []string{"the wordsmith arrives"}},
			{"wordsmith capitals", nil}, // every word must match
			{"  ", nil},
			{"absent", nil},
		} {
			checkTexts(t, fmt.Sprintf("search %q", c.query), e.search(t, store.SearchQuery{UserID: alice, Text: c.query}), c.want...)
		}
		checkTexts(t, "search ords in other", e.search(t, store.SearchQuery{UserID: alice, Text: "ord", Room: "other"}), "a word, not the one")
	}},
	{"ShortWordsWhole", func(t *testing.T, e *env) {
		alice := e.user(t, "alice")
		e.change(t,
			by("lobby", alice, "alice", "go to the park", 1),
			by("lobby", alice, "alice", "gopher", 2),
			by("lobby", alice, "alice", "Let's Go!", 3),
			by("lobby", alice, "alice", "ego_go", 4),
			by("lobby", alice, "alice", "I go to parks", 5),
		)
		checkTexts(t, "search go", e.search(t, store.SearchQuery{UserID: alice, Text: "go"}), "I go to parks", "Let's Go!", "go to the park")
		checkTexts(t, "search go to", e.search(t, store.SearchQuery{UserID: alice, Text: "to go"}), "I go to parks", "go to the park")
		// A long word narrows through the index, a short one must be whole.
		checkTexts(t, "search go park", e.search(t, store.SearchQuery{UserID: alice, Text: "go park"}), "I go to parks", "go to the park")
		checkTexts(t, "search to parks", e.search(t, store.SearchQuery{UserID: alice, Text: "to parks"}), "I go to parks")
	}},
	{"QueryIsNotSyntax", func(t *testing.T, e *env) {
		alice := e.user(t, "alice")
		e.change(t,
			by("lobby", alice, "alice", "50% off today", 1),
			by("lobby", alice, "alice", "500 off today", 2),
			by("lobby", alice, "alice", `she said "hello" twice`, 3),
			by("lobby", alice, "alice", `a_b and a\b`, 4),
			by("lobby", alice, "alice", "NEAR(x y) OR z*", 5),
			by("lobby", alice, "alice", "nul\x00byte inside", 6),
		)
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"50%", []string{"50% off today"}},
			{`"hello"`, []string{`she said "hello" twice`}},
			{`said "he`, []string{`she said "hello" twice`}},
			{"a_b", []string{`a_b and a\b`}},
			{`a\b`, []string{`a_b and a\b`}},
			{"NEAR(x", []string{"NEAR(x y) OR z*"}},
			{"z* OR", []string{"NEAR(x y) OR z*"}},
			{"byte", []string{"nul\x00byte inside"}},
			{"nul\x00byte", []string{"nul\x00byte inside"}},
			{"*", nil},
			{`"`, nil},
		} {
			checkTexts(t, fmt.Sprintf("search %q", c.query), e.search(t, store.SearchQuery{UserID: alice, Text: c.query}), c.want...)
		}
	}},
	{"OnlyReadableRooms", func(t *testing.T, e *env) {
		alice, bob, carol := e.user(t, "alice"), e.user(t, "bob"), e.user(t, "carol")
		must(t, e.CreateRoom(e.ctx, "secret", store.RoomPrivate, alice, base), "create secret")
		dm, _, err := e.OpenDM(e.ctx, []int64{alice, carol}, base)
		must(t, err, "open dm")
		e.change(t,
			by("lobby", bob, "bob", "public wordsmith", 1),
			by("secret", alice, "alice", "secret wordsmith", 2),
			by(dm, alice, "alice", "dm wordsmith", 3),
			by("secret", alice, "alice", "hi", 4),
		)
		checkTexts(t, "alice's search", e.search(t, store.SearchQuery{UserID: alice, Text: "ords"}), "dm wordsmith", "secret wordsmith", "public wordsmith")
		checkTexts(t, "carol's search", e.search(t, store.SearchQuery{UserID: carol, Text: "ords"}), "dm wordsmith", "public wordsmith")
		checkTexts(t, "bob's search", e.search(t, store.SearchQuery{UserID: bob, Text: "ords"}), "public wordsmith")
		checkTexts(t, "bob's short search", e.search(t, store.SearchQuery{UserID: bob, Text: "hi"}))
		checkTexts(t, "bob's search in secret", e.search(t, store.SearchQuery{UserID: bob, Text: "ords", Room: "secret"}))
		checkTexts(t, "bob's search in the dm", e.search(t, store.SearchQuery{UserID: bob, Text: "wordsmith", Room: dm}))
		checkTexts(t, "alice's short search in secret", e.search(t, store.SearchQuery{UserID: alice, Text: "hi", Room: "secret"}), "hi")

		// A member while a member, not after.
		_, err = e.AddMember(e.ctx, "secret", bob, store.MemberMember, base)
		must(t, err, "add bob")
		checkTexts(t, "member bob's search", e.search(t, store.SearchQuery{UserID: bob, Text: "ords"}), "secret wordsmith", "public wordsmith")
		_, err = e.RemoveMember(e.ctx, "secret", bob)
		must(t, err, "remove bob")
		checkTexts(t, "removed bob's search", e.search(t, store.SearchQuery{UserID: bob, Text: "ords"}), "public wordsmith")
	}},
	{"CurrentTextOnly", func(t *testing.T, e *env) {
		alice := e.user(t, "alice")
		ms := e.change(t,
			by("lobby", alice, "alice", "ephemeral banana", 1),
			by("lobby", alice, "alice", "old pineapple", 2),
			by("lobby", alice, "alice", "edited then deleted kumquat", 3),
		)
		e.change(t, del("lobby", alice, ms[0].ID, 4), edit("lobby", alice, ms[1].ID, "new mango", 5),
			edit("lobby", alice, ms[2].ID, "second durian", 6))
		e.change(t, del("lobby", alice, ms[2].ID, 7))
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"banana", nil},
			{"pineapple", nil},
			{"kumquat", nil},
			{"durian", nil},
			{"ephemeral", nil},
			{"mango", []string{"new mango"}}, // the message, not its edit row
			{"new", []string{"new mango"}},
		} {
			checkTexts(t, fmt.Sprintf("search %q", c.query), e.search(t, store.SearchQuery{UserID: alice, Text: c.query}), c.want...)
		}
		got, err := e.SearchMessages(e.ctx, store.SearchQuery{UserID: alice, Text: "mango"})
		must(t, err, "search mango")
		if len(got) != 1 || got[0].ID != ms[1].ID || got[0].EditedAt.IsZero() {
			t.Errorf("search mango = %+v; want message %d, edited", got, ms[1].ID)
		}
	}},
	{"Pages", func(t *testing.T, e *env) {
		alice := e.user(t, "alice")
		var msgs []store.NewMessage
		for i := range 30 {
			msgs = append(msgs, by("lobby", alice, "alice", fmt.Sprintf("apple %d", i), i))
		}
		e.change(t, msgs...)
		got, err := e.SearchMessages(e.ctx, store.SearchQuery{UserID: alice, Text: "apple"})
		must(t, err, "search apple")
		if len(got) != store.DefaultSearchResults || got[0].Text != "apple 29" {
			t.Fatalf("search apple: %d results from %q; want %d from apple 29", len(got), got[0].Text, store.DefaultSearchResults)
		}
		checkTexts(t, "second page", e.search(t, store.SearchQuery{UserID: alice, Text: "apple", Before: got[2].ID, Limit: 2}), "apple 26", "apple 25")
		// A limit out of range is the default.
		if n := len(e.search(t, store.SearchQuery{UserID: alice, Text: "apple", Limit: store.MaxSearchResults + 1})); n != store.DefaultSearchResults {
			t.Errorf("search with limit %d: %d results; want %d", store.MaxSearchResults+1, n, store.DefaultSearchResults)
		}
	}},
	{"ShortQueryBounded", func(t *testing.T, e *env) {
		alice := e.user(t, "alice")
		e.change(t, by("lobby", alice, "alice", "ok then", 0))
		filler := make([]store.NewMessage, 0, 1000)
		var first int64
		for i := range store.ShortScan / 1000 {
			filler = filler[:0]
			for j := range 1000 {
				filler = append(filler, by("lobby", alice, "alice", "nothing", i*1000+j+1))
			}
			got := e.change(t, filler...)
			if i == 0 {
				first = got[0].ID
			}
		}
		// The newest ShortScan messages are looked at, no more.
		checkTexts(t, "search ok", e.search(t, store.SearchQuery{UserID: alice, Text: "ok"}))
		checkTexts(t, "search ok before the filler", e.search(t, store.SearchQuery{UserID: alice, Text: "ok", Before: first}), "ok then")
		// A long word is served by the index, however old.
		checkTexts(t, "search then", e.search(t, store.SearchQuery{UserID: alice, Text: "then"}), "ok then")
	}},
	{"Around", func(t *testing.T, e *env) {
		alice := e.user(t, "alice")
		var msgs []store.NewMessage
		for i := range 10 {
			msgs = append(msgs, by("lobby", alice, "alice", fmt.Sprintf("m%d", i), i))
			msgs = append(msgs, by("elsewhere", alice, "alice", "x", i))
		}
		got := e.change(t, msgs...)
		ids := []int64{}
		for _, m := range got {
			if m.Room == "lobby" {
				ids = append(ids, m.ID)
			}
		}
		e.change(t, edit("lobby", alice, ids[5], "m5 edited", 20))
		e.change(t, by("lobby", alice, "alice", "m10", 21))
		texts := func(ms []store.Message) []string {
			out := []string{}
			for _, m := range ms {
				out = append(out, m.Text)
			}
			return out
		}
		around := func(id int64, limit int) []string {
			ms, err := e.MessagesAround(e.ctx, "lobby", id, limit)
			must(t, err, "read around")
			return texts(ms)
		}
		checkTexts(t, "around m4 by 4", around(ids[4], 4), "m3", "m4", "m5 edited", "m6")
		checkTexts(t, "around m4 by 5", around(ids[4], 5), "m2", "m3", "m4", "m5 edited", "m6")
		checkTexts(t, "around m1 by 6", around(ids[1], 6), "m0", "m1", "m2", "m3", "m4")
		checkTexts(t, "around m9 by 6", around(ids[9], 6), "m7", "m8", "m9", "m10") // the edit row is not a message
	}},
}
