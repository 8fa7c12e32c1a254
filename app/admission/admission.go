// Package admission bounds how many socket handshakes the server works on at
// once, so that a reconnect storm (every page of a restarted server coming
// back together) queues briefly and is then told when to come back, instead
// of taking the processors and memory the open sockets need.
//
// A handshake holds a slot from before its token is checked until its socket
// is set up (registered, welcomed, its unread counts and default room sent):
// that is the work a handshake costs beyond a plain request. A handshake that
// finds every slot taken waits for one at most the gate's wait, oldest first,
// and is refused past it (the web layer answers 503 with Retry-After). One
// that finds more handshakes already waiting than the wait can serve is
// refused at once: it would hold its connection for the whole wait only to be
// refused then.
//
// A refused handshake is told when to come back by a reservation (Reserve):
// each refusal gets its own future time, one after the other at the pace the
// gate completes handshakes, after those already waiting. So the refused come
// back spread at exactly the rate the server can take them, rather than all
// in the same second or in a random window while the server idles.
//
// Locking: mu guards the rate count and the latest reservation, and is held
// for arithmetic only. The slots are a channel and the waiting count an
// atomic, read under mu but never waited on there.
package admission

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// defaultRate is the handshakes a second a slot the gate counts on at
	// least: about 5 ms a connect on an idle server of this kind (1,970 a
	// second at the peak of a storm with 8 slots, docs/BENCHMARKS.md). A storm
	// starts with hundreds of handshakes in the first milliseconds, when the
	// gate has measured nothing; counting on less then sends them to come
	// back far too late, and an idle server is the costlier mistake (one told
	// to come early waits in the queue or is given a new place).
	defaultRate = 200
	// rateSeconds is how many seconds of completions the gate keeps: its
	// rate is the busiest of them.
	rateSeconds = 60

	// MaxRetryAfter caps a reservation. Further out the promise means little
	// (the rate will have changed by then), and a client told to wait minutes
	// may as well have been told the server is down; those past the cap all
	// come back at it and are given new places then.
	MaxRetryAfter = 60 * time.Second
)

var (
	// ErrBusy means the handshake was refused: no slot came free within the wait.
	ErrBusy = errors.New("too many socket handshakes at once")
	// ErrQueueFull is an ErrBusy given without waiting, because more
	// handshakes were already waiting than the wait could serve.
	ErrQueueFull = fmt.Errorf("%w: more are waiting than the wait can serve", ErrBusy)
)

// Gate is a counting semaphore with a bounded wait that tells the handshakes
// it refuses when to come back. Its zero value is not usable; build one with New.
type Gate struct {
	slots   chan struct{} // a send takes a slot, a receive frees one
	wait    time.Duration
	now     func() time.Time
	waiting atomic.Int64 // handshakes blocked in Acquire
	total   atomic.Int64 // handshakes completed (slots released), ever

	mu     sync.Mutex
	start  time.Time          // second 0 begins here
	second int64              // the newest second counted into
	done   [rateSeconds]int32 // handshakes completed in each recent second, at second % rateSeconds
	next   time.Time          // the end of the latest reservation
}

// New returns a gate of n slots (n <= 0: DefaultConcurrency) whose
// handshakes wait at most wait for one (wait <= 0: they do not wait). now is
// the clock its rate and reservations are reckoned on.
func New(n int, wait time.Duration, now func() time.Time) *Gate {
	if n <= 0 {
		n = DefaultConcurrency()
	}
	return &Gate{slots: make(chan struct{}, n), wait: wait, now: now, start: now()}
}

// DefaultConcurrency is four handshakes per processor: a handshake waits on
// the store (the session, the unread counts, the default room's history)
// about as long as it computes, so a few per processor keep them busy, and
// more would only make each one slower.
func DefaultConcurrency() int {
	return 4 * runtime.GOMAXPROCS(0)
}

