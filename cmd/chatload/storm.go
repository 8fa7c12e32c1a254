package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// stormResult is what a login storm measured.
type stormResult struct {
	Rate          float64        `json:"rate"`
	Seconds       float64        `json:"seconds"`
	Attempted     int64          `json:"attempted"`
	Succeeded     int64          `json:"succeeded"`
	Failed        int64          `json:"failed"`
	Skipped       int64          `json:"skipped"` // ticks with -c logins already in flight: the server is slower than the rate
	PerSecond     float64        `json:"succeeded_per_second"`
	Latency       latencySummary `json:"latency"`
	FailureErrors []string       `json:"failure_errors,omitempty"`
}

// runStorm logs users in at rate a second for d against /token, round-robin
// over the load users. Logins start on a ticker whether or not earlier ones
// have finished (an open loop, as real users arrive), up to o.concurrency in
// flight; a tick with no free slot is counted as skipped instead of queued,
// so a slow server shows up as skips, not as a storm that outlasts its time.
func runStorm(ctx context.Context, o *options, rateHz float64, d time.Duration, log io.Writer) *stormResult {
	client := newHTTPClient(o.concurrency)
	names := o.userNames()
	hist := newShardedHistogram(1)
	errs := newErrorTally()
	var ok, failed, skipped, attempted atomic.Int64
	slots := make(chan struct{}, o.concurrency)
	var wg sync.WaitGroup

	fmt.Fprintf(log, "login storm: %.1f/s for %v over %d users\n", rateHz, d, len(names))
	interval := time.Duration(float64(time.Second) / rateHz)
	tick := time.NewTicker(max(interval, time.Microsecond))
	defer tick.Stop()
	end := time.NewTimer(d)
	defer end.Stop()
	start := time.Now()
	for n := 0; ; n++ {
		select {
		case slots <- struct{}{}:
			attempted.Add(1)
			name := names[n%len(names)]
			wg.Go(func() {
				defer func() { <-slots }()
				t0 := time.Now()
				if _, err := login(ctx, client, o.base, name, o.password); err != nil {
					failed.Add(1)
					errs.add(err)
					return
				}
				hist.recordSince(0, t0)
				ok.Add(1)
			})
		default:
			skipped.Add(1)
		}
		select {
		case <-tick.C:
			continue
		case <-end.C:
		case <-ctx.Done():
		}
		break
	}
	elapsed := time.Since(start)
	wg.Wait() // each login is bounded by loginTimeout
	return &stormResult{
		Rate:          rateHz,
		Seconds:       round2(elapsed.Seconds()),
		Attempted:     attempted.Load(),
		Succeeded:     ok.Load(),
		Failed:        failed.Load(),
		Skipped:       skipped.Load(),
		PerSecond:     rate(float64(ok.Load()), elapsed),
		Latency:       hist.merged().summary(),
		FailureErrors: errs.list(),
	}
}
