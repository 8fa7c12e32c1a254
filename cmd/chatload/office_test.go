package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

func TestSpreadOf(t *testing.T) {
	tests := []struct {
		vs            []int
		lo, mid, high int
	}{
		{nil, 0, 0, 0},
		{[]int{7}, 7, 7, 7},
		{[]int{11, 2, 5}, 2, 5, 11},
		{[]int{4, 1, 3, 2}, 1, 2, 4},
	}
	for _, tt := range tests {
		lo, mid, hi := spreadOf(tt.vs)
		if lo != tt.lo || mid != tt.mid || hi != tt.high {
			t.Errorf("spreadOf(%v) = %d, %d, %d; want %d, %d, %d", tt.vs, lo, mid, hi, tt.lo, tt.mid, tt.high)
		}
	}
}

// paced calls every index once and never has more than its slots in flight.
func TestPacedBoundsConcurrency(t *testing.T) {
	const n, slots = 50, 3
	var inFlight, peak atomic.Int64
	var mu sync.Mutex
	seen := map[int]int{}
	paced(context.Background(), n, 0, slots, func(_ context.Context, i int) {
		storeMax(&peak, inFlight.Add(1))
		mu.Lock()
		seen[i]++
		mu.Unlock()
		inFlight.Add(-1)
	})
	if len(seen) != n || peak.Load() > slots || peak.Load() < 1 {
		t.Errorf("%d indexes called, peak %d in flight; want %d, at most %d", len(seen), peak.Load(), n, slots)
	}
	for i, c := range seen {
		if c != 1 {
			t.Errorf("index %d called %d times", i, c)
		}
	}
}

// The guesser's summary says at which guess each address was first refused,
// and an address that guessed past the bound unrefused fails the target.
func TestGuessResultPerAddress(t *testing.T) {
	g := &guesser{counts: newOutcomes(), errs: newErrorTally(), addrs: []guessAddr{
		{sent: 20, firstLimit: 11},
		{sent: 20, firstLimit: 2},
		{sent: 5},  // too few guesses to say
		{sent: 12}, // never refused past the bound
	}}
	g.res = guessResult{Addresses: 4}
	g.res.VictimLogin = victimResult{During: 303, FirstTry: true}
	g.counts.add("429")
	g.sent.Store(57)
	r := g.result()
	if r.AddressesLimited != 2 || r.AddressesUnlimited != 1 || r.FirstLimitMin != 2 || r.FirstLimitMax != 11 || r.Guesses != 57 || r.Limited != 1 {
		t.Errorf("result %+v", r)
	}
	ts := guessTargets(r)
	if len(ts) != 2 || !ts[0].Met || ts[1].Met {
		t.Errorf("targets %+v: want the victim's met, the guessers' not", ts)
	}
	g.addrs[3].firstLimit = 4
	if ts := guessTargets(g.result()); !ts[1].Met {
		t.Errorf("every address limited by its 11th guess: %+v", ts[1])
	}
}
