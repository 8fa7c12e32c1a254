package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"securechat/app/store"
	"securechat/app/tokens"
)

// listingSessions is a SessionStore and SessionLister in memory that counts
// last-seen writes.
type listingSessions struct {
	rows    map[string]store.Session
	touches int // sessions written
	batches int // writes
}

func (m *listingSessions) CreateSession(_ context.Context, s store.Session) error {
	m.rows[s.ID] = s
	return nil
}

func (m *listingSessions) LiveSession(_ context.Context, id string, now time.Time) (store.SessionUser, error) {
	s, ok := m.rows[id]
	if !ok || !now.Before(s.ExpiresAt) {
		return store.SessionUser{}, store.ErrNotFound
	}
	return store.SessionUser{SessionID: id, UserID: s.UserID, UserName: "alice", CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, Kind: s.Kind, LastSeen: s.LastSeen}, nil
}

func (m *listingSessions) ExtendSession(_ context.Context, id string, exp time.Time) error {
	s, ok := m.rows[id]
	if !ok {
		return store.ErrNotFound
	}
	s.ExpiresAt = exp
	m.rows[id] = s
	return nil
}

func (m *listingSessions) RevokeSession(_ context.Context, id string, _ time.Time) error {
	delete(m.rows, id)
	return nil
}

