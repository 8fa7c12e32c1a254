package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// office is issue 11's third case: many people behind one address log in
// within a minute, and must all get in. With -guesses, a guesser meanwhile
// tries wrong passwords for one victim from many addresses in turn, and the
// victim logs in again from the browser she used before (its cookie jar
// kept, minus the ended session), which must let her in at once.
const (
	// guessesBeforeLimit is the bound: each guessing address gets
	// 429 after at most this many wrong guesses.
	guessesBeforeLimit = 10
	// victimPoll is how often the victim checks whether the attack is under way.
	victimPoll = 20 * time.Millisecond
)

// officeResult is what `office` measured.
type officeResult struct {
	From          string         `json:"from"`
	Via           string         `json:"via"`
	Users         int            `json:"users"`
	Within        float64        `json:"within_seconds"` // 0 with -burst
	Seconds       float64        `json:"seconds"`
	Succeeded     int            `json:"succeeded"`
	Limited       int            `json:"limited"` // 429
	Failed        int            `json:"failed"`  // anything else
	ByOutcome     map[string]int `json:"by_outcome"`
	Latency       latencySummary `json:"latency"` // successful logins
	FailureErrors []string       `json:"failure_errors,omitempty"`
	Guesser       *guessResult   `json:"guesser,omitempty"`
	Targets       []targetCheck  `json:"targets"`
}

// guessResult is what the guesser and its victim saw.
type guessResult struct {
	Victim           string         `json:"victim"`
	From             string         `json:"from"`
	Addresses        int            `json:"addresses"`
	Guesses          int            `json:"guesses"`
	ByOutcome        map[string]int `json:"by_outcome"` // 400 is a wrong password answered, 429 a refusal
	Limited          int            `json:"limited"`
	NoRetryAfter     int            `json:"limited_without_retry_after"`
	AddressesLimited int            `json:"addresses_limited"`
	// FirstLimit is, over the addresses that got a 429, at which of their
	// own guesses the first one came (11 = after 10 wrong guesses).
	FirstLimitMin    int `json:"first_limit_min,omitempty"`
	FirstLimitMedian int `json:"first_limit_median,omitempty"`
	FirstLimitMax    int `json:"first_limit_max,omitempty"`
	// AddressesUnlimited made more than guessesBeforeLimit guesses and never got a 429.
	AddressesUnlimited int          `json:"addresses_unlimited"`
	MostFromOne        int          `json:"most_from_one_address"` // guesses
	VictimLogin        victimResult `json:"victim_login"`
	Errors             []string     `json:"errors,omitempty"`
}

// victimResult is the victim's logins through the login form.
type victimResult struct {
	From         string   `json:"from"`
	Before       int      `json:"before_status"`          // her first login, before the attack (303: in)
	CookieNames  []string `json:"cookie_names,omitempty"` // what her browser keeps (names only)
	AfterGuesses int      `json:"after_guesses"`          // guesses sent when she logged in again
	During       int      `json:"during_status"`          // 303: in at the first try
	FirstTry     bool     `json:"first_try"`
	LatencyMs    float64  `json:"latency_ms"`
	// Stranger is the same right password from a browser never used before,
	// at the same moment: a server with a per-username ceiling refuses it.
	Stranger int    `json:"stranger_status"`
	Error    string `json:"error,omitempty"`
}

