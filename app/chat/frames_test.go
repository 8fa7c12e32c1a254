package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"securechat/app/store"
)

func TestDecodeFrame(t *testing.T) {
	cases := []struct {
		frame string
		code  string // "" means accepted
	}{
		{`{"type":"send","room":"general","text":"hi"}`, ""},
		{`{"type":"join","room":"r-1_x"}`, ""},
		{`{"type":"join","room":"r","since":42}`, ""},
		{`{"type":"leave","room":"r"}`, ""},
		{`{"type":"history","room":"r","before":10,"limit":200}`, ""},
		{`{"type":"refresh","token":"abc"}`, ""},
		{`{"type":"send","room":"general","text":"` + strings.Repeat("あ", 4000) + `"}`, ""},
		{`{"type":"send","room":"general","text":"` + strings.Repeat("あ", 4001) + `"}`, "bad_text"},
		{`{"type":"send","room":"general","text":""}`, "bad_text"},
		{`{"type":"send","room":"","text":"a"}`, "bad_room"},
		{`{"type":"send","room":"UPPER","text":"a"}`, "bad_room"},
		{`{"type":"join","room":"` + strings.Repeat("a", 65) + `"}`, "bad_room"},
		{`{"type":"join","room":"r","since":-1}`, "bad_frame"},
		{`{"type":"history","room":"r","limit":201}`, "bad_frame"},
		{`{"type":"refresh"}`, "bad_frame"},
		{`{"type":"nope"}`, "unknown_type"},
		{`{}`, "bad_frame"},
		{`null`, "bad_frame"},
		{`[]`, "bad_frame"},
		{`{"type":"send","room":"general","text":"a","x":1}`, "bad_frame"},
		{`{"type":"send","room":"general","text":"a"} {}`, "bad_frame"},
		{`{"type":"send","room":"general","text":"a"`, "bad_frame"},
		{"{\"type\":\"send\",\"room\":\"general\",\"text\":\"\xc3\x28\"}", "bad_frame"},
		{`{"type":"send","room":"general","text":"a","ref":"` + strings.Repeat("r", MaxRef) + `"}`, ""},
		{`{"type":"send","room":"general","text":"a","ref":"` + strings.Repeat("r", MaxRef+1) + `"}`, "bad_frame"},
		{`{"type":"send","room":"general","text":"a","ref":7}`, "bad_frame"},
		// Keys match exactly and once: encoding/json alone would take these.
		{`{"TYPE":"send","room":"general","text":"a"}`, "bad_frame"},
		{`{"type":"send","Room":"general","text":"a"}`, "bad_frame"},
		{`{"type":"send","room":"general","TEXT":"a"}`, "bad_frame"},
		{`{"type":"join","room":"r","Since":1}`, "bad_frame"},
		{`{"type":"send","room":"general","text":"a","text":"b"}`, "bad_frame"},
		{`{"type":"rooms","type":"rooms"}`, "bad_frame"},
		{`{"type":"join","type":"send","room":"general","text":"a"}`, "bad_frame"},
		{`{"type":"history","room":"r","limit":1,"limit":2}`, "bad_frame"},
		{`{"type":"send","room":"general","text":"a","tExt":"b"}`, "bad_frame"},
		{"{\"type\":\"send\",\"room\":\"general\",\"text\":\"a\",\"te\u017ft\":\"b\"}", "bad_frame"}, // ſ folds to s in encoding/json
		{`{"typ\u0065":"rooms"}`, ""},                                                                // an escaped key is the same key
		{`{"type":"send","room":"general","text":{"text":1,"text":2}}`, "bad_frame"},
		{`{"type":"send","room":"general","text":"a",}`, "bad_frame"},
		{`{"type":"rooms",`, "bad_frame"},
		{`{"type":"send","room":"general","text":"\"text\":\"b\", \\"}`, ""}, // keys inside a string are text
		{` { "type" : "history" , "room":"r", "limit" : 1 ,"limit":2 } `, "bad_frame"},
		{`{"type":"send","room":"general","text":"a","since":{"x":[1,{"text":"}"}]},"text":"b"}`, "bad_frame"},
	}
	for _, tc := range cases {
		_, err := decodeFrame([]byte(tc.frame), 4000)
		var pe *protocolError
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("decodeFrame(%.60q) = %v, want accepted", tc.frame, err)
		case tc.code != "" && (!errors.As(err, &pe) || pe.Code != tc.code):
			t.Errorf("decodeFrame(%.60q) = %v, want %s", tc.frame, err, tc.code)
		}
	}
}

func TestHistoryDefaultLimit(t *testing.T) {
	f, err := decodeFrame([]byte(`{"type":"history","room":"r"}`), 4000)
	if err != nil || f.Limit != defaultHistory {
		t.Fatalf("limit %d, %v", f.Limit, err)
	}
}

// TestDecodeFrameRef: a send's ref is kept for its answers, unless it is not
// one (too long, or in a frame that is not JSON of the protocol): it is then
// not echoed.
func TestDecodeFrameRef(t *testing.T) {
	long := strings.Repeat("r", MaxRef+1)
	cases := []struct {
		frame, ref string
	}{
		{`{"type":"send","room":"general","text":"hi","ref":"c-1"}`, "c-1"},
		{`{"type":"send","room":"general","text":"","ref":"c-2"}`, "c-2"}, // bad_text answers c-2
		{`{"type":"send","room":"general","text":"hi"}`, ""},
		{`{"type":"send","room":"general","text":"hi","ref":"` + long + `"}`, ""},
		{`{"type":"send","ref":"` + long + `","room":"general","text":"hi","x":1}`, ""},
	}
	for _, tc := range cases {
		f, _ := decodeFrame([]byte(tc.frame), 4000)
		if f.Ref != tc.ref {
			t.Errorf("decodeFrame(%.60q): ref %q, want %q", tc.frame, f.Ref, tc.ref)
		}
	}
}

