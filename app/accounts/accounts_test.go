package accounts

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"securechat/app/store"
)

func TestNormalizeName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"alice", "alice"},
		{"Alice", "alice"},
		{"  Bob_1-x ", "bob_1-x"},
		{strings.Repeat("a", 32), strings.Repeat("a", 32)},
		{strings.Repeat("a", 33), ""},
		{"", ""},
		{"a b", ""},
		{"ålice", ""},
		{"a.b", ""},
		{"\u212a", ""}, // Kelvin sign folds to k in Unicode; we refuse it rather than fold
	}
	for _, tc := range cases {
		got, err := NormalizeName(tc.in)
		if tc.want == "" && err == nil || tc.want != "" && got != tc.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestHasherRoundTrip(t *testing.T) {
	h := NewHasher(0, -1, 0)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q does not record its parameters", enc)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct horsE": false, "": false} {
		ok, err := h.Verify(ctx, pw, enc)
		if err != nil || ok != want {
			t.Errorf("Verify(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	for _, bad := range []string{"", "$argon2id$", "$bcrypt$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=x$c2FsdA$aGFzaA"} {
		if _, err := h.Verify(ctx, "x", bad); err == nil {
			t.Errorf("Verify accepted malformed hash %q", bad)
		}
	}
}

// TestHasherQueue holds the hasher's one slot and checks who gets it next and
// who is refused: logins before sign-ups, a full queue and a long wait give
// ErrBusy instead of an unbounded wait.
func TestHasherQueue(t *testing.T) {
	ctx := context.Background()
	t.Run("logins go before earlier sign-ups", func(t *testing.T) {
		h := NewHasher(1, 10, 0)
		if err := h.acquire(ctx, false); err != nil {
			t.Fatal(err)
		}
		order := make(chan string, 4)
		waitQueued := func(logins, others int) {
			t.Helper()
			for deadline := time.Now().Add(5 * time.Second); ; {
				h.mu.Lock()
				n, m := len(h.logins), len(h.others)
				h.mu.Unlock()
				if n == logins && m == others {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("queued %d logins, %d others; want %d, %d", n, m, logins, others)
				}
				time.Sleep(time.Millisecond)
			}
		}
		take := func(name string, login bool) {
			if err := h.acquire(ctx, login); err != nil {
				order <- name + ": " + err.Error()
				return
			}
			order <- name
			h.release()
		}
		go take("signup1", false)
		waitQueued(0, 1)
		go take("signup2", false)
		waitQueued(0, 2)
		go take("login", true)
		waitQueued(1, 2)
		h.release()
		var got []string
		for range 3 {
			got = append(got, <-order)
		}
		if want := []string{"login", "signup1", "signup2"}; !slices.Equal(got, want) {
			t.Fatalf("order %v, want %v", got, want)
		}
		if h.inUse != 0 {
			t.Fatalf("%d slots in use after all released", h.inUse)
		}
	})
	cases := []struct {
		name         string
		queue        int
		wait         time.Duration
		queuedOthers int  // sign-ups already waiting
		login        bool // the kind of the one that tries
		want         error
	}{
		{"sign-up queue full", 2, 0, 2, false, ErrBusy},
		{"a full sign-up queue does not refuse a login", 2, 0, 2, true, nil},
		{"wait limit", 10, 20 * time.Millisecond, 0, false, ErrBusy},
		{"zero queue refuses any wait", 0, 0, 0, true, ErrBusy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHasher(1, tc.queue, tc.wait)
			if err := h.acquire(ctx, false); err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			for range tc.queuedOthers {
				h.mu.Lock()
				h.others = append(h.others, make(chan struct{}, 1))
				h.mu.Unlock()
			}
			if tc.want == nil {
				// Release the slot once the login waits: it, not a sign-up, must get it.
				go func() {
					for {
						h.mu.Lock()
						n := len(h.logins)
						h.mu.Unlock()
						if n == 1 {
							h.release()
							return
						}
						time.Sleep(time.Millisecond)
					}
				}()
			}
			err := h.acquire(wctx, tc.login)
			if !errors.Is(err, tc.want) {
				t.Fatalf("acquire: %v, want %v", err, tc.want)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if len(h.logins) != 0 || len(h.others) != tc.queuedOthers {
				t.Fatalf("a refused waiter stayed queued: %d logins, %d others", len(h.logins), len(h.others))
			}
		})
	}
}

// TestCreateChecksNameBeforeHashing: with the hasher's one slot taken and no
// waiting allowed, a taken or malformed name is still answered, since it
// needs no hash.
func TestCreateChecksNameBeforeHashing(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(1, 0, 0)
	st := &memStore{users: map[string]store.User{"taken": {ID: 1, Name: "taken"}}}
	s := NewService(st, h, time.Now)
	if err := h.acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]error{"taken": ErrTaken, "TAKEN": ErrTaken, "bad name": ErrBadName, "free": ErrBusy} {
		if _, err := s.Create(ctx, name, "long enough password"); !errors.Is(err, want) {
			t.Errorf("Create(%q): %v, want %v", name, err, want)
		}
	}
}

type memStore struct {
	Store
	users map[string]store.User
}

func (m *memStore) UserByName(_ context.Context, name string) (store.User, error) {
	if u, ok := m.users[name]; ok {
		return u, nil
	}
	return store.User{}, store.ErrNotFound
}