func runOffice(ctx context.Context, o *options, log io.Writer) (*officeResult, error) {
	if err := ensureUsers(ctx, o, log); err != nil {
		return nil, err
	}
	if o.createUsers && o.guesses > 0 {
		if _, err := createUsers(ctx, o, []string{o.victim}); err != nil {
			return nil, err
		}
	}
	res := &officeResult{From: o.from.String(), Via: o.via, Users: o.users}
	var g *guesser
	if o.guesses > 0 {
		var err error
		if g, err = newGuesser(ctx, o); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "victim %s logged in from %s before the attack; her browser keeps %v\n", o.victim, o.victimFrom.String(), g.res.VictimLogin.CookieNames)
	}

	interval := o.within / time.Duration(o.users)
	if o.burst {
		interval = 0
	} else {
		res.Within = o.within.Seconds()
	}
	fmt.Fprintf(log, "office: %d logins via %s from %s, one every %v (%d at most at once)\n", o.users, o.via, o.from.String(), interval.Round(time.Millisecond), o.concurrency)

	var wg sync.WaitGroup
	if g != nil {
		gInterval := o.within / time.Duration(o.guesses)
		if o.burst {
			gInterval = 0
		}
		fmt.Fprintf(log, "guesser: %d wrong guesses for %s from %s, one every %v\n", o.guesses, o.victim, o.guessFrom.String(), gInterval.Round(time.Millisecond))
		wg.Go(func() { g.run(ctx, gInterval) })
		wg.Go(func() { g.victimReturns(ctx) })
	}

	client := clientFrom(o.from.at(0), true, loginTimeout, nil)
	counts := newOutcomes()
	errs := newErrorTally()
	hist := newShardedHistogram(histogramShards)
	var ok atomic.Int64
	stopProgress := progress(log, func() string {
		line := "office " + formatCounts(counts.snapshot())
		if g != nil {
			line += "; guesser " + formatCounts(g.counts.snapshot())
		}
		return line
	})
	start := time.Now()
	paced(ctx, o.users, interval, o.concurrency, func(ctx context.Context, i int) {
		name := o.userName(i)
		t0 := time.Now()
		var a answer
		var err error
		want := http.StatusOK
		if o.via == "login" {
			want = http.StatusSeeOther
			b := newBrowser(o.base, o.from.at(0))
			a, err = b.submit(ctx, "/login", name, o.password)
			b.close()
		} else {
			a, err = tokenAttempt(ctx, client, o.base, name, o.password)
		}
		counts.add(outcomeOf(a, err))
		switch {
		case err == nil && a.status == want:
			ok.Add(1)
			hist.recordSince(i, t0)
		case err != nil:
			errs.add(err)
		case a.status != http.StatusTooManyRequests:
			errs.add(fmt.Errorf("log in %s: status %d", name, a.status))
		}
	})
	res.Seconds = round2(time.Since(start).Seconds())
	wg.Wait()
	stopProgress()

	res.ByOutcome = counts.snapshot()
	res.Succeeded = int(ok.Load())
	res.Limited = res.ByOutcome["429"]
	res.Failed = o.users - res.Succeeded - res.Limited
	res.Latency = hist.merged().summary()
	res.FailureErrors = errs.list()
	res.Targets = []targetCheck{{Target: fmt.Sprintf("all %d logins from one address succeed", o.users),
		Measured: fmt.Sprintf("%d succeeded, %d got 429, %d failed otherwise", res.Succeeded, res.Limited, res.Failed), Met: res.Succeeded == o.users}}
	if g != nil {
		res.Guesser = g.result()
		res.Targets = append(res.Targets, guessTargets(res.Guesser)...)
	}
	return res, ctx.Err()
}

// paced calls fn(i) for i in 0..n-1, starting call i at i×interval from now
// (0: as soon as a slot is free), with at most slots calls at once, and
// waits for them. A call whose start finds every slot busy waits for one: the
// calls are people who all arrive, only later than planned.
func paced(ctx context.Context, n int, interval time.Duration, slots int, fn func(ctx context.Context, i int)) {
	free := make(chan struct{}, slots)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if interval > 0 {
			sleepCtx(ctx, time.Until(start.Add(time.Duration(i)*interval)))
		}
		select {
		case free <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		wg.Go(func() {
			defer func() { <-free }()
			fn(ctx, i)
		})
	}
	wg.Wait()
}

// guesser sends wrong passwords for the victim to /token from its addresses
// in turn, and counts per address when the server started refusing.
type guesser struct {
	o       *options
	clients []*http.Client // one per address, kept alive as a script's would be
	addrs   []guessAddr
	counts  *outcomes
	errs    *errorTally
	sent    atomic.Int64
	// noRetryAfter counts 429s that did not say when to retry.
	noRetryAfter atomic.Int64
	victim       *browser
	res          guessResult
}

