package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// signups is issue 11's fourth case: -c sign-ups at once, each through the
// form as a browser would (GET /signup for the CSRF field, then the POST),
// for -duration, while a bystander logs in to /token from another address.
// Sign-up and login share the server's password hashing, so the bystander's
// latency shows whether sign-ups can starve logins. Every sign-up the server
// takes creates an account named su<run id>x<n>.

// signupsResult is what `signups` measured.
type signupsResult struct {
	From          string         `json:"from"`
	Parallel      int            `json:"parallel"`
	Rate          float64        `json:"rate,omitempty"` // attempts a second at most (0: as fast as the workers go)
	Seconds       float64        `json:"seconds"`
	Attempts      int            `json:"attempts"`
	Created       int            `json:"created"`    // 303
	ByOutcome     map[string]int `json:"by_outcome"` // POST status; "form NNN" when GET /signup itself answered NNN
	Latency       latencySummary `json:"latency"`    // GET and POST of each answered attempt
	NamePrefix    string         `json:"name_prefix"`
	FailureErrors []string       `json:"failure_errors,omitempty"`
	Token         *probeResult   `json:"token"`
	CPU           cpuUse         `json:"cpu"`
	Targets       []targetCheck  `json:"targets"`
}

func runSignups(ctx context.Context, o *options, log io.Writer) (*signupsResult, error) {
	if err := ensureUsers(ctx, o, log); err != nil {
		return nil, err
	}
	tokenClient := clientFrom(o.probeFrom.at(0), false, probeTimeout, nil)
	if err := checkBystander(ctx, tokenClient, o); err != nil {
		return nil, err
	}
	prefix := "su" + newRunID() + "x"
	res := &signupsResult{From: o.from.String(), Parallel: o.concurrency, Rate: o.rate, NamePrefix: prefix}
	user := o.userName(0)
	fmt.Fprintf(log, "%d sign-ups at once for %v from %s (names %s0, %s1, …); %s logs in from %s every %v\n",
		o.concurrency, o.duration, o.from.String(), prefix, prefix, user, o.probeFrom.String(), o.every)
	token := startProbe(ctx, "POST /token", o.every, http.StatusOK, func(ctx context.Context) (answer, error) {
		return tokenAttempt(ctx, tokenClient, o.base, user, o.password)
	})

	counts := newOutcomes()
	errs := newErrorTally()
	hist := newShardedHistogram(histogramShards)
	stopProgress := progress(log, func() string {
		return "sign-ups " + formatCounts(counts.snapshot()) + "; /token " + formatCounts(token.counts.snapshot())
	})
	runCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	permits := startPermits(runCtx, o.rate)
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := sampleCPU(o.pid)
	start := time.Now()
	for w := range o.concurrency {
		wg.Go(func() {
			for {
				if permits != nil {
					select {
					case <-permits:
					case <-runCtx.Done():
						return
					}
				}
				if runCtx.Err() != nil {
					return
				}
				n := int(next.Add(1) - 1)
				if o.maxAttempts > 0 && n >= o.maxAttempts {
					return
				}
				t0 := time.Now()
				b := newBrowser(o.base, o.from.at(n))
				a, err := b.submit(ctx, "/signup", fmt.Sprintf("%s%d", prefix, n), o.password)
				b.close()
				if ctx.Err() != nil {
					return
				}
				key := outcomeOf(a, err)
				if err != nil && a.status != 0 {
					key = "form " + key // GET /signup answered this, not 200
				}
				counts.add(key)
				if a.status != 0 {
					hist.recordSince(w, t0)
				}
				if err != nil {
					errs.add(err)
				}
			}
		})
	}
	wg.Wait()
	res.Seconds = round2(time.Since(start).Seconds())
	res.Token = token.end()
	res.CPU = cpuBetween(cpu0, sampleCPU(o.pid))
	stopProgress()

	res.ByOutcome = counts.snapshot()
	for _, n := range res.ByOutcome {
		res.Attempts += n
	}
	res.Created = res.ByOutcome["303"]
	res.Latency = hist.merged().summary()
	res.FailureErrors = errs.list()
	res.Targets = []targetCheck{latencyTarget(res.Token, 500*time.Millisecond)}
	return res, ctx.Err()
}

// startPermits hands out rate permits a second until ctx ends; nil for no
// limit. A permit nobody takes in time is dropped, so a slow server means
// fewer attempts, never a burst to catch up.
func startPermits(ctx context.Context, rate float64) <-chan struct{} {
	if rate <= 0 {
		return nil
	}
	permits := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			select {
			case permits <- struct{}{}:
			default:
			}
		}
	}()
	return permits
}

func signupsVerdict(s *signupsResult) []string {
	var p []string
	if s.Attempts == 0 {
		p = append(p, "no sign-up was attempted")
	}
	if s.ByOutcome["form 404"] > 0 {
		p = append(p, "sign-up is off on this server (--signup=false)")
	}
	if s.Token == nil || s.Token.Attempts == 0 {
		p = append(p, "the bystander made no request")
	}
	return p
}

func printSignups(w io.Writer, s *signupsResult) {
	fmt.Fprintf(w, "sign-ups       %d attempts, %d at once from %s in %.1fs: %d created (%s)\n",
		s.Attempts, s.Parallel, s.From, s.Seconds, s.Created, formatCounts(s.ByOutcome))
	printLatency(w, "  sign-up", s.Latency)
	for _, e := range s.FailureErrors {
		fmt.Fprintf(w, "  failure      %s\n", e)
	}
	if s.Created > 0 {
		fmt.Fprintf(w, "accounts       %d created, named %s<n>: they stay on the server\n", s.Created, s.NamePrefix)
	}
	printProbe(w, s.Token)
	printCPU(w, "cpu", s.CPU)
	printTargets(w, s.Targets)
}
