// Package throttle limits how often a key (a username, a client address) may do
// something, with a token bucket per key from golang.org/x/time/rate.
package throttle

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a bucket of Burst events refilled at Rate events a second.
type Limit struct {
	Rate  float64
	Burst int
}

// ParseLimit reads "N/DURATION" (N events, refilled evenly over DURATION; "10/1m")
// or "N/s" style rates with a burst: "10/s:20".
func ParseLimit(s string) (Limit, error) {
	spec, burstText, hasBurst := strings.Cut(s, ":")
	n, per, ok := strings.Cut(spec, "/")
	if !ok {
		return Limit{}, fmt.Errorf("limit %q: want N/DURATION, e.g. 10/1m or 10/s:20", s)
	}
	count, err := strconv.ParseFloat(n, 64)
	if err != nil || count <= 0 || math.IsInf(count, 0) {
		return Limit{}, fmt.Errorf("limit %q: bad count", s)
	}
	if per == "s" || per == "m" || per == "h" {
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Limit{}, fmt.Errorf("limit %q: bad duration", s)
	}
	l := Limit{Rate: count / d.Seconds(), Burst: int(math.Ceil(count))}
	if hasBurst {
		b, err := strconv.Atoi(burstText)
		if err != nil || b < 1 {
			return Limit{}, fmt.Errorf("limit %q: bad burst", s)
		}
		l.Burst = b
	}
	return l, nil
}

// String formats the limit so ParseLimit reads it back.
func (l Limit) String() string {
	return strconv.FormatFloat(l.Rate, 'g', -1, 64) + "/s:" + strconv.Itoa(l.Burst)
}

// Keyed holds one bucket per key. Buckets that have refilled completely are
// dropped on a sweep, so memory follows the active keys, not every key ever seen.
type Keyed struct {
	limit Limit
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	pending   map[string]int // attempts begun and not yet done, by key
	lastSweep time.Time
}

// NewKeyed returns a per-key limiter.
func NewKeyed(l Limit, now func() time.Time) *Keyed {
	return &Keyed{limit: l, now: now, buckets: make(map[string]*rate.Limiter), pending: make(map[string]int), lastSweep: now()}
}

// Allow takes one event for key. When it is refused, retryAfter says when the
// next event would be allowed.
func (k *Keyed) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.bucketLocked(key, now)
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Hour
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Blocked reports, without taking anything, whether key's bucket is empty, and
// if so how long until it holds a whole token again. With Fail it counts
// failures instead of attempts: check before the costly work, record only
// what failed, so successes never use up anyone's allowance.
func (k *Keyed) Blocked(key string) (blocked bool, retryAfter time.Duration) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sweepLocked(now)
	b := k.buckets[key]
	if b == nil {
		return false, 0
	}
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - tokens) / k.limit.Rate * float64(time.Second))
}

// Begin is Blocked for attempts that may run at the same time: each attempt
// still in progress counts as a failure to come, so a burst of simultaneous
// attempts cannot all pass the check before the first has failed. When ok,
// done must be called once, with whether the attempt failed.
func (k *Keyed) Begin(key string) (done func(failed bool), retryAfter time.Duration, ok bool) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sweepLocked(now)
	tokens := float64(k.limit.Burst)
	if b := k.buckets[key]; b != nil {
		tokens = b.TokensAt(now)
	}
	if avail := tokens - float64(k.pending[key]); avail < 1 {
		return nil, time.Duration((1 - avail) / k.limit.Rate * float64(time.Second)), false
	}
	k.pending[key]++
	var once sync.Once
	return func(failed bool) {
		once.Do(func() {
			now := k.now()
			k.mu.Lock()
			defer k.mu.Unlock()
			if k.pending[key]--; k.pending[key] <= 0 {
				delete(k.pending, key)
			}
			if failed {
				k.bucketLocked(key, now).ReserveN(now, 1)
			}
		})
	}, 0, true
}

// Fail takes one token from key's bucket whether or not one is there: failures
// that raced past Blocked together all count, and the debt pushes the next
// allowed attempt further out.
func (k *Keyed) Fail(key string) {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.bucketLocked(key, now).ReserveN(now, 1)
}

// bucketLocked returns key's bucket, creating a full one if it has none.
func (k *Keyed) bucketLocked(key string, now time.Time) *rate.Limiter {
	k.sweepLocked(now)
	b := k.buckets[key]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(k.limit.Rate), k.limit.Burst)
		k.buckets[key] = b
	}
	return b
}

// sweepLocked drops full buckets, at most once a minute.
func (k *Keyed) sweepLocked(now time.Time) {
	if now.Sub(k.lastSweep) < time.Minute {
		return
	}
	k.lastSweep = now
	for key, b := range k.buckets {
		if b.TokensAt(now) >= float64(k.limit.Burst) {
			delete(k.buckets, key)
		}
	}
}

// Len is how many keys have a bucket.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}
