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
	var seen uint16
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
