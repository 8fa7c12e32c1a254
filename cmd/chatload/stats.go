package main

import (
	"math"
	"math/bits"
	"sync"
	"time"
)

// A histogram keeps counts in log-linear buckets instead of every sample, so a
// run with millions of deliveries records each one in constant time and
// memory. Values below 2*subBuckets are exact; above, each power of two is
// split into subBuckets buckets, so a reported percentile is within 1/128
// (0.8%) of the true value.
const (
	subBucketBits = 6
	subBuckets    = 1 << subBucketBits // 64
	exactBelow    = 2 * subBuckets     // 128: values under this have a bucket each
)

// histogram records non-negative int64 values (nanoseconds here). The zero
// value is empty and ready; it is not safe for concurrent use (see
// shardedHistogram).
type histogram struct {
	counts []uint64 // grown on demand: latencies of seconds need ~1,700 buckets
	n      uint64
	sum    float64 // float: a long run's nanoseconds could overflow int64
	min    int64
	max    int64
}

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v int64) int {
	if v < exactBelow {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - (subBucketBits + 1) // v>>e is in [64, 128)
	return e*subBuckets + int(v>>e)
}

// bucketRange returns the smallest and largest value that fall in bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < exactBelow {
		return int64(i), int64(i)
	}
	e := i/subBuckets - 1
	m := int64(i - e*subBuckets)
	return m << e, (m+1)<<e - 1
}

// record adds one value; a negative value (clock step between machines or
// processes) counts as 0.
func (h *histogram) record(v int64) {
	if v < 0 {
		v = 0
	}
	i := bucketOf(v)
	if i >= len(h.counts) {
		grown := make([]uint64, i+1+subBuckets)
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// merge adds every sample of o to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		grown := make([]uint64, len(o.counts))
		copy(grown, h.counts)
		h.counts = grown
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100): the
// smallest recorded value such that at least p% of the samples are at or
// below it, to the bucket's precision, never outside [min, max]. An empty
// histogram gives 0.
func (h *histogram) percentile(p float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := lo + (hi-lo)/2 // the middle halves the worst-case error
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// mean returns the average value, 0 when empty.
func (h *histogram) mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// latencySummary is a histogram of nanoseconds as the report shows it, in
// milliseconds.
type latencySummary struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	MinMs  float64 `json:"min_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func nsToMs(ns float64) float64 { return math.Round(ns/1e3) / 1e3 } // ms with µs resolution

func (h *histogram) summary() latencySummary {
	if h.n == 0 {
		return latencySummary{}
	}
	return latencySummary{
		Count:  h.n,
		MeanMs: nsToMs(h.mean()),
		MinMs:  nsToMs(float64(h.min)),
		P50Ms:  nsToMs(float64(h.percentile(50))),
		P95Ms:  nsToMs(float64(h.percentile(95))),
		P99Ms:  nsToMs(float64(h.percentile(99))),
		MaxMs:  nsToMs(float64(h.max)),
	}
}

// shardedHistogram lets many goroutines record at once: each records into the
// shard of its own index, so thousands of receivers share a few locks (and a
// few histograms' memory) instead of one lock or one histogram each.
type shardedHistogram struct {
	shards []lockedHistogram
}

type lockedHistogram struct {
	mu sync.Mutex
	h  histogram
}

func newShardedHistogram(n int) *shardedHistogram {
	return &shardedHistogram{shards: make([]lockedHistogram, max(n, 1))}
}

// record adds v to the shard for the caller with index who.
func (s *shardedHistogram) record(who int, v int64) {
	l := &s.shards[who%len(s.shards)]
	l.mu.Lock()
	l.h.record(v)
	l.mu.Unlock()
}

// recordSince records the time from start until now.
func (s *shardedHistogram) recordSince(who int, start time.Time) {
	s.record(who, int64(time.Since(start)))
}

// merged returns one histogram with every shard's samples.
func (s *shardedHistogram) merged() *histogram {
	var out histogram
	for i := range s.shards {
		l := &s.shards[i]
		l.mu.Lock()
		out.merge(&l.h)
		l.mu.Unlock()
	}
	return &out
}

// rate is count per second over d, 0 for an empty interval.
func rate(count float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round1(count / d.Seconds())
}

// round1 rounds to one decimal, for figures a person reads.
func round1(v float64) float64 { return math.Round(v*10) / 10 }

// round2 rounds to two decimals.
func round2(v float64) float64 { return math.Round(v*100) / 100 }

// percentOf is part as a percentage of whole, 0 when whole is 0.
func percentOf(part, whole float64) float64 {
	if whole == 0 {
		return 0
	}
	return part / whole * 100
}
