package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// probeTimeout bounds one probe request: past it the request counts as a
// timeout, which is the finding (the server did not answer a bystander).
const probeTimeout = 5 * time.Second

// probeResult is what a bystander's repeated request saw while an attack ran.
type probeResult struct {
	What      string         `json:"what"`
	Attempts  int            `json:"attempts"`
	OK        int            `json:"ok"`
	Failed    int            `json:"failed"`
	ByOutcome map[string]int `json:"by_outcome"` // status code, "timeout" or "error"
	Latency   latencySummary `json:"latency"`    // successful answers only
	Errors    []string       `json:"errors,omitempty"`
}

// prober repeats one request until stopped, one at a time with a pause of
// every between starts (a bystander, not a second attacker).
type prober struct {
	what  string
	every time.Duration
	try   func(ctx context.Context) (answer, error)
	want  int // the status that counts as answered

	counts *outcomes // live, for progress lines
	stop   chan struct{}
	wg     sync.WaitGroup
	res    *probeResult
}

// startProbe starts repeating try until the returned prober is stopped. The
// requests use ctx (bounded by their client's timeout), so stopping the
// probe never cuts a request short into a false failure.
func startProbe(ctx context.Context, what string, every time.Duration, want int, try func(ctx context.Context) (answer, error)) *prober {
	p := &prober{what: what, every: every, try: try, want: want, counts: newOutcomes(), stop: make(chan struct{})}
	p.wg.Go(func() { p.res = p.loop(ctx) })
	return p
}

func (p *prober) loop(ctx context.Context) *probeResult {
	var hist histogram
	errs := newErrorTally()
	res := &probeResult{What: p.what}
	tick := time.NewTicker(p.every)
	defer tick.Stop()
	for {
		t0 := time.Now()
		a, err := p.try(ctx)
		if ctx.Err() != nil {
			break // interrupted: this attempt says nothing about the server
		}
		res.Attempts++
		p.counts.add(outcomeOf(a, err))
		switch {
		case err == nil && a.status == p.want:
			res.OK++
			hist.record(int64(time.Since(t0)))
		case err != nil:
			res.Failed++
			errs.add(err)
		default:
			res.Failed++
			if a.status == 429 {
				errs.add(errors.New("status 429: the server limits logins per user and per address (see the BENCHMARKS setup for the flags that lift them)"))
			}
		}
		select {
		case <-tick.C:
			continue
		case <-p.stop:
		case <-ctx.Done():
		}
		break
	}
	res.ByOutcome = p.counts.snapshot()
	res.Latency = hist.summary()
	res.Errors = errs.list()
	return res
}

// end stops the probe after its request in flight and returns what it saw.
func (p *prober) end() *probeResult {
	close(p.stop)
	p.wg.Wait()
	return p.res
}

func printProbe(w io.Writer, r *probeResult) {
	if r == nil {
		return
	}
	fmt.Fprintf(w, "%-14s %d ok of %d (%s)\n", r.What, r.OK, r.Attempts, formatCounts(r.ByOutcome))
	printLatency(w, "  latency", r.Latency)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  failure      %s\n", e)
	}
}

// targetCheck is one of the targets and how the run compared. A
// missed target is a finding, not a failed run: timing never fails a run.
type targetCheck struct {
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

func printTargets(w io.Writer, ts []targetCheck) {
	for _, t := range ts {
		verdict := "met"
		if !t.Met {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, "target         %s: %s (%s)\n", t.Target, t.Measured, verdict)
	}
}

// latencyTarget checks that a probe answered every time, within limit at p99
// (the maximum is reported: on two shared cores one stray sample says little).
func latencyTarget(r *probeResult, limit time.Duration) targetCheck {
	ms := float64(limit) / float64(time.Millisecond)
	t := targetCheck{Target: fmt.Sprintf("%s answers within %.0f ms", r.What, ms)}
	t.Measured = fmt.Sprintf("p99 %.1f ms, max %.1f ms, %d of %d failed", r.Latency.P99Ms, r.Latency.MaxMs, r.Failed, r.Attempts)
	t.Met = r.Attempts > 0 && r.Failed == 0 && r.Latency.P99Ms < ms
	return t
}

// checkBystander logs the bystander in once before an attack: a run whose
// bystander cannot log in at all would measure nothing.
func checkBystander(ctx context.Context, client *http.Client, o *options) error {
	user := o.userName(0)
	a, err := tokenAttempt(ctx, client, o.base, user, o.password)
	if err != nil || a.status != http.StatusOK {
		return fmt.Errorf("the bystander %s cannot log in before the attack (status %d, %v): see -create-users and -password", user, a.status, err)
	}
	return nil
}