// guessAddr is one guessing address's tally.
type guessAddr struct {
	mu         sync.Mutex
	sent       int
	firstLimit int // which of this address's guesses got the first 429; 0: none yet
}

// newGuesser logs the victim in once through the login form, as she did
// before the attack, keeping her browser.
func newGuesser(ctx context.Context, o *options) (*guesser, error) {
	g := &guesser{o: o, addrs: make([]guessAddr, o.guessFrom.n), counts: newOutcomes(), errs: newErrorTally(),
		victim: newBrowser(o.base, o.victimFrom.at(0))}
	for i := range o.guessFrom.n {
		g.clients = append(g.clients, clientFrom(o.guessFrom.at(i), true, loginTimeout, nil))
	}
	g.res = guessResult{Victim: o.victim, From: o.guessFrom.String(), Addresses: o.guessFrom.n}
	g.res.VictimLogin.From = o.victimFrom.String()
	a, err := g.victim.submit(ctx, "/login", o.victim, o.password)
	g.res.VictimLogin.Before = a.status
	if err != nil || a.status != http.StatusSeeOther {
		return nil, fmt.Errorf("the victim %s cannot log in before the attack (status %d, %v): create the user (-create-users) with -password", o.victim, a.status, err)
	}
	g.res.VictimLogin.CookieNames = g.victim.cookieNames()
	return g, nil
}

func (g *guesser) run(ctx context.Context, interval time.Duration) {
	paced(ctx, g.o.guesses, interval, g.o.concurrency, func(ctx context.Context, i int) {
		k := i % len(g.addrs)
		ad := &g.addrs[k]
		ad.mu.Lock()
		ad.sent++
		nth := ad.sent
		ad.mu.Unlock()
		g.sent.Add(1)
		a, err := tokenAttempt(ctx, g.clients[k], g.o.base, g.o.victim, fmt.Sprintf("wrong-guess-%d", i))
		g.counts.add(outcomeOf(a, err))
		if err != nil {
			g.errs.add(err)
			return
		}
		if a.status == http.StatusTooManyRequests {
			ad.mu.Lock()
			if ad.firstLimit == 0 || nth < ad.firstLimit {
				ad.firstLimit = nth
			}
			ad.mu.Unlock()
			if a.retryAfter == "" {
				g.noRetryAfter.Add(1)
			}
		}
	})
}

// victimReturns waits until half the guesses are sent, then logs the victim
// in from her browser (session cookie dropped, every other cookie kept),
// and a stranger's browser with the same password at the same moment.
func (g *guesser) victimReturns(ctx context.Context) {
	v := &g.res.VictimLogin
	for g.sent.Load() < int64(max(1, g.o.guesses/2)) {
		if ctx.Err() != nil {
			return
		}
		sleepCtx(ctx, victimPoll)
	}
	v.AfterGuesses = int(g.sent.Load())
	g.victim.forgetSession()
	var wg sync.WaitGroup
	wg.Go(func() {
		stranger := newBrowser(g.o.base, g.o.victimFrom.at(0))
		a, _ := stranger.submit(ctx, "/login", g.o.victim, g.o.password)
		stranger.close()
		v.Stranger = a.status
	})
	t0 := time.Now()
	a, err := g.victim.submit(ctx, "/login", g.o.victim, g.o.password)
	v.LatencyMs = nsToMs(float64(time.Since(t0)))
	v.During = a.status
	v.FirstTry = err == nil && a.status == http.StatusSeeOther
	if err != nil {
		v.Error = err.Error()
	}
	g.victim.close()
	wg.Wait()
}