// Acquire takes a slot, waiting at most the gate's wait. The returned
// release frees it and may be called more than once. It refuses with
// ErrBusy; at once with ErrQueueFull when the handshakes already waiting are
// as many as the gate completes within the wait.
func (g *Gate) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case g.slots <- struct{}{}:
		return g.releaser(), nil
	default:
	}
	if g.wait <= 0 {
		return nil, ErrBusy
	}
	// Counted before the check, so that two arriving together cannot both
	// take the last place in the queue.
	if ahead := g.waiting.Add(1) - 1; float64(ahead) >= g.Rate()*g.wait.Seconds() {
		g.waiting.Add(-1)
		return nil, ErrQueueFull
	}
	defer g.waiting.Add(-1)
	t := time.NewTimer(g.wait)
	defer t.Stop()
	// Blocked senders on a channel are served in the order they came.
	select {
	case g.slots <- struct{}{}:
		return g.releaser(), nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a handshake slot: %w", ctx.Err())
	}
}

// TryAcquire takes a slot if one is free now, without waiting.
func (g *Gate) TryAcquire() (release func(), ok bool) {
	select {
	case g.slots <- struct{}{}:
		return g.releaser(), true
	default:
		return nil, false
	}
}

// Reserve gives a refused handshake its own time to come back and returns
// how long from now that is, as a Retry-After: whole seconds rounded up, at
// least 1 s, at most MaxRetryAfter. The place is the first after the latest
// reservation and after the handshakes waiting now, each place 1/Rate long.
func (g *Gate) Reserve() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.next = g.placeLocked(now)
	return retryAfter(g.next.Sub(now))
}

// Peek is what Reserve would answer, without taking the place: for a
// refusal whose client cannot read the answer (a browser's WebSocket shows
// the page no status and no header), which asks again (GET /ws/ready) and
// reserves there. Reserving twice would spread the refused over twice the
// time the server needs.
func (g *Gate) Peek() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	return retryAfter(g.placeLocked(now).Sub(now))
}

// placeLocked is the end of the next reservation: one place, 1/rate long,
// after both the latest reservation and the handshakes waiting now; never
// past MaxRetryAfter from now, so the gate never promises a time it has
// stopped believing in.
func (g *Gate) placeLocked(now time.Time) time.Time {
	per := time.Duration(float64(time.Second) / g.rateLocked(now))
	start := now.Add(time.Duration(g.waiting.Load()) * per)
	if g.next.After(start) {
		start = g.next
	}
	end := start.Add(per)
	if limit := now.Add(MaxRetryAfter); end.After(limit) {
		end = limit
	}
	return end
}

// retryAfter is d as a Retry-After: whole seconds rounded up, within [1 s, MaxRetryAfter].
func retryAfter(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second * time.Second
	return min(max(s, time.Second), MaxRetryAfter)
}

// Rate is how many handshakes a second the gate can complete: the most it
// completed in one second of the last minute, and at least 200 a second a
// slot. A second's completions never exceed what the server can do, so the
// busiest second is a measure of it that a quiet second cannot pull down: in
// a storm the refused come back at the pace they were given, and a rate
// counted from the seconds since (or from how long a handshake holds its
// slot, which the rest of a busy server's work stretches) would never rise
// above that pace. Too high a rate costs little: a handshake that comes
// before its turn waits in the queue or is given a new place.
func (g *Gate) Rate() float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rateLocked(g.now())
}

func (g *Gate) rateLocked(now time.Time) float64 {
	g.advanceLocked(now)
	return float64(max(int(slices.Max(g.done[:])), cap(g.slots)*defaultRate))
}

// advanceLocked makes now's second the newest, emptying those it passes. A
// clock that went back counts into the newest second.
func (g *Gate) advanceLocked(now time.Time) {
	sec := int64(now.Sub(g.start) / time.Second)
	for i := g.second + 1; i <= sec && i <= g.second+rateSeconds; i++ {
		g.done[i%rateSeconds] = 0
	}
	g.second = max(g.second, sec)
}

// InFlight is how many slots are taken.
func (g *Gate) InFlight() int { return len(g.slots) }

// Completed is how many handshakes have released their slot, ever.
func (g *Gate) Completed() int64 { return g.total.Load() }

// Waiting is how many handshakes wait for a slot.
func (g *Gate) Waiting() int { return int(g.waiting.Load()) }

// Size is how many slots there are.
func (g *Gate) Size() int { return cap(g.slots) }

func (g *Gate) releaser() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			<-g.slots
			g.total.Add(1)
			g.mu.Lock()
			g.advanceLocked(g.now())
			g.done[g.second%rateSeconds]++
			g.mu.Unlock()
		})
	}
}
