package main

import (
	"strings"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    payload
		size int
	}{
		{"padded to size", payload{run: "0a1b2c3d", sender: 3, seq: 123, sentNs: 1_700_000_000_123_456_789}, 100},
		{"size under the header: header only", payload{run: "ffffffff", sender: 0, seq: 1, sentNs: 5}, 10},
		{"zero size", payload{run: "00000000", sender: 1234567, seq: 1234567890, sentNs: 1}, 0},
		{"largest text", payload{run: "abcdef01", sender: 9, seq: 9, sentNs: 9}, maxTextBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := string(appendPayload(nil, tt.p, tt.size))
			if tt.size > payloadMaxHeader && len(text) != tt.size {
				t.Errorf("len = %d, want %d", len(text), tt.size)
			}
			if len(text) > max(tt.size, payloadMaxHeader) {
				t.Errorf("len = %d, more than size %d and the header", len(text), tt.size)
			}
			got, ok := parsePayload(text)
			if !ok || got != tt.p {
				t.Errorf("parsePayload(%q) = %+v, %v; want %+v", text, got, ok, tt.p)
			}
		})
	}
}

func TestParsePayloadRefusesOtherText(t *testing.T) {
	tests := []struct {
		name, text string
	}{
		{"empty", ""},
		{"a person typing", "hello everyone"},
		{"no run id", "run= s=1 seq=2 t=3"},
		{"fields out of order", "run=ab seq=2 s=1 t=3"},
		{"missing time", "run=ab s=1 seq=2"},
		{"negative sequence", "run=ab s=1 seq=-2 t=3"},
		{"non-numeric sender", "run=ab s=x seq=2 t=3"},
		{"time overflows", "run=ab s=1 seq=2 t=99999999999999999999"},
		{"padding that is not x", "run=ab s=1 seq=2 t=3 hello"},
		{"prefix inside another text", "say run=ab s=1 seq=2 t=3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, ok := parsePayload(tt.text); ok {
				t.Errorf("parsePayload(%q) = %+v, accepted", tt.text, p)
			}
		})
	}
}

func TestParsePayloadAcceptsHeaderWithoutPadding(t *testing.T) {
	p, ok := parsePayload("run=ab s=1 seq=2 t=3")
	if !ok || p != (payload{run: "ab", sender: 1, seq: 2, sentNs: 3}) {
		t.Errorf("got %+v, %v", p, ok)
	}
	if _, ok := parsePayload("run=ab s=1 seq=2 t=3 " + strings.Repeat("x", 50)); !ok {
		t.Error("padded payload refused")
	}
}