// TestEncodeRef: the sender's copy of a message and an error answering a
// send carry the ref; every other copy and frame has no ref key at all.
func TestEncodeRef(t *testing.T) {
	m := store.Message{ID: 3, Room: "r", User: "a", Text: "x", TS: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	cases := []struct {
		name  string
		frame []byte
		ref   any // nil: no ref key
	}{
		{"shared copy", encodeMessage(m), nil},
		{"sender's copy", encodeOwnMessage(m, "c-9"), "c-9"},
		{"error", encodeErrorRef("bad_frame", "no", ""), nil},
		{"error answering a send", encodeErrorRef("rate_limited", "slow down", "c-9"), "c-9"},
		{"error answering a send without ref", encodeErrorRef("rate_limited", "slow down", ""), nil},
	}
	for _, tc := range cases {
		var f map[string]any
		if err := json.Unmarshal(tc.frame, &f); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if ref, ok := f["ref"]; ref != tc.ref || ok != (tc.ref != nil) {
			t.Errorf("%s: %s: ref %v, want %v", tc.name, tc.frame, ref, tc.ref)
		}
	}
}

func TestEncodeMessagesIsNewlineSeparatedJSON(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	ms := []store.Message{{ID: 1, Room: "r", User: "a", Text: "x\ny", TS: ts}, {ID: 2, Room: "r", User: "b", Text: "</script>", TS: ts}}
	frame, n := encodeMessages(ms, maxPageBytes)
	if n != len(ms) {
		t.Fatalf("encoded %d of %d", n, len(ms))
	}
	lines := strings.Split(string(frame), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2: a newline inside text must be escaped", len(lines))
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["type"] != "message" || m["id"] != float64(ms[i].ID) || m["text"] != ms[i].Text || m["ts"] != "2026-11-25T10:00:00Z" {
			t.Fatalf("line %d: %s (%v)", i, l, err)
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{`{"type":"send","room":"general","text":"hi"}`, `{"type":"join","room":"r","since":1}`, `{}`, `[`, "\xff", `{"TYPE":"rooms"}`, `{"type":"rooms","type":"rooms"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeFrame(data, 4000)
		if err != nil {
			var pe *protocolError
			if !errors.As(err, &pe) || pe.Code == "" || pe.Message == "" {
				t.Fatalf("error without a code and message: %v", err)
			}
			return
		}
		if fr.Type == "send" && (!ValidRoom(fr.Room) || fr.Text == "") {
			t.Fatalf("accepted a bad send: %+v", fr)
		}
		// What was accepted has each key exactly once, spelt as the protocol spells it.
		if err := tokenKeys(data); err != nil {
			t.Fatalf("accepted %q: %v", data, err)
		}
	})
}

func TestPresenceListsAtMost200(t *testing.T) {
	var users []string
	for i := range 250 {
		users = append(users, fmt.Sprintf("u%03d", i))
	}
	for _, n := range []int{0, 2, 200, 250} {
		var f struct {
			Users []string `json:"users"`
			Count int      `json:"count"`
		}
		if err := json.Unmarshal(encodePresence("r", users[:n]), &f); err != nil {
			t.Fatal(err)
		}
		if f.Count != n || len(f.Users) != min(n, presenceListMax) || f.Users == nil {
			t.Errorf("%d users: listed %d, count %d", n, len(f.Users), f.Count)
		}
	}
}

// tokenKeys is checkKeys done slowly with encoding/json's tokens, to check it.
func tokenKeys(data []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("not an object: %v", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		if frameKey([]byte(key)) == 0 || seen[key] {
			return fmt.Errorf("key %q unknown or repeated", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

// TestFrameKeysMatchInbound ties the strict key check to the frame struct: a
// field added to inbound without a bit in frameKey would be refused as
// unknown, and two fields sharing a bit would pass as duplicates.
func TestFrameKeysMatchInbound(t *testing.T) {
	var seen uint32
	rt := reflect.TypeOf(inbound{})
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		bit := frameKey([]byte(name))
		if bit == 0 {
			t.Errorf("field %s (json %q) has no bit in frameKey", rt.Field(i).Name, name)
		}
		if seen&bit != 0 {
			t.Errorf("field %s (json %q) shares its bit", rt.Field(i).Name, name)
		}
		seen |= bit
	}
}

// TestEncodeProblem: an error frame carries retry_after only when a rate
// said when to retry, and the ref only when the send had one.
func TestEncodeProblem(t *testing.T) {
	cases := []struct {
		pe   protocolError
		ref  string
		want string
	}{
		{protocolError{Code: "bad_room", Message: "no"}, "", `{"type":"error","code":"bad_room","message":"no"}`},
		{protocolError{Code: "rate_limited", Message: "too many messages; wait 2s", RetryAfter: 2}, "c-1",
			`{"type":"error","code":"rate_limited","message":"too many messages; wait 2s","ref":"c-1","retry_after":2}`},
	}
	for _, tc := range cases {
		if got := string(encodeProblem(&tc.pe, tc.ref)); got != tc.want {
			t.Errorf("encodeProblem(%+v, %q) = %s, want %s", tc.pe, tc.ref, got, tc.want)
		}
	}
	m := store.Message{ID: 7, Room: "r", TS: time.Date(2026, 12, 1, 9, 5, 0, 0, time.UTC)}
	if got, want := string(encodeRoomStarted(m)), `{"type":"room","room":"r","last_id":7,"last_activity":"2026-12-01T09:05:00Z"}`; got != want {
		t.Errorf("encodeRoomStarted = %s, want %s", got, want)
	}
}