// result summarises the guesses; every guess has returned.
func (g *guesser) result() *guessResult {
	r := g.res
	r.ByOutcome = g.counts.snapshot()
	r.Guesses = int(g.sent.Load())
	r.Limited = r.ByOutcome["429"]
	var firsts []int
	for i := range g.addrs {
		ad := &g.addrs[i]
		r.MostFromOne = max(r.MostFromOne, ad.sent)
		switch {
		case ad.firstLimit > 0:
			firsts = append(firsts, ad.firstLimit)
		case ad.sent > guessesBeforeLimit:
			r.AddressesUnlimited++
		}
	}
	r.AddressesLimited = len(firsts)
	r.FirstLimitMin, r.FirstLimitMedian, r.FirstLimitMax = spreadOf(firsts)
	r.NoRetryAfter = int(g.noRetryAfter.Load())
	r.Errors = g.errs.list()
	return &r
}

// spreadOf returns the minimum, median (lower middle) and maximum of vs, zeros when empty.
func spreadOf(vs []int) (lo, mid, hi int) {
	if len(vs) == 0 {
		return 0, 0, 0
	}
	s := slices.Sorted(slices.Values(vs))
	return s[0], s[(len(s)-1)/2], s[len(s)-1]
}

func guessTargets(r *guessResult) []targetCheck {
	v := r.VictimLogin
	return []targetCheck{
		{Target: "the victim logs in at once from her browser during the guessing",
			Measured: fmt.Sprintf("status %d in %.1f ms after %d guesses", v.During, v.LatencyMs, v.AfterGuesses), Met: v.FirstTry},
		{Target: fmt.Sprintf("each guessing address gets 429 with Retry-After within %d wrong guesses", guessesBeforeLimit),
			Measured: fmt.Sprintf("%d of %d addresses limited (at most %d guesses from one), first 429 at guess %d..%d (median %d), %d never limited, %d 429s without Retry-After",
				r.AddressesLimited, r.Addresses, r.MostFromOne, r.FirstLimitMin, r.FirstLimitMax, r.FirstLimitMedian, r.AddressesUnlimited, r.NoRetryAfter),
			Met: r.AddressesUnlimited == 0 && r.AddressesLimited > 0 && r.FirstLimitMax <= guessesBeforeLimit+1 && r.NoRetryAfter == 0},
	}
}

func officeVerdict(f *officeResult) []string {
	var p []string
	if f.Succeeded+f.Limited+f.Failed == 0 {
		p = append(p, "no login was attempted")
	}
	if g := f.Guesser; g != nil && g.Guesses == 0 {
		p = append(p, "no guess was sent")
	}
	return p
}

func printOffice(w io.Writer, f *officeResult) {
	spread := "as fast as -c allows"
	if f.Within > 0 {
		spread = fmt.Sprintf("spread over %.0fs", f.Within)
	}
	fmt.Fprintf(w, "office         %d logins via %s from %s, %s, took %.1fs: %d ok, %d got 429, %d failed (%s)\n",
		f.Users, f.Via, f.From, spread, f.Seconds, f.Succeeded, f.Limited, f.Failed, formatCounts(f.ByOutcome))
	printLatency(w, "  login", f.Latency)
	for _, e := range f.FailureErrors {
		fmt.Fprintf(w, "  failure      %s\n", e)
	}
	if g := f.Guesser; g != nil {
		fmt.Fprintf(w, "guesser        %d wrong guesses for %s from %s (%d addresses): %s\n", g.Guesses, g.Victim, g.From, g.Addresses, formatCounts(g.ByOutcome))
		fmt.Fprintf(w, "  per address  %d limited, first 429 at guess %d / %d / %d (min / median / max), %d never limited past %d guesses\n",
			g.AddressesLimited, g.FirstLimitMin, g.FirstLimitMedian, g.FirstLimitMax, g.AddressesUnlimited, guessesBeforeLimit)
		v := g.VictimLogin
		fmt.Fprintf(w, "victim         from %s: before %d; after %d guesses her browser (cookies %v) got %d in %.1f ms (first try: %v); a new browser got %d\n",
			v.From, v.Before, v.AfterGuesses, v.CookieNames, v.During, v.LatencyMs, v.FirstTry, v.Stranger)
		if v.Error != "" {
			fmt.Fprintf(w, "  error        %s\n", v.Error)
		}
		for _, e := range g.Errors {
			fmt.Fprintf(w, "  guess error  %s\n", e)
		}
	}
	printTargets(w, f.Targets)
}
