package chat

import (
	"strings"
	"testing"
	"time"

	"securechat/app/store"
)

func TestDecodeRoomsRequest(t *testing.T) {
	for _, tc := range []struct {
		frame  string
		code   string // "" accepted
		limit  int
		prefix string
	}{
		{`{"type":"rooms"}`, "", defaultRoomsPage, ""},
		{`{"type":"rooms","limit":200}`, "", 200, ""},
		{`{"type":"rooms","limit":1,"prefix":"dev-"}`, "", 1, "dev-"},
		{`{"type":"rooms","cursor":"1767225600000.general"}`, "", defaultRoomsPage, ""},
		{`{"type":"rooms","limit":201}`, "bad_frame", 0, ""},
		{`{"type":"rooms","limit":-1}`, "bad_frame", 0, ""},
		{`{"type":"rooms","prefix":"Dev"}`, "bad_room", 0, ""},
		{`{"type":"rooms","prefix":"` + strings.Repeat("a", maxRoomName+1) + `"}`, "bad_room", 0, ""},
		{`{"type":"rooms","prefix":7}`, "bad_frame", 0, ""},
		{`{"type":"rooms","cursor":"general"}`, "bad_frame", 0, ""},
		{`{"type":"rooms","cursor":"x.general"}`, "bad_frame", 0, ""},
		{`{"type":"rooms","cursor":"-1.general"}`, "bad_frame", 0, ""},
		{`{"type":"rooms","cursor":"12."}`, "bad_frame", 0, ""},
		{`{"type":"rooms","cursor":"12.a.b"}`, "bad_frame", 0, ""},
	} {
		f, err := decodeFrame([]byte(tc.frame), 4000)
		if tc.code == "" {
			if err != nil || f.Limit != tc.limit || f.Prefix != tc.prefix {
				t.Errorf("%s: %+v, %v; want limit %d prefix %q", tc.frame, f, err, tc.limit, tc.prefix)
			}
			continue
		}
		pe, ok := err.(*protocolError)
		if !ok || pe.Code != tc.code {
			t.Errorf("%s: %v; want %s", tc.frame, err, tc.code)
		}
	}
}

func TestRoomCursorRoundTrip(t *testing.T) {
	r := store.Room{Name: "dev_ops-2", LastActivity: time.Date(2030, 1, 2, 3, 4, 5, 678_000_000, time.UTC)}
	s := formatRoomCursor(r)
	got, ok := parseRoomCursor(s)
	if !ok || got.Name != r.Name || !got.LastActivity.Equal(r.LastActivity) {
		t.Errorf("cursor %q reads back as %+v, %v; want %s at %v", s, got, ok, r.Name, r.LastActivity)
	}
}
