// Package admission bounds how many socket handshakes the server works on at
// once, so that a reconnect storm (every page of a restarted server coming
// back together) queues briefly and is then told to come back later, instead
// of taking the processors and memory the open sockets need.
//
// A handshake holds a slot from before its token is checked until its socket
// is set up (registered, welcomed, its unread counts and default room sent):
// that is the work a handshake costs beyond a plain request. A handshake that
// finds every slot taken waits for one at most the gate's wait, oldest first,
// and is refused past it (the web layer answers 503 with Retry-After).
package admission

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// ErrBusy means no slot came free within the wait.
var ErrBusy = errors.New("too many socket handshakes at once")

// Gate is a counting semaphore with a bounded wait. Its zero value is not
// usable; build one with New.
type Gate struct {
	slots chan struct{} // a send takes a slot, a receive frees one
	wait  time.Duration
}

// New returns a gate of n slots (n <= 0: DefaultConcurrency) whose
// handshakes wait at most wait for one (wait <= 0: they do not wait).
func New(n int, wait time.Duration) *Gate {
	if n <= 0 {
		n = DefaultConcurrency()
	}
	return &Gate{slots: make(chan struct{}, n), wait: wait}
}

// DefaultConcurrency is four handshakes per processor: a handshake waits on
// the store (the session, the unread counts, the default room's history)
// about as long as it computes, so a few per processor keep them busy, and
// more would only make each one slower.
func DefaultConcurrency() int {
	return 4 * runtime.GOMAXPROCS(0)
}

// Acquire takes a slot, waiting at most the gate's wait. The returned
// release frees it and may be called more than once.
func (g *Gate) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case g.slots <- struct{}{}:
		return g.releaser(), nil
	default:
	}
	if g.wait <= 0 {
		return nil, ErrBusy
	}
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

// InFlight is how many slots are taken.
func (g *Gate) InFlight() int { return len(g.slots) }

// Size is how many slots there are.
func (g *Gate) Size() int { return cap(g.slots) }

func (g *Gate) releaser() func() {
	var once sync.Once
	return func() { once.Do(func() { <-g.slots }) }
}
