package admission

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
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
				g := New(2, tc.wait, time.Now)
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
	g := New(1, time.Hour, time.Now)
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
		g := New(1, time.Hour, time.Now)
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
	if g := New(0, 0, time.Now); g.Size() != DefaultConcurrency() || g.Size() < 4 {
		t.Fatalf("New(0) has %d slots, want DefaultConcurrency (%d)", g.Size(), DefaultConcurrency())
	}
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock               { return &fakeClock{t: time.Unix(1_000_000, 0)} }

// busySecond completes n handshakes in the clock's current second while
// one more waits (so the gate is busy), then lets the second pass.
func busySecond(g *Gate, advance func(time.Duration), n int) {
	g.waiting.Add(1)
	for range n {
		rel, ok := g.TryAcquire()
		if !ok {
			panic("no free slot to complete a handshake in")
		}
		rel()
	}
	g.waiting.Add(-1)
	advance(time.Second)
}

// The rate is the most handshakes completed in one of the last four whole
// seconds in which the gate was busy (handshakes waiting, or one refused);
// between busy seconds the last measure holds; before any, 100 a second a
// slot; never under one a second a slot.
func TestRate(t *testing.T) {
	cases := []struct {
		name  string
		slots int
		setup func(g *Gate, c *fakeClock)
		want  float64
	}{
		{"none measured: 100 a second a slot", 8, func(g *Gate, c *fakeClock) { c.advance(5 * time.Second) }, 800},
		{"completions of an idle gate measure nothing", 2, func(g *Gate, c *fakeClock) {
			for range 5 {
				rel, _ := g.TryAcquire()
				rel()
				c.advance(time.Second)
			}
		}, 200},
		{"a busy second", 1, func(g *Gate, c *fakeClock) { busySecond(g, c.advance, 50) }, 50},
		{"the busiest of the last four", 1, func(g *Gate, c *fakeClock) {
			for _, n := range []int{30, 50, 40, 20} {
				busySecond(g, c.advance, n)
			}
		}, 50},
		{"a refusal makes the second busy", 1, func(g *Gate, c *fakeClock) {
			hold, _ := g.TryAcquire()
			g.TryAcquire() // refused
			hold()
			for range 59 {
				rel, _ := g.TryAcquire()
				rel()
			}
			c.advance(time.Second)
		}, 60},
		{"a second that was not busy does not count", 1, func(g *Gate, c *fakeClock) {
			busySecond(g, c.advance, 30)
			for range 80 {
				rel, _ := g.TryAcquire()
				rel()
			}
			c.advance(time.Second)
		}, 30},
		{"older seconds are forgotten", 1, func(g *Gate, c *fakeClock) {
			busySecond(g, c.advance, 90)
			c.advance(5 * time.Second)
			busySecond(g, c.advance, 30)
		}, 30},
		{"the measure holds once busy seconds pass", 1, func(g *Gate, c *fakeClock) {
			busySecond(g, c.advance, 30)
			c.advance(time.Minute)
		}, 30},
		{"the second under way does not count yet", 1, func(g *Gate, c *fakeClock) {
			busySecond(g, func(time.Duration) {}, 500)
		}, 100},
		{"a slow busy second: the floor, one a second a slot", 3, func(g *Gate, c *fakeClock) { busySecond(g, c.advance, 1) }, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeClock()
			g := New(tc.slots, 0, c.now)
			tc.setup(g, c)
			if got := g.Rate(); math.Abs(got-tc.want) > 1e-6*tc.want {
				t.Errorf("rate %v, want %v", got, tc.want)
			}
		})
	}
}

