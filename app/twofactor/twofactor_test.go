package twofactor_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"securechat/app/store/sqlite"
	"securechat/app/tokens"
	"securechat/app/twofactor"
)

func newService(t *testing.T, now *time.Time) (*twofactor.Service, *sqlite.DB, int64) {
	t.Helper()
	k, err := tokens.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return newServiceKeys(t, now, k)
}

func newServiceKeys(t *testing.T, now *time.Time, keys ...tokens.Key) (*twofactor.Service, *sqlite.DB, int64) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := func() time.Time { return *now }
	codec, err := tokens.NewCodec(keys, clock)
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.CreateUser(t.Context(), "alice", "x", *now)
	if err != nil {
		t.Fatal(err)
	}
	return twofactor.NewService(db, codec, clock), db, u.ID
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnrolVerifyDisable(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := start
	s, db, uid := newService(t, &now)
	ctx := t.Context()

	if _, err := s.Confirm(ctx, uid, "123456"); !errors.Is(err, twofactor.ErrNoPending) {
		t.Fatalf("Confirm before Begin = %v; want ErrNoPending", err)
	}
	en, err := s.Begin(ctx, uid, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(en.URL, "otpauth://totp/securechat:alice?") || !strings.Contains(en.URL, "secret="+en.Secret) {
		t.Errorf("URL = %q", en.URL)
	}
	stored, err := db.TOTP(ctx, uid)
	if err != nil || strings.Contains(stored.Secret, en.Secret) {
		t.Errorf("stored secret %q, %v: want it sealed, not %q", stored.Secret, err, en.Secret)
	}
	if on, _ := s.Enabled(ctx, uid); on {
		t.Error("Enabled before confirming")
	}
	if again, err := s.Pending(ctx, uid, "alice"); err != nil || again != en {
		t.Errorf("Pending = %+v, %v; want %+v", again, err, en)
	}
	if _, err := s.Confirm(ctx, uid, "000000"); !errors.Is(err, twofactor.ErrBadCode) {
		t.Errorf("Confirm with a wrong code = %v; want ErrBadCode", err)
	}
	recovery, err := s.Confirm(ctx, uid, code(t, en.Secret, now))
	if err != nil || len(recovery) != twofactor.RecoveryCodes {
		t.Fatalf("Confirm = %d codes, %v", len(recovery), err)
	}
	if on, _ := s.Enabled(ctx, uid); !on {
		t.Error("not Enabled after confirming")
	}
	if _, err := s.Begin(ctx, uid, "alice"); !errors.Is(err, twofactor.ErrEnrolled) {
		t.Errorf("Begin when enrolled = %v; want ErrEnrolled", err)
	}

	// Each case runs at start + at, in order: steps are used up as they go.
	codeAt := func(d time.Duration) func() string {
		return func() string { return code(t, en.Secret, start.Add(d)) }
	}
	for _, c := range []struct {
		name     string
		at       time.Duration
		code     func() string
		want     error
		recovery bool
	}{
		{"the confirming code again", 0, codeAt(0), twofactor.ErrBadCode, false},
		{"wrong code", 30 * time.Second, func() string { return "000000" }, twofactor.ErrBadCode, false},
		{"next step", 30 * time.Second, codeAt(30 * time.Second), nil, false},
		{"same step reused", 40 * time.Second, codeAt(30 * time.Second), twofactor.ErrBadCode, false},
		{"one step late is fine", 90 * time.Second, codeAt(60 * time.Second), nil, false},
		{"two steps late", 180 * time.Second, codeAt(120 * time.Second), twofactor.ErrBadCode, false},
		{"spaced", 210 * time.Second, func() string { c := codeAt(210 * time.Second)(); return c[:3] + " " + c[3:] }, nil, false},
		{"recovery code", 240 * time.Second, func() string { return strings.ToUpper(recovery[0]) }, nil, true},
		{"recovery code again", 240 * time.Second, func() string { return recovery[0] }, twofactor.ErrBadCode, false},
		{"made-up recovery code", 240 * time.Second, func() string { return "aaaa-bbbb-cccc-dddd" }, twofactor.ErrBadCode, false},
		{"empty", 240 * time.Second, func() string { return "" }, twofactor.ErrBadCode, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			now = start.Add(c.at)
			rec, err := s.Verify(ctx, uid, c.code())
			if !errors.Is(err, c.want) || err == nil && rec != c.recovery {
				t.Errorf("Verify = %v, %v; want %v, %v", rec, err, c.recovery, c.want)
			}
		})
	}

	now = now.Add(10 * time.Minute)
	if err := s.Disable(ctx, uid, "000000"); !errors.Is(err, twofactor.ErrBadCode) {
		t.Errorf("Disable with a wrong code = %v; want ErrBadCode", err)
	}
	if err := s.Disable(ctx, uid, code(t, en.Secret, now)); err != nil {
		t.Fatalf("Disable = %v", err)
	}
	if on, _ := s.Enabled(ctx, uid); on {
		t.Error("Enabled after Disable")
	}
	if _, err := s.Verify(ctx, uid, recovery[1]); !errors.Is(err, twofactor.ErrNotEnrolled) {
		t.Errorf("Verify after Disable = %v; want ErrNotEnrolled", err)
	}
	if err := s.Reset(ctx, uid); !errors.Is(err, twofactor.ErrNotEnrolled) {
		t.Errorf("Reset when off = %v; want ErrNotEnrolled", err)
	}
}

