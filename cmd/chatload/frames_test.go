package main

import (
	"encoding/json"
	"reflect"
	"testing"
)

func decodeAll(t *testing.T, kind targetKind, frame string) ([]event, error) {
	t.Helper()
	var evs []event
	err := decodeFrame(kind, []byte(frame), func(e event) { evs = append(evs, e) })
	return evs, err
}

func TestDecodeSecurechatFrames(t *testing.T) {
	tests := []struct {
		name    string
		frame   string
		want    []event
		wantErr bool
	}{
		{"welcome", `{"type":"welcome","user":"load1"}`, []event{{kind: evWelcome, user: "load1"}}, false},
		{"joined", `{"type":"joined","room":"r1","last_id":4}`, []event{{kind: evJoined, room: "r1"}}, false},
		{"message", `{"type":"message","id":9,"room":"general","user":"a","text":"run=x s=1 seq=2 t=3","ts":"2026-01-01T00:00:00Z"}`,
			[]event{{kind: evMessage, room: "general", user: "a", text: "run=x s=1 seq=2 t=3"}}, false},
		{"batched objects split on newlines",
			"{\"type\":\"message\",\"room\":\"a\",\"user\":\"u\",\"text\":\"one\\ntwo\"}\n{\"type\":\"presence\",\"room\":\"a\",\"users\":[\"u\"]}\n{\"type\":\"message\",\"room\":\"a\",\"user\":\"v\",\"text\":\"3\"}",
			[]event{
				{kind: evMessage, room: "a", user: "u", text: "one\ntwo"},
				{kind: evOther, room: "a"},
				{kind: evMessage, room: "a", user: "v", text: "3"},
			}, false},
		{"history is read and dropped", `{"type":"history","room":"general","messages":[{"type":"message","id":1,"room":"general","user":"a","text":"old"}]}`,
			[]event{{kind: evOther, room: "general"}}, false},
		{"error", `{"type":"error","code":"rate_limited","message":"too many messages"}`,
			[]event{{kind: evError, text: "rate_limited: too many messages"}}, false},
		{"unknown type", `{"type":"rooms","rooms":[]}`, []event{{kind: evOther}}, false},
		{"not JSON", `Welcome alice!`, nil, true},
		{"good object then a bad one", "{\"type\":\"welcome\",\"user\":\"a\"}\n{oops", []event{{kind: evWelcome, user: "a"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAll(t, targetSecurechat, tt.frame)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeSeedFrames(t *testing.T) {
	tests := []struct {
		name, frame string
		want        event
	}{
		{"own echo", "You wrote: run=ab s=1 seq=2 t=3", event{kind: evMessage, text: "run=ab s=1 seq=2 t=3", own: true}},
		{"broadcast", "Client #bench7 says: run=ab s=1 seq=2 t=3", event{kind: evMessage, user: "bench7", text: "run=ab s=1 seq=2 t=3"}},
		{"text containing says", "Client #bench7 says: he says: hi", event{kind: evMessage, user: "bench7", text: "he says: hi"}},
		{"joined notice", "Client #bench7 joined the chat", event{kind: evOther}},
		{"left notice", "Client #bench7 left the chat", event{kind: evOther}},
		{"secured-ws welcome", "Welcome bench7!", event{kind: evOther}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAll(t, targetSeed, tt.frame)
			if err != nil || len(got) != 1 || got[0] != tt.want {
				t.Errorf("events = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestClientFrames(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"securechat send", string(sendFrame(targetSecurechat, "general", `a "quoted" text`)), `{"type":"send","room":"general","text":"a \"quoted\" text"}`},
		{"seed send is the text", string(sendFrame(targetSeed, "general", "hello")), "hello"},
		{"join", string(joinFrame("room-1")), `{"type":"join","room":"room-1"}`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestFastMessageAgreesWithJSON(t *testing.T) {
	tests := []struct {
		name   string
		object string
		fast   bool // whether the fast path takes it
	}{
		{"server's encoding", `{"type":"message","id":9,"room":"general","user":"a","text":"run=x s=1 seq=2 t=3 xx","ts":"2026-01-01T00:00:00Z"}`, true},
		{"fields reordered", `{"type":"message","text":"hi","ts":"x","user":"b","id":1,"room":"r"}`, true},
		{"escaped quote in text", `{"type":"message","room":"r","user":"u","text":"say \"hi\"","id":1}`, false},
		{"escaped newline", `{"type":"message","room":"r","user":"u","text":"a\nb"}`, false},
		{"unicode escape", `{"type":"message","room":"r","user":"u","text":"\u00e9"}`, false},
		{"key-like text", `{"type":"message","room":"r","user":"u","text":"a \"room\":\"x\" b"}`, false},
		{"no user", `{"type":"message","room":"r","text":"t"}`, false},
		{"not a message", `{"type":"presence","room":"r","users":["u"]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fast, ok := fastMessage([]byte(tt.object))
			if ok != tt.fast {
				t.Fatalf("fast path took it: %v, want %v", ok, tt.fast)
			}
			var slow chatFrame
			if err := json.Unmarshal([]byte(tt.object), &slow); err != nil {
				t.Fatal(err)
			}
			if ok && (fast.room != slow.Room || fast.user != slow.User || fast.text != slow.Text) {
				t.Errorf("fast %+v, encoding/json %+v", fast, slow)
			}
			got, err := decodeAll(t, targetSecurechat, tt.object)
			if err != nil || len(got) != 1 {
				t.Fatalf("decodeFrame: %+v, %v", got, err)
			}
			if slow.Type == "message" && (got[0].text != slow.Text || got[0].user != slow.User || got[0].room != slow.Room) {
				t.Errorf("decodeFrame %+v, encoding/json %+v", got[0], slow)
			}
		})
	}
}