// Each refusal gets its own place, 1/rate after the one before and after the
// handshakes waiting, as whole seconds rounded up, at most MaxRetryAfter;
// places free as time passes; Peek takes none.
func TestReserve(t *testing.T) {
	s := time.Second
	second := func(g *Gate, c *fakeClock) { busySecond(g, c.advance, 1) }
	repeat := func(d time.Duration, n int) []time.Duration { return slices.Repeat([]time.Duration{d}, n) }
	cases := []struct {
		name    string
		slots   int
		setup   func(g *Gate, c *fakeClock)
		refused int
		want    []time.Duration // each refusal's Retry-After, in order
	}{
		{"one slot, a second a handshake: a second apart", 1, second, 5, []time.Duration{s, 2 * s, 3 * s, 4 * s, 5 * s}},
		{"four slots: four a second", 4, func(g *Gate, c *fakeClock) { busySecond(g, c.advance, 4) }, 9, append(append(repeat(s, 4), repeat(2*s, 4)...), 3*s)},
		{"after the handshakes waiting", 1, func(g *Gate, c *fakeClock) { second(g, c); g.waiting.Store(3) }, 3, []time.Duration{4 * s, 5 * s, 6 * s}},
		{"at the measured rate", 1, func(g *Gate, c *fakeClock) {
			busySecond(g, c.advance, 40) // 40 a second, 25 ms apart
		}, 90, append(append(repeat(s, 40), repeat(2*s, 40)...), repeat(3*s, 10)...)},
		{"capped", 1, second, 65, append(func() (d []time.Duration) {
			for i := 1; i <= 60; i++ {
				d = append(d, time.Duration(i)*s)
			}
			return d
		}(), repeat(MaxRetryAfter, 5)...)},
		{"places pass with time", 1, func(g *Gate, c *fakeClock) {
			second(g, c)
			for range 3 {
				g.Reserve() // up to 3 s
			}
			c.advance(2 * time.Second)
		}, 2, []time.Duration{2 * s, 3 * s}},
		{"reservations long past start again from now", 1, func(g *Gate, c *fakeClock) {
			second(g, c)
			g.Reserve()
			c.advance(time.Hour)
		}, 2, []time.Duration{s, 2 * s}},
		{"peeking takes no place", 1, func(g *Gate, c *fakeClock) {
			second(g, c)
			for range 3 {
				if got := g.Peek(); got != s {
					panic(fmt.Sprintf("peek %v, want 1s", got))
				}
			}
		}, 2, []time.Duration{s, 2 * s}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeClock()
			g := New(tc.slots, 0, c.now)
			if tc.setup != nil {
				tc.setup(g, c)
			}
			var got []time.Duration
			for range tc.refused {
				got = append(got, g.Reserve())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Retry-After of each refusal:\n got %v\nwant %v", got, tc.want)
			}
		})
	}
}

// A handshake that finds as many waiting as the gate completes within its
// wait is refused at once (ErrQueueFull, an ErrBusy) instead of waiting the
// whole wait to be refused then; one that finds fewer waits.
func TestQueueFull(t *testing.T) {
	cases := []struct {
		name     string
		wait     time.Duration
		ahead    int // handshakes already waiting
		wantErr  error
		wantTime time.Duration
	}{
		// Two slots, a second a handshake: two a second.
		{"room in the queue: waits", time.Second, 1, ErrBusy, time.Second},
		{"a full queue: refused at once", time.Second, 2, ErrQueueFull, 0},
		{"a longer wait serves more", 2 * time.Second, 3, ErrBusy, 2 * time.Second},
		{"the first waits however short the wait", time.Millisecond, 0, ErrBusy, time.Millisecond},
		{"a short wait serves only one", time.Millisecond, 1, ErrQueueFull, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := New(2, tc.wait, time.Now)
				busySecond(g, time.Sleep, 2)
				for range 2 {
					rel, _ := g.Acquire(context.Background())
					defer rel()
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				for range tc.ahead {
					go g.Acquire(ctx)
				}
				synctest.Wait()
				if n := g.Waiting(); n != tc.ahead {
					t.Fatalf("%d waiting, want %d", n, tc.ahead)
				}
				start := time.Now()
				_, err := g.Acquire(context.Background())
				if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrBusy) {
					t.Fatalf("acquire behind %d: %v, want %v", tc.ahead, err, tc.wantErr)
				}
				if got := time.Since(start); got != tc.wantTime {
					t.Errorf("refused after %v, want %v", got, tc.wantTime)
				}
			})
		})
	}
}