// TestSecretResealedAfterRotation: a secret checked after a key rotation is
// sealed again with the new first key, so it survives the old key's removal.
func TestSecretResealedAfterRotation(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	k1, _ := tokens.NewKey()
	k2, _ := tokens.NewKey()
	s, db, uid := newServiceKeys(t, &now, k1)
	ctx := t.Context()
	en, _ := s.Begin(ctx, uid, "alice")
	if _, err := s.Confirm(ctx, uid, code(t, en.Secret, now)); err != nil {
		t.Fatal(err)
	}
	clock := func() time.Time { return now }
	withKeys := func(keys ...tokens.Key) *twofactor.Service {
		c, err := tokens.NewCodec(keys, clock)
		if err != nil {
			t.Fatal(err)
		}
		return twofactor.NewService(db, c, clock)
	}
	// Rotated: k2 signs, k1 still opens; a login re-seals with k2.
	now = now.Add(time.Minute)
	if _, err := withKeys(k2, k1).Verify(ctx, uid, code(t, en.Secret, now)); err != nil {
		t.Fatalf("Verify after rotation = %v", err)
	}
	// k1 gone: the secret opens with k2 alone.
	now = now.Add(time.Minute)
	if _, err := withKeys(k2).Verify(ctx, uid, code(t, en.Secret, now)); err != nil {
		t.Errorf("Verify with the old key dropped after a re-seal = %v", err)
	}
}

// TestSecretSealedWithDroppedKey: a secret sealed with a key no longer in
// the list is ErrUnreadable, never a server error.
func TestSecretSealedWithDroppedKey(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s, db, uid := newService(t, &now)
	ctx := t.Context()
	en, err := s.Begin(ctx, uid, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Confirm(ctx, uid, code(t, en.Secret, now)); err != nil {
		t.Fatal(err)
	}
	k, _ := tokens.NewKey()
	other, _ := tokens.NewCodec([]tokens.Key{k}, func() time.Time { return now })
	rotated := twofactor.NewService(db, other, func() time.Time { return now })
	now = now.Add(time.Minute)
	if _, err := rotated.Verify(ctx, uid, code(t, en.Secret, now)); !errors.Is(err, twofactor.ErrUnreadable) {
		t.Errorf("Verify with the sealing key dropped = %v; want ErrUnreadable", err)
	}
	if err := rotated.Reset(ctx, uid); err != nil {
		t.Errorf("Reset = %v", err)
	}
}
