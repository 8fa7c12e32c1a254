package admission

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// A full gate makes a handshake wait at most the gate's wait, then refuses
// it; a slot freed within the wait goes to the waiter; a released slot is
// given back once however often release is called.
func TestGate(t *testing.T) {
	cases := []struct {
		name     string
		wait     time.Duration
		freeIn   time.Duration // a held slot is released this long after the waiter starts (0: never)
		wantErr  error
		wantTime time.Duration // how long the waiter waited (fake time)
	}{
		{"no wait refuses at once", 0, 0, ErrBusy, 0},
		{"waits the whole wait, then refuses", time.Second, 0, ErrBusy, time.Second},
		{"a slot freed within the wait is taken", time.Second, 300 * time.Millisecond, nil, 300 * time.Millisecond},
		{"a slot freed after the wait is too late", time.Second, 2 * time.Second, ErrBusy, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := New(2, tc.wait)
				var held []func()
				for range 2 {
					rel, err := g.Acquire(context.Background())
					if err != nil {
						t.Fatalf("acquire a free slot: %v", err)
					}
					held = append(held, rel)
				}
				if tc.freeIn > 0 {
					time.AfterFunc(tc.freeIn, held[0])
				}
				start := time.Now()
				rel, err := g.Acquire(context.Background())
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("acquire on a full gate: %v, want %v", err, tc.wantErr)
				}
				if got := time.Since(start); got != tc.wantTime {
					t.Errorf("waited %v, want %v", got, tc.wantTime)
				}
				if err == nil {
					rel()
				}
				for _, r := range held {
					r()
					r() // twice: must not free a second slot
				}
				synctest.Wait()
				if n := g.InFlight(); n != 0 {
					t.Errorf("%d slots still taken after every release", n)
				}
			})
		})
	}
}

func TestTryAcquire(t *testing.T) {
	g := New(1, time.Hour)
	rel, ok := g.TryAcquire()
	if !ok {
		t.Fatal("a free slot was refused")
	}
	if _, ok := g.TryAcquire(); ok {
		t.Fatal("a full gate gave a slot")
	}
	rel()
	if r, ok := g.TryAcquire(); !ok {
		t.Fatal("a released slot was not given again")
	} else {
		r()
	}
}

// A waiter whose request ends stops waiting.
func TestAcquireCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := New(1, time.Hour)
		rel, _ := g.Acquire(context.Background())
		defer rel()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Second, cancel)
		if _, err := g.Acquire(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("acquire with a canceled request: %v", err)
		}
	})
}

func TestDefaultSize(t *testing.T) {
	if g := New(0, 0); g.Size() != DefaultConcurrency() || g.Size() < 4 {
		t.Fatalf("New(0) has %d slots, want DefaultConcurrency (%d)", g.Size(), DefaultConcurrency())
	}
}
