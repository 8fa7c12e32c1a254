package tokens

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable clock, so expiry needs no sleeping.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

func newCodec(t *testing.T, clock *fakeClock, keys ...Key) *Codec {
	t.Helper()
	c, err := NewCodec(keys, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustKey(t *testing.T) Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCodecRoundTripTamperExpiry(t *testing.T) {
	clock := &fakeClock{time.Unix(1_800_000_000, 0)}
	c := newCodec(t, clock, mustKey(t))
	claims := Claims{UserID: 7, SessionID: "s1", IssuedAt: clock.t.Unix(), ExpiresAt: clock.t.Add(time.Hour).Unix()}
	tok, err := c.Encode(claims)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Decode(tok)
	if err != nil || got != claims {
		t.Fatalf("Decode = %+v, %v; want %+v", got, err, claims)
	}

	orig, _ := base64.URLEncoding.DecodeString(tok)
	for i := range tok {
		b := []byte(tok)
		b[i] ^= 0x01
		// A flip in the unused low bits of the last base64 character leaves
		// the same bytes: the same token, which may well decode.
		if same, err := base64.URLEncoding.DecodeString(string(b)); err == nil && bytes.Equal(same, orig) {
			continue
		}
		if _, err := c.Decode(string(b)); err == nil {
			t.Fatalf("flipping byte %d still decodes", i)
		}
	}
	for _, bad := range []string{"", "tokenizedalice", tok[:len(tok)/2], tok + "A"} {
		if _, err := c.Decode(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%.20q) = %v, want ErrInvalid", bad, err)
		}
	}

	clock.t = clock.t.Add(time.Hour - time.Second)
	if _, err := c.Decode(tok); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	clock.t = clock.t.Add(time.Second)
	if _, err := c.Decode(tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v, want ErrExpired", err)
	}

	// Another key's token does not verify.
	other := newCodec(t, clock, mustKey(t))
	otherTok, _ := other.Encode(Claims{UserID: 7, SessionID: "s1", ExpiresAt: clock.t.Add(time.Hour).Unix()})
	if _, err := c.Decode(otherTok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("foreign key: %v", err)
	}
}

func TestCodecRotation(t *testing.T) {
	clock := &fakeClock{time.Now()}
	oldKey, newKey := mustKey(t), mustKey(t)
	before := newCodec(t, clock, oldKey)
	after := newCodec(t, clock, newKey, oldKey)
	claims := Claims{UserID: 1, SessionID: "s", ExpiresAt: clock.t.Add(time.Hour).Unix()}
	oldTok, _ := before.Encode(claims)
	if _, err := after.Decode(oldTok); err != nil {
		t.Fatalf("a token signed with the old key must verify after rotation: %v", err)
	}
	newTok, _ := after.Encode(claims)
	if _, err := newCodec(t, clock, newKey).Decode(newTok); err != nil {
		t.Fatalf("the first key signs: %v", err)
	}
}

func TestLoadKeysCreatesPrivateFileAndRotates(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadKeys("", dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	again, err := LoadKeys("", dir)
	if err != nil || len(again) != 1 || again[0] != first[0] {
		t.Fatalf("second load %v %v: want the same key", again, err)
	}
	rotated, err := RotateKeys(dir, 3)
	if err != nil || len(rotated) != 2 || rotated[1] != first[0] || rotated[0] == first[0] {
		t.Fatalf("rotate: %v", err)
	}
	fromEnv, err := LoadKeys(first[0].String()+","+rotated[0].String(), dir)
	if err != nil || len(fromEnv) != 2 || fromEnv[0] != first[0] {
		t.Fatalf("keys from the environment: %v %v", fromEnv, err)
	}
	for _, bad := range []string{"not base64!", "c2hvcnQ", ","} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	clock := &fakeClock{time.Unix(1_800_000_000, 0)}
	k := Key{}
	c, _ := NewCodec([]Key{k}, clock.Now)
	good, _ := c.Encode(Claims{UserID: 1, SessionID: "s", ExpiresAt: clock.t.Add(time.Hour).Unix()})
	for _, s := range []string{good, "", "tokenizedalice", good[:10], "MTc|x|y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		claims, err := c.Decode(tok)
		if err == nil && (claims.UserID == 0 || claims.SessionID == "") {
			t.Fatalf("Decode accepted empty claims from %q", tok)
		}
	})
}

func TestDeviceCookie(t *testing.T) {
	clock := &fakeClock{time.Unix(1_800_000_000, 0)}
	k := mustKey(t)
	c := newCodec(t, clock, k)
	dev := Device{User: "alice", ID: "d1", IssuedAt: clock.t.Unix()}
	v, err := c.EncodeDevice(dev)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Encode(Claims{UserID: 1, SessionID: "s", IssuedAt: clock.t.Unix(), ExpiresAt: clock.t.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	// A letter in the middle changes whole bytes (the last one may only carry unused bits).
	tampered := []byte(v)
	if i := len(tampered) / 2; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	cases := []struct {
		name  string
		value string
		codec *Codec
		after time.Duration
		want  error
	}{
		{"valid", v, c, 0, nil},
		{"other keys", v, newCodec(t, clock, mustKey(t)), 0, ErrInvalid},
		{"rotated keys still verify", v, newCodec(t, clock, mustKey(t), k), 0, nil},
		{"a token is not a device cookie", tok, c, 0, ErrInvalid},
		{"tampered", string(tampered), c, 0, ErrInvalid},
		{"expired", v, c, 2 * time.Hour, ErrExpired},
		{"empty", "", c, 0, ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock.t = time.Unix(1_800_000_000, 0).Add(tc.after)
			got, err := tc.codec.DecodeDevice(tc.value, time.Hour)
			if !errors.Is(err, tc.want) || err == nil && got != dev {
				t.Fatalf("DecodeDevice: %+v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if _, err := c.Decode(v); err == nil {
		t.Fatal("a device cookie passed as a token")
	}
}

func TestPendingAndSealedSecret(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	c, err := NewCodec([]Key{k}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	p := Pending{UserID: 7, User: "alice", ID: "n1", ExpiresAt: now.Add(5 * time.Minute).Unix()}
	v, err := c.EncodePending(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.DecodePending(v); err != nil || got != p {
		t.Errorf("DecodePending = %+v, %v; want %+v", got, err, p)
	}
	// Values of one use never pass as another's.
	tok, _ := c.Encode(Claims{UserID: 7, SessionID: "s", ExpiresAt: now.Add(time.Hour).Unix()})
	sealed, _ := c.SealSecret("JBSWY3DPEHPK3PXP")
	for _, bad := range []string{"", tok, sealed, v[:len(v)-2]} {
		if _, err := c.DecodePending(bad); err == nil {
			t.Errorf("DecodePending(%.20q) passed", bad)
		}
	}
	if _, err := c.Decode(v); err == nil {
		t.Error("a pending login passed as a token")
	}
	if got, stale, err := c.OpenSecret(sealed); err != nil || got != "JBSWY3DPEHPK3PXP" || stale {
		t.Errorf("OpenSecret = %q, %v, %v; want the secret, not stale", got, stale, err)
	}
	// After a rotation the old key still opens it, and says it is stale.
	k2, _ := NewKey()
	rotated, _ := NewCodec([]Key{k2, k}, func() time.Time { return now })
	if got, stale, err := rotated.OpenSecret(sealed); err != nil || got != "JBSWY3DPEHPK3PXP" || !stale {
		t.Errorf("OpenSecret after rotation = %q, %v, %v; want the secret, stale", got, stale, err)
	}
	if strings.Contains(sealed, "JBSWY3DPEHPK3PXP") {
		t.Error("the sealed secret shows the secret")
	}
	now = now.Add(5 * time.Minute)
	if _, err := c.DecodePending(v); !errors.Is(err, ErrExpired) {
		t.Errorf("DecodePending after 5 minutes = %v; want ErrExpired", err)
	}
}
