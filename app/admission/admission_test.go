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

// completeNow completes n handshakes at the clock's current time.
func completeNow(g *Gate, n int) {
	for range n {
		rel, ok := g.TryAcquire()
		if !ok {
			panic("no free slot to complete a handshake in")
		}
		rel()
	}
}

// The rate is the most handshakes completed in one second of the last
// minute, the second under way included, and at least 200 a second a slot.
func TestRate(t *testing.T) {
	cases := []struct {
		name  string
		slots int
		setup func(g *Gate, c *fakeClock)
		want  float64
	}{
		{"none measured: 200 a second a slot", 8, func(g *Gate, c *fakeClock) { c.advance(5 * time.Second) }, 1600},
		{"a second's completions above the floor", 1, func(g *Gate, c *fakeClock) {
			completeNow(g, 250)
			c.advance(time.Second)
		}, 250},
		{"the busiest second of the last minute", 1, func(g *Gate, c *fakeClock) {
			for _, n := range []int{300, 500, 400} {
				completeNow(g, n)
				c.advance(time.Second)
			}
			c.advance(50 * time.Second)
		}, 500},
		{"the second under way counts", 1, func(g *Gate, c *fakeClock) { completeNow(g, 700) }, 700},
		{"seconds older than a minute are forgotten", 1, func(g *Gate, c *fakeClock) {
			completeNow(g, 900)
			c.advance(61 * time.Second)
		}, 200},
		{"never under 200 a second a slot", 2, func(g *Gate, c *fakeClock) {
			completeNow(g, 50)
			c.advance(time.Second)
		}, 400},
		{"a clock that goes back counts into the newest second", 1, func(g *Gate, c *fakeClock) {
			c.advance(3 * time.Second)
			completeNow(g, 150)
			c.advance(-2 * time.Second)
			completeNow(g, 150)
		}, 300},
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
	// seconds gives the Retry-After of places 1..n, each per long, capped.
	seconds := func(n int, per time.Duration) (d []time.Duration) {
		for i := 1; i <= n; i++ {
			end := time.Duration(i) * per
			d = append(d, min((end+time.Second-1)/time.Second*time.Second, MaxRetryAfter))
		}
		return d
	}
	ms := time.Millisecond
	cases := []struct {
		name    string
		slots   int
		setup   func(g *Gate, c *fakeClock)
		refused int
		want    []time.Duration // each refusal's Retry-After, in order
	}{
		{"one slot, nothing measured: 200 a second", 1, nil, 401, seconds(401, 5*ms)},
		{"four slots: 800 a second", 4, nil, 801, seconds(801, 5*ms/4)},
		{"after the handshakes waiting", 1, func(g *Gate, c *fakeClock) { g.waiting.Store(500) }, 2, []time.Duration{3 * time.Second, 3 * time.Second}},
		{"at the measured rate", 1, func(g *Gate, c *fakeClock) { completeNow(g, 1000) }, 1001, seconds(1001, ms)},
		{"capped", 1, nil, 12100, seconds(12100, 5*ms)},
		{"places pass with time", 1, func(g *Gate, c *fakeClock) {
			for range 600 {
				g.Reserve() // up to 3 s
			}
			c.advance(2 * time.Second)
		}, 2, []time.Duration{2 * time.Second, 2 * time.Second}},
		{"reservations long past start again from now", 1, func(g *Gate, c *fakeClock) {
			for range 300 {
				g.Reserve()
			}
			c.advance(time.Hour)
		}, 1, []time.Duration{time.Second}},
		{"peeking takes no place", 1, func(g *Gate, c *fakeClock) {
			for range 199 {
				g.Reserve()
			}
			for range 3 {
				if got := g.Peek(); got != time.Second {
					panic(fmt.Sprintf("peek at place 200: %v, want 1s", got))
				}
			}
		}, 2, []time.Duration{time.Second, 2 * time.Second}},
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
		// Two slots, nothing measured: 400 a second.
		{"room in the queue: waits", 10 * time.Millisecond, 3, ErrBusy, 10 * time.Millisecond},
		{"a full queue: refused at once", 10 * time.Millisecond, 4, ErrQueueFull, 0},
		{"a longer wait serves more", 20 * time.Millisecond, 7, ErrBusy, 20 * time.Millisecond},
		{"the first waits however short the wait", time.Millisecond, 0, ErrBusy, time.Millisecond},
		{"a short wait serves only one", time.Millisecond, 1, ErrQueueFull, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				g := New(2, tc.wait, time.Now)
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
