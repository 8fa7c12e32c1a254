package tokens

import (
	"testing"
	"time"
)

func BenchmarkDecode(b *testing.B) {
	clock := &fakeClock{time.Unix(1_800_000_000, 0)}
	k, _ := NewKey()
	c, _ := NewCodec([]Key{k}, clock.Now)
	tok, _ := c.Encode(Claims{UserID: 42, SessionID: "abcdefghijklmnopqrstuv", IssuedAt: clock.t.Unix(), ExpiresAt: clock.t.Add(time.Hour).Unix()})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Decode(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	clock := &fakeClock{time.Unix(1_800_000_000, 0)}
	k, _ := NewKey()
	c, _ := NewCodec([]Key{k}, clock.Now)
	claims := Claims{UserID: 42, SessionID: "abcdefghijklmnopqrstuv", IssuedAt: clock.t.Unix(), ExpiresAt: clock.t.Add(time.Hour).Unix()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Encode(claims); err != nil {
			b.Fatal(err)
		}
	}
}
