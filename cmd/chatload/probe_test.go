package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The prober counts every answer by outcome, times only the wanted ones,
// and does not count an attempt cut short by the end of the run.
func TestProberCountsOutcomes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	answers := []answer{{status: 200}, {status: 429, retryAfter: "3"}, {}}
	calls := 0
	p := startProbe(ctx, "POST /token", time.Millisecond, 200, func(context.Context) (answer, error) {
		calls++ // one request at a time: no lock needed
		switch calls {
		case 1, 2:
			return answers[calls-1], nil
		case 3:
			return answer{}, errors.New("connect: connection refused")
		}
		cancel() // the run ends during the fourth: it must not count
		return answer{status: 200}, nil
	})
	<-ctx.Done()
	r := p.end()
	if r.Attempts != 3 || r.OK != 1 || r.Failed != 2 || r.Latency.Count != 1 {
		t.Errorf("attempts %d ok %d failed %d timed %d; want 3, 1, 2, 1", r.Attempts, r.OK, r.Failed, r.Latency.Count)
	}
	if r.ByOutcome["200"] != 1 || r.ByOutcome["429"] != 1 || r.ByOutcome["error"] != 1 {
		t.Errorf("by outcome %v", r.ByOutcome)
	}
	if len(r.Errors) != 2 || !strings.Contains(strings.Join(r.Errors, " "), "429") {
		t.Errorf("errors %q", r.Errors)
	}
}

func TestLatencyTarget(t *testing.T) {
	tests := []struct {
		name string
		r    probeResult
		met  bool
	}{
		{"fast", probeResult{What: "GET /healthz", Attempts: 50, OK: 50, Latency: latencySummary{P99Ms: 12, MaxMs: 300}}, true},
		{"slow p99", probeResult{What: "GET /healthz", Attempts: 50, OK: 50, Latency: latencySummary{P99Ms: 250, MaxMs: 300}}, false},
		{"fast but one failed", probeResult{What: "GET /healthz", Attempts: 50, OK: 49, Failed: 1, Latency: latencySummary{P99Ms: 5}}, false},
		{"nothing measured", probeResult{What: "GET /healthz"}, false},
	}
	for _, tt := range tests {
		got := latencyTarget(&tt.r, 200*time.Millisecond)
		if got.Met != tt.met || !strings.Contains(got.Target, "200 ms") {
			t.Errorf("%s: %+v, want met %v", tt.name, got, tt.met)
		}
	}
}
