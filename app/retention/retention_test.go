package retention

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"securechat/app/store"
)

// fakeStore has expired messages to give.
type fakeStore struct {
	mu      sync.Mutex
	left    int // expired messages not yet deleted
	calls   []int
	cutoffs []time.Time
	days    map[string]int
}

func (s *fakeStore) ExpireMessages(_ context.Context, cutoff, _ time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(s.left, limit)
	s.left -= n
	s.calls = append(s.calls, n)
	s.cutoffs = append(s.cutoffs, cutoff)
	return n, nil
}

func (s *fakeStore) RoomRetentions(context.Context) (map[string]int, error) { return s.days, nil }

type fakeCache struct {
	cutoffs map[string]time.Time
	scrubs  int
}

func (c *fakeCache) ScrubSoon() { c.scrubs++ }

func (c *fakeCache) ForgetExpired(cutoff func(room string) time.Time) {
	c.cutoffs = map[string]time.Time{}
	for _, r := range []string{"general", "short", "long"} {
		c.cutoffs[r] = cutoff(r)
	}
}

func timers(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

func TestPassDeletesInBatchesThenAsksForAScrub(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		s := &fakeStore{left: 2*batchSize + 7, days: map[string]int{"short": 1, "long": 400}}
		c := &fakeCache{}
		e := New(s, c, 90*24*time.Hour, nil, func() time.Time { return now }, timers, slog.New(slog.NewTextHandler(io.Discard, nil)))
		start := time.Now()
		n, err := e.Pass(t.Context())
		if err != nil || n != 2*batchSize+7 {
			t.Fatalf("Pass = %d, %v; want %d", n, err, 2*batchSize+7)
		}
		if want := []int{batchSize, batchSize, 7}; len(s.calls) != 3 || s.calls[0] != want[0] || s.calls[2] != want[2] {
			t.Errorf("batches %v; want %v", s.calls, want)
		}
		// A pause after each full batch.
		if d := time.Since(start); d != 2*batchPause {
			t.Errorf("the pass took %v (fake time); want %v", d, 2*batchPause)
		}
		if c.scrubs != 1 {
			t.Errorf("%d scrubs asked for; want 1", c.scrubs)
		}
		server := now.Add(-90 * 24 * time.Hour)
		if !s.cutoffs[0].Equal(server) {
			t.Errorf("server cutoff %v; want %v", s.cutoffs[0], server)
		}
		want := map[string]time.Time{"general": server, "short": now.Add(-24 * time.Hour), "long": server}
		for r, w := range want {
			if !c.cutoffs[r].Equal(w) {
				t.Errorf("cache cutoff of %s = %v; want %v", r, c.cutoffs[r], w)
			}
		}
	})
}

func TestPassWithNothingToDoDoesNotScrub(t *testing.T) {
	s := &fakeStore{}
	c := &fakeCache{}
	e := New(s, c, 0, nil, time.Now, timers, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if n, err := e.Pass(t.Context()); n != 0 || err != nil {
		t.Errorf("Pass = %d, %v", n, err)
	}
	if c.scrubs != 0 || !s.cutoffs[0].IsZero() {
		t.Errorf("scrubs %d, cutoff %v; want none and zero (no server retention)", c.scrubs, s.cutoffs[0])
	}
}

func TestExpiresBefore(t *testing.T) {
	now := time.Date(2030, 1, 10, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	cases := []struct {
		server time.Time
		days   int
		want   time.Time
	}{
		{time.Time{}, 0, time.Time{}},
		{time.Time{}, 2, now.Add(-2 * day)},
		{now.Add(-5 * day), 0, now.Add(-5 * day)},
		{now.Add(-5 * day), 2, now.Add(-2 * day)},  // the room's is shorter
		{now.Add(-5 * day), 30, now.Add(-5 * day)}, // the server's is shorter
	}
	for _, tc := range cases {
		if got := store.ExpiresBefore(tc.server, tc.days, now); !got.Equal(tc.want) {
			t.Errorf("ExpiresBefore(%v, %d) = %v; want %v", tc.server, tc.days, got, tc.want)
		}
	}
}
