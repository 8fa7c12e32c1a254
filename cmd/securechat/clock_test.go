package main

import (
	"sync"
	"time"

	"securechat/app/chat"
)

// fakeClock is a server clock the test moves. Now stands still until
// Advance, which runs the sockets' expiry timers that come due, in order and
// each at its own time, before it returns: a test waits for a token's expiry
// by saying so, not by sleeping. Only what the server reads through its clock
// follows it (tokens, sessions, rate limits, socket expiry); deadlines on
// connections, the presence and ping timers and the prune ticker are real.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

// newFakeClock starts at the current second: tokens carry whole seconds, so
// expiries fall exactly where the test expects them.
func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Now().Truncate(time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) chat.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, at: c.now.Add(d), f: f, active: true, listed: true}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock d later, running each timer due meanwhile with the
// clock at its time. A timer a callback sets within the span runs too.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var due *fakeTimer
		live := c.timers[:0]
		for _, t := range c.timers {
			if !t.active {
				t.listed = false
				continue
			}
			live = append(live, t)
			if !t.at.After(end) && (due == nil || t.at.Before(due.at)) {
				due = t
			}
		}
		c.timers = live
		if due == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		due.active = false
		if due.at.After(c.now) {
			c.now = due.at
		}
		c.mu.Unlock()
		due.f() // outside the lock: it may read the clock and reset timers
	}
}

// AdvanceTo moves the clock to t (never back).
func (c *fakeClock) AdvanceTo(t time.Time) { c.Advance(max(0, t.Sub(c.Now()))) }

type fakeTimer struct {
	clock  *fakeClock
	at     time.Time
	f      func()
	active bool
	listed bool // in clock.timers
}

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	was := t.active
	t.at = c.now.Add(d)
	t.active = true
	if !t.listed {
		t.listed = true
		c.timers = append(c.timers, t)
	}
	return was
}