func (m *listingSessions) UserSessions(_ context.Context, userID int64, now time.Time) ([]store.Session, error) {
	var out []store.Session
	for _, s := range m.rows {
		if s.UserID == userID && now.Before(s.ExpiresAt) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (m *listingSessions) TouchSessions(_ context.Context, ids []string, at time.Time) error {
	m.batches++
	for _, id := range ids {
		m.touches++
		s := m.rows[id]
		s.LastSeen = at
		m.rows[id] = s
	}
	return nil
}

func newListingService(t *testing.T, now *time.Time) (*Service, *listingSessions) {
	t.Helper()
	clock := func() time.Time { return *now }
	key, err := tokens.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	codec, err := tokens.NewCodec([]tokens.Key{key}, clock)
	if err != nil {
		t.Fatal(err)
	}
	m := &listingSessions{rows: map[string]store.Session{}}
	return NewService(nil, m, codec, time.Hour, 3*time.Hour, clock), m
}

// TestLastSeenAtMostOnceAMinute: authenticating a token writes last_seen
// only when the stored one is a minute old or more.
func TestLastSeenAtMostOnceAMinute(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s, m := newListingService(t, &now)
	ctx := context.Background()
	issued, err := s.StartSession(ctx, store.User{ID: 1, Name: "alice"}, Meta{Kind: store.SessionBrowser, Address: "192.0.2.7", UserAgent: "a" + strings.Repeat("é", 200)}) // 256 bytes end inside an é
	if err != nil {
		t.Fatal(err)
	}
	row := m.rows[issued.Identity.SessionID]
	if row.Kind != store.SessionBrowser || row.Address != "192.0.2.7" || len(row.UserAgent) > MaxUserAgent || !strings.HasPrefix(row.UserAgent, "aé") || strings.ContainsRune(row.UserAgent, '\uFFFD') {
		t.Errorf("recorded %q %q, a %d-byte agent; want browser, the address, at most %d bytes of whole characters", row.Kind, row.Address, len(row.UserAgent), MaxUserAgent)
	}
	for _, tc := range []struct {
		at          time.Duration
		wantTouches int
	}{
		{0, 0}, {30 * time.Second, 0}, {59 * time.Second, 0}, {60 * time.Second, 1}, {90 * time.Second, 1}, {119 * time.Second, 1}, {2 * time.Minute, 2},
	} {
		now = time.Unix(1_800_000_000, 0).Add(tc.at)
		if _, err := s.Authenticate(ctx, issued.Token); err != nil {
			t.Fatalf("at %v: %v", tc.at, err)
		}
		if err := s.FlushLastSeen(ctx); err != nil {
			t.Fatal(err)
		}
		if m.touches != tc.wantTouches {
			t.Errorf("at %v: %d writes; want %d", tc.at, m.touches, tc.wantTouches)
		}
	}
}

// TestLastSeenWrittenTogether: the token checks of many sockets of many
// sessions (a reconnect storm) make no write themselves; the next flush
// writes each due session once, in one write, and the one after writes
// nothing.
func TestLastSeenWrittenTogether(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s, m := newListingService(t, &now)
	ctx := context.Background()
	var tokens []string
	for i := range 3 {
		issued, err := s.StartSession(ctx, store.User{ID: 1, Name: "alice"}, Meta{Kind: store.SessionToken})
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			tokens = append(tokens, issued.Token)
		}
	}
	now = now.Add(2 * time.Minute)
	for range 10 {
		for _, tok := range tokens {
			if _, err := s.Authenticate(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
	}
	if m.batches != 0 {
		t.Fatalf("%d writes during the token checks, want none", m.batches)
	}
	for _, want := range []struct{ batches, touches int }{{1, 2}, {1, 2}} {
		if err := s.FlushLastSeen(ctx); err != nil {
			t.Fatal(err)
		}
		if m.batches != want.batches || m.touches != want.touches {
			t.Errorf("after a flush: %d writes of %d sessions, want %d of %d", m.batches, m.touches, want.batches, want.touches)
		}
	}
	seen := 0
	for _, row := range m.rows {
		if row.LastSeen.Equal(now) {
			seen++
		}
	}
	if seen != 2 {
		t.Errorf("%d sessions last seen now, want the 2 used", seen)
	}
}

// TestPAT: a personal access token is stored only as its SHA-256, lives its
// days past the maximum age of a login, is refused for refresh, is not
// taken for a session token (nor a session token's id for a PAT), and ends
// with RevokeToken. Names, lifetimes and the count per user are bounded.
func TestPAT(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	now := start
	s, m := newListingService(t, &now)
	s.LimitPATs(2)
	ctx := context.Background()
	alice := store.User{ID: 1, Name: "alice"}
	tok, info, err := s.CreatePAT(ctx, alice, "ci", 30, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(tok))
	hash := base64.RawURLEncoding.EncodeToString(sum[:])
	if _, ok := m.rows[hash]; !ok || len(m.rows) != 1 {
		t.Fatalf("stored %v; want one row under the token's SHA-256", m.rows)
	}
	for id, row := range m.rows {
		if strings.Contains(id+row.Name+row.Address+row.UserAgent, tok) {
			t.Errorf("the token is stored")
		}
	}
	if info.ID == hash || strings.Contains(hash, info.ID) {
		t.Errorf("public id %s gives the hash away", info.ID)
	}
	now = start.Add(29 * 24 * time.Hour) // far past the 3 h maximum age of a login
	id, err := s.Authenticate(ctx, tok)
	if err != nil || id.Kind != store.SessionPAT || id.UserID != 1 {
		t.Fatalf("the PAT on day 29: %+v, %v", id, err)
	}
	if exp, err := s.SessionExpiry(ctx, id.SessionID); err != nil || !exp.Equal(start.Add(30*24*time.Hour)) {
		t.Errorf("SessionExpiry = %v, %v; want day 30", exp, err)
	}
	if _, err := s.Refresh(ctx, id); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Refresh of a PAT: %v; want ErrInvalidToken", err)
	}
	if _, err := s.Authenticate(ctx, PATPrefix+"guess"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("a guessed PAT: %v", err)
	}
	for _, tc := range []struct {
		name string
		days int
		want error
	}{
		{"", 30, ErrPATName}, {strings.Repeat("n", 65), 30, ErrPATName}, {"tab\there", 30, ErrPATName},
		{"x", 0, ErrPATDays}, {"x", 366, ErrPATDays},
	} {
		if _, _, err := s.CreatePAT(ctx, alice, tc.name, tc.days, Meta{}); !errors.Is(err, tc.want) {
			t.Errorf("CreatePAT(%q, %d) = %v; want %v", tc.name, tc.days, err, tc.want)
		}
	}
	if _, _, err := s.CreatePAT(ctx, alice, "second", 1, Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreatePAT(ctx, alice, "third", 1, Meta{}); !errors.Is(err, ErrTooManyPATs) {
		t.Errorf("a third PAT past the limit of 2: %v", err)
	}
	if err := s.RevokeToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, tok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("the revoked PAT: %v", err)
	}
	if err := s.RevokeToken(ctx, "garbage"); err != nil {
		t.Errorf("RevokeToken(garbage) = %v; want nil", err)
	}
}
