// Package relief gives the memory a burst of socket handshakes freed back to
// the system once the burst is over.
//
// A handshake allocates far more than the socket it opens keeps (the HTTP
// request and its buffers, the token and session checks, the first frames),
// and Go's collector lets the heap grow to twice what is live before it
// collects, then keeps what it collected for reuse. After a reconnect storm
// of 18,000 sockets the process held about 6 KiB a socket of such garbage
// and free heap, which an idle server never reuses. Once handshakes have
// stopped for a moment after a burst, one forced collection that returns
// the free memory (runtime/debug.FreeOSMemory) brings the process back to
// what its sockets hold. It runs at most once per burst: a busy server never
// pays for it.
package relief

import (
	"context"
	"runtime"
	"runtime/debug"
	"time"
)

// stackHalvings is how many collections Free runs before the one that
// returns memory. A collection halves the stack of each goroutine using less
// than a quarter of it, once: a socket's reader, which waits with a shallow
// stack, started on the large stack the storm's deep handshakes made the
// runtime's average, and needs a few halvings to come down to what it uses.
const stackHalvings = 3

// Free gives the process's free memory back to the system, after
// collections that shrink the stacks of idle goroutines.
func Free() {
	for range stackHalvings {
		runtime.GC()
	}
	debug.FreeOSMemory()
}

// Relief watches a count of completed handshakes.
type Relief struct {
	count func() int64 // handshakes completed so far
	free  func()       // returns the free memory (debug.FreeOSMemory)
	burst int64        // handshakes since the last relief that make a burst
	quiet time.Duration
	now   func() time.Time

	seen    int64     // the count at the last check
	base    int64     // the count at the last relief
	changed time.Time // when the count last moved
}

// New returns a relief that calls free once at least burst handshakes have
// completed since the last time and none for quiet.
func New(count func() int64, free func(), burst int64, quiet time.Duration, now func() time.Time) *Relief {
	c := count()
	return &Relief{count: count, free: free, burst: burst, quiet: quiet, now: now, seen: c, base: c, changed: now()}
}

// Check looks at the count once and frees if a burst has ended; it reports
// whether it did.
func (r *Relief) Check() bool {
	now := r.now()
	c := r.count()
	if c != r.seen {
		r.seen, r.changed = c, now
		return false
	}
	if c-r.base < r.burst || now.Sub(r.changed) < r.quiet {
		return false
	}
	r.base = c
	r.free()
	return true
}

// Run checks every period until ctx ends.
func (r *Relief) Run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Check()
		}
	}
}
