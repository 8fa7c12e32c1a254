package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"securechat/app/store"
)

// SearchMessages of the unit store: every word a case-insensitive
// substring (the back ends' rules are tested in storetest), readable rooms only.
func (s *unitStore) SearchMessages(_ context.Context, q store.SearchQuery) ([]store.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	out := []store.Message{}
	for i := len(s.msgs) - 1; i >= 0 && len(out) < q.SearchLimit(); i-- {
		m := s.msgs[i]
		kind, ok := s.kinds[m.Room]
		readable := !ok || (store.Access{Kind: kind, Role: s.members[m.Room][q.UserID]}).CanRead()
		if m.Kind != store.KindMessage || m.Deleted || !readable || (q.Room != "" && m.Room != q.Room) || (q.Before > 0 && m.ID >= q.Before) {
			continue
		}
		match := true
		for _, w := range strings.Fields(q.Text) {
			match = match && strings.Contains(strings.ToLower(m.Text), strings.ToLower(w))
		}
		if match {
			out = append(out, m)
		}
	}
	return out, nil
}

func (s *unitStore) MessagesAround(_ context.Context, room string, id int64, limit int) ([]store.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var upTo, after []store.Message
	for i := len(s.msgs) - 1; i >= 0 && len(upTo) < (limit+1)/2; i-- {
		if m := s.msgs[i]; m.Room == room && m.Kind == store.KindMessage && m.ID <= id {
			upTo = append(upTo, m)
		}
	}
	slices.Reverse(upTo)
	for _, m := range s.msgs {
		if m.Room == room && m.Kind == store.KindMessage && m.ID > id && len(after) < limit-(limit+1)/2 {
			after = append(after, m)
		}
	}
	return append(upTo, after...), nil
}

func TestDecodeSearchAndAround(t *testing.T) {
	for _, c := range []struct {
		frame string
		code  string // "" means accepted
		limit int    // the limit after the check
	}{
		{`{"type":"search","query":"ords"}`, "", 20},
		{`{"type":"search","query":"京都","room":"r","before":9,"limit":100,"ref":"s1"}`, "", 100},
		{`{"type":"search","query":"a","limit":101}`, "bad_frame", 0},
		{`{"type":"search","query":"a","before":-1}`, "bad_frame", 0},
		{`{"type":"search","query":"a","room":"BAD"}`, "bad_room", 0},
		{`{"type":"search","query":""}`, "bad_query", 0},
		{`{"type":"search","query":"  \t"}`, "bad_query", 0},
		{`{"type":"search"}`, "bad_query", 0},
		{`{"type":"search","query":"` + strings.Repeat("あ", 4000) + `"}`, "", 20},
		{`{"type":"search","query":"` + strings.Repeat("あ", 4001) + `"}`, "bad_query", 0},
		{`{"type":"search","query":"a","query":"b"}`, "bad_frame", 0},
		{`{"type":"search","query":7}`, "bad_frame", 0},
		{`{"type":"history","room":"r","around":12}`, "", 50},
		{`{"type":"history","room":"r","around":12,"limit":7}`, "", 7},
		{`{"type":"history","room":"r","around":-1}`, "bad_frame", 0},
		{`{"type":"history","room":"r","around":12,"before":13}`, "bad_frame", 0},
		{`{"type":"history","room":"r","around":1,"around":2}`, "bad_frame", 0},
	} {
		f, err := decodeFrame([]byte(c.frame), 4000)
		var pe *protocolError
		switch {
		case c.code == "" && err != nil:
			t.Errorf("%.60s: %v; want accepted", c.frame, err)
		case c.code != "" && (!errors.As(err, &pe) || pe.Code != c.code):
			t.Errorf("%.60s: %v; want %s", c.frame, err, c.code)
		case c.code == "" && f.Limit != c.limit:
			t.Errorf("%.60s: limit %d; want %d", c.frame, f.Limit, c.limit)
		}
	}
}

// TestEncodeResults: newest first as given, at least one, bounded by the
// budget, more when a page is full or results were left out.
func TestEncodeResults(t *testing.T) {
	var ms []store.Message
	for i := 10; i > 0; i-- {
		ms = append(ms, store.Message{ID: int64(i), Room: "r", User: "alice", UserID: 1, Text: strings.Repeat("x", 100)})
	}
	type results struct {
		Type     string            `json:"type"`
		Query    string            `json:"query"`
		Ref      string            `json:"ref"`
		Messages []json.RawMessage `json:"messages"`
		More     bool              `json:"more"`
	}
	for _, c := range []struct {
		name   string
		ms     []store.Message
		limit  int
		budget int
		n      int
		more   bool
	}{
		{"all", ms, 20, 1 << 20, 10, false},
		{"a full page", ms, 10, 1 << 20, 10, true},
		{"none", nil, 20, 1 << 20, 0, false},
		{"budget", ms, 20, 2*len(encodeMessage(ms[0])) + 1, 2, true},
		{"one beyond the budget", ms, 20, 1, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := encodeResults(`q "x"`, "r1", c.ms, c.limit, c.budget)
			var got results
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if got.Type != "results" || got.Query != `q "x"` || got.Ref != "r1" || len(got.Messages) != c.n || got.More != c.more {
				t.Errorf("got %s…; want %d messages, more %v", b[:min(len(b), 120)], c.n, c.more)
			}
			if c.n > 1 && !strings.Contains(string(got.Messages[0]), fmt.Sprintf(`"id":%d`, c.ms[0].ID)) {
				t.Errorf("first result %s; want id %d (newest first)", got.Messages[0], c.ms[0].ID)
			}
		})
	}
}

// A search is a request (the request rate), not a message; history with
// around is the history frame, already one.
func TestSearchIsARequest(t *testing.T) {
	for _, typ := range []frameType{typeSearch, typeHistory} {
		if k, ok := clientFrames[typ]; !ok || k.message {
			t.Errorf("%s: in the table %v, counted as a message %v; want a request", typ, ok, k.message)
		}
	}
}
