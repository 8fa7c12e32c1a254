package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"securechat/app/store"
	"securechat/app/tokens"
)

// memSessions is a SessionStore in memory, for one user.
type memSessions struct{ rows map[string]store.Session }

func (m *memSessions) CreateSession(_ context.Context, s store.Session) error {
	m.rows[s.ID] = s
	return nil
}

func (m *memSessions) LiveSession(_ context.Context, id string, now time.Time) (store.SessionUser, error) {
	s, ok := m.rows[id]
	if !ok || !now.Before(s.ExpiresAt) {
		return store.SessionUser{}, store.ErrNotFound
	}
	return store.SessionUser{SessionID: id, UserID: s.UserID, UserName: "alice", CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt}, nil
}

func (m *memSessions) ExtendSession(_ context.Context, id string, exp time.Time) error {
	s, ok := m.rows[id]
	if !ok {
		return store.ErrNotFound
	}
	s.ExpiresAt = exp
	m.rows[id] = s
	return nil
}

func (m *memSessions) RevokeSession(_ context.Context, id string, _ time.Time) error {
	delete(m.rows, id)
	return nil
}

// TestRefreshStopsAtMaxAge refreshes a session every 40 minutes with a token
// lifetime of an hour and a maximum age of three: the expiry never passes
// login+3h, and a refresh at or past it is refused, as is the token.
func TestRefreshStopsAtMaxAge(t *testing.T) {
	login := time.Unix(1_800_000_000, 0)
	now := login
	clock := func() time.Time { return now }
	key, err := tokens.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	codec, err := tokens.NewCodec([]tokens.Key{key}, clock)
	if err != nil {
		t.Fatal(err)
	}
	sessions := &memSessions{rows: map[string]store.Session{}}
	s := NewService(nil, sessions, codec, time.Hour, 3*time.Hour, clock)
	ctx := context.Background()
	issued, err := s.Start(ctx, store.User{ID: 1, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	end := login.Add(3 * time.Hour)
	cases := []struct {
		at      time.Duration // since login
		wantExp time.Time     // zero: refused
	}{
		{40 * time.Minute, login.Add(100 * time.Minute)},
		{80 * time.Minute, login.Add(140 * time.Minute)},
		{120 * time.Minute, login.Add(180 * time.Minute)},
		{160 * time.Minute, end}, // capped, not 220 min
		{179 * time.Minute, end},
		{180 * time.Minute, time.Time{}},
	}
	tok := issued.Token
	for _, tc := range cases {
		now = login.Add(tc.at)
		id, err := s.Authenticate(ctx, tok)
		if tc.wantExp.IsZero() {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("at %v: token still authenticates (%v)", tc.at, err)
			}
			if _, err := s.Refresh(ctx, Identity{UserID: 1, SessionID: issued.Identity.SessionID, LoginAt: login}); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("at %v: refresh past the maximum age: %v, want ErrInvalidToken", tc.at, err)
			}
			if _, err := s.SessionExpiry(ctx, issued.Identity.SessionID); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("at %v: session expiry past the maximum age: %v", tc.at, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("at %v: %v", tc.at, err)
		}
		if !id.LoginAt.Equal(login) {
			t.Fatalf("at %v: login time %v, want %v", tc.at, id.LoginAt, login)
		}
		got, err := s.Refresh(ctx, id)
		if err != nil {
			t.Fatalf("at %v: refresh: %v", tc.at, err)
		}
		if !got.Identity.ExpiresAt.Equal(tc.wantExp) {
			t.Fatalf("at %v: refreshed to %v, want %v", tc.at, got.Identity.ExpiresAt, tc.wantExp)
		}
		// What open sockets look up is capped the same way.
		if exp, err := s.SessionExpiry(ctx, id.SessionID); err != nil || !exp.Equal(tc.wantExp) {
			t.Fatalf("at %v: session expiry %v, %v; want %v", tc.at, exp, err, tc.wantExp)
		}
		tok = got.Token
	}
}

type pruneRecorder struct{ sessionsBefore, revocationsBefore time.Time }

func (p *pruneRecorder) PruneSessions(_ context.Context, before time.Time) (int64, error) {
	p.sessionsBefore = before
	return 0, nil
}

func (p *pruneRecorder) PruneRevocations(_ context.Context, before time.Time) (int64, error) {
	p.revocationsBefore = before
	return 0, nil
}

// TestPruneKeepsWhatANodeMayNeed: sessions go once expired; revocations only
// once every session they could concern has expired (the maximum age).
func TestPruneKeepsWhatANodeMayNeed(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, maxAge := range []time.Duration{3 * time.Second, 720 * time.Hour} {
		p := &pruneRecorder{}
		if _, _, err := Prune(context.Background(), p, now, maxAge); err != nil {
			t.Fatal(err)
		}
		if p.sessionsBefore.After(now) || now.Sub(p.sessionsBefore) > 2*time.Hour {
			t.Errorf("maxAge %v: sessions pruned before %v, want expired ones (within a margin of now)", maxAge, p.sessionsBefore)
		}
		if p.revocationsBefore.After(now.Add(-maxAge)) {
			t.Errorf("maxAge %v: revocations pruned before %v, newer than the maximum age", maxAge, p.revocationsBefore)
		}
	}
}
