package main

import (
	"math"
	"testing"
	"time"
)

// seq returns 1..n.
func seq(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

func histOf(vs []int64) *histogram {
	var h histogram
	for _, v := range vs {
		h.record(v)
	}
	return &h
}

func TestPercentileExact(t *testing.T) {
	// Values under exactBelow have a bucket each, so percentiles are exact
	// nearest-rank values.
	tests := []struct {
		name    string
		samples []int64
		p       float64
		want    int64
	}{
		{"empty", nil, 50, 0},
		{"one sample p50", []int64{7}, 50, 7},
		{"one sample p99", []int64{7}, 99, 7},
		{"1..100 p50", seq(100), 50, 50},
		{"1..100 p95", seq(100), 95, 95},
		{"1..100 p99", seq(100), 99, 99},
		{"1..100 p100", seq(100), 100, 100},
		{"1..100 p0.1 is the minimum", seq(100), 0.1, 1},
		{"1..10 p99 rounds the rank up", seq(10), 99, 10},
		{"1..10 p50", seq(10), 50, 5},
		{"1..10 p51", seq(10), 51, 6},
		{"unsorted input", []int64{9, 1, 5, 3, 7}, 50, 5},
		{"repeated values", []int64{4, 4, 4, 4, 100}, 80, 4},
		{"negative counts as zero", []int64{-5, 10}, 50, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := histOf(tt.samples).percentile(tt.p); got != tt.want {
				t.Errorf("percentile(%v) = %d, want %d", tt.p, got, tt.want)
			}
		})
	}
}

func TestPercentileLargeValuesWithinPrecision(t *testing.T) {
	tests := []struct {
		name    string
		samples []int64
		p       float64
		want    int64 // the exact nearest-rank value
	}{
		{"milliseconds p50", []int64{1e6, 2e6, 3e6, 4e6, 5e6}, 50, 3e6},
		{"milliseconds p99", []int64{1e6, 2e6, 3e6, 4e6, 5e6}, 99, 5e6},
		{"one slow outlier in 1000 at p99", append(make([]int64, 999), 9e9), 99, 0},
		{"one slow outlier in 1000 at p100", append(make([]int64, 999), 9e9), 100, 9e9},
		{"seconds", []int64{1_234_567_890, 2_345_678_901}, 50, 1_234_567_890},
		{"near int64 max", []int64{math.MaxInt64 - 1}, 50, math.MaxInt64 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := histOf(tt.samples).percentile(tt.p)
			if diff := math.Abs(float64(got - tt.want)); diff > float64(tt.want)/128+1 {
				t.Errorf("percentile(%v) = %d, want %d within 1/128", tt.p, got, tt.want)
			}
		})
	}
}

func TestBucketsCoverEveryValue(t *testing.T) {
	// Every value must land in a bucket whose range holds it, and buckets
	// must be contiguous, or percentiles would be wrong.
	values := []int64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<20 + 12345, 999_999_999, math.MaxInt64}
	for _, v := range values {
		lo, hi := bucketRange(bucketOf(v))
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d = [%d, %d]", v, bucketOf(v), lo, hi)
		}
	}
	for i := 1; i < bucketOf(1<<40); i++ {
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
	}
}

func TestMergeEqualsRecordingTogether(t *testing.T) {
	a, b := histOf([]int64{1, 2, 3e6}), histOf([]int64{5, 9e9})
	all := histOf([]int64{1, 2, 3e6, 5, 9e9})
	a.merge(b)
	a.merge(&histogram{}) // merging an empty one changes nothing
	for _, p := range []float64{1, 50, 90, 99, 100} {
		if a.percentile(p) != all.percentile(p) {
			t.Errorf("p%v: merged %d, together %d", p, a.percentile(p), all.percentile(p))
		}
	}
	if a.n != all.n || a.min != all.min || a.max != all.max || a.mean() != all.mean() {
		t.Errorf("merged n=%d min=%d max=%d mean=%v; together n=%d min=%d max=%d mean=%v",
			a.n, a.min, a.max, a.mean(), all.n, all.min, all.max, all.mean())
	}
}

func TestSummaryInMilliseconds(t *testing.T) {
	h := histOf([]int64{int64(time.Millisecond), int64(2 * time.Millisecond), int64(3 * time.Millisecond)})
	s := h.summary()
	want := latencySummary{Count: 3, MeanMs: 2, MinMs: 1, P50Ms: 2, P95Ms: 3, P99Ms: 3, MaxMs: 3}
	near := func(a, b float64) bool { return math.Abs(a-b) <= b/128 }
	if s.Count != want.Count || !near(s.MeanMs, want.MeanMs) || !near(s.MinMs, want.MinMs) || !near(s.P50Ms, want.P50Ms) ||
		!near(s.P95Ms, want.P95Ms) || !near(s.P99Ms, want.P99Ms) || !near(s.MaxMs, want.MaxMs) {
		t.Errorf("summary = %+v, want about %+v", s, want)
	}
	if (&histogram{}).summary() != (latencySummary{}) {
		t.Error("an empty histogram's summary is not zero")
	}
}

func TestShardedHistogramMergesShards(t *testing.T) {
	s := newShardedHistogram(4)
	for i := range 100 {
		s.record(i, int64(i+1))
	}
	h := s.merged()
	if h.n != 100 || h.percentile(50) != 50 || h.max != 100 {
		t.Errorf("merged n=%d p50=%d max=%d, want 100, 50, 100", h.n, h.percentile(50), h.max)
	}
}

func TestRatesAndPercentages(t *testing.T) {
	tests := []struct {
		name      string
		got, want float64
	}{
		{"rate per second", rate(500, 2*time.Second), 250},
		{"rate over nothing", rate(5, 0), 0},
		{"percent", percentOf(1, 4), 25},
		{"percent of nothing", percentOf(3, 0), 0},
		{"round1", round1(1.26), 1.3},
		{"round2", round2(1.234), 1.23},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestBitset(t *testing.T) {
	b := newBitset(130)
	tests := []struct {
		i       int64
		wasSet  bool
		counted int64
	}{
		{0, false, 1}, {0, true, 1}, {129, false, 2}, {64, false, 3}, {1000, false, 3}, {-1, false, 3}, // out of range: ignored
	}
	for _, tt := range tests {
		if was := b.set(tt.i); was != tt.wasSet || b.count() != tt.counted {
			t.Errorf("set(%d) = %v with count %d, want %v with %d", tt.i, was, b.count(), tt.wasSet, tt.counted)
		}
	}
	o := newBitset(130)
	o.set(64)
	o.set(100)
	if n := b.countAnd(o); n != 1 {
		t.Errorf("countAnd = %d, want 1", n)
	}
	if !b.has(129) || b.has(100) || b.has(1000) {
		t.Error("has answers wrong")
	}
}
