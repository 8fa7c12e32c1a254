package throttle

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestParseLimit(t *testing.T) {
	cases := []struct {
		in   string
		want Limit
		ok   bool
	}{
		{"10/1m", Limit{Rate: 10.0 / 60, Burst: 10}, true},
		{"10/s:20", Limit{Rate: 10, Burst: 20}, true},
		{"100/m", Limit{Rate: 100.0 / 60, Burst: 100}, true},
		{"5/30s", Limit{Rate: 5.0 / 30, Burst: 5}, true},
		{"10", Limit{}, false},
		{"0/s", Limit{}, false},
		{"-1/s", Limit{}, false},
		{"x/s", Limit{}, false},
		{"1/0s", Limit{}, false},
		{"1/s:0", Limit{}, false},
		{"1/fortnight", Limit{}, false},
	}
	for _, tc := range cases {
		got, err := ParseLimit(tc.in)
		if (err == nil) != tc.ok || tc.ok && got != tc.want {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok {
			back, err := ParseLimit(got.String())
			if err != nil || back != got {
				t.Errorf("%q does not round-trip: %v %v", got.String(), back, err)
			}
		}
	}
}

func TestKeyedBurstRefillAndRetryAfter(t *testing.T) {
	c := &clock{time.Unix(1_800_000_000, 0)}
	k := NewKeyed(Limit{Rate: 1, Burst: 3}, c.now)
	for i := range 3 {
		if ok, _ := k.Allow("alice"); !ok {
			t.Fatalf("event %d of the burst refused", i)
		}
	}
	ok, retry := k.Allow("alice")
	if ok || retry <= 0 || retry > time.Second {
		t.Fatalf("past the burst: ok=%v retry=%v, want refused with retry within 1s", ok, retry)
	}
	if ok, _ := k.Allow("bob"); !ok {
		t.Fatal("one key's use must not limit another")
	}
	c.t = c.t.Add(time.Second)
	if ok, _ := k.Allow("alice"); !ok {
		t.Fatal("a token refills after 1s")
	}
	// A refused attempt does not use up a token.
	k.Allow("alice")
	c.t = c.t.Add(time.Second)
	if ok, _ := k.Allow("alice"); !ok {
		t.Fatal("refused attempts must not push the next one further out")
	}
	// Full buckets are forgotten after a minute.
	c.t = c.t.Add(2 * time.Minute)
	k.Allow("carol")
	if k.Len() != 1 {
		t.Fatalf("%d buckets after the sweep, want 1", k.Len())
	}
}

func TestKeyedBlockedAndFail(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	type step struct {
		at          time.Duration // since start
		fail        int           // failures recorded for the key at this step, before checking
		wantBlocked bool
		maxRetry    time.Duration // when blocked, Retry-After must be in (0, maxRetry]
	}
	cases := []struct {
		name  string
		limit Limit
		steps []step
	}{
		{"checking takes nothing", Limit{Rate: 1, Burst: 2}, []step{
			{0, 0, false, 0}, {0, 0, false, 0}, {0, 0, false, 0},
		}},
		{"blocked after burst failures", Limit{Rate: 1, Burst: 3}, []step{
			{0, 2, false, 0}, {0, 1, true, time.Second},
		}},
		{"refills at the rate", Limit{Rate: 0.5, Burst: 2}, []step{
			{0, 2, true, 2 * time.Second}, {time.Second, 0, true, time.Second}, {2 * time.Second, 0, false, 0},
		}},
		{"failures past the burst are a debt", Limit{Rate: 1, Burst: 1}, []step{
			{0, 4, true, 4 * time.Second}, {3 * time.Second, 0, true, time.Second}, {4 * time.Second, 0, false, 0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{start}
			k := NewKeyed(tc.limit, c.now)
			for i, s := range tc.steps {
				c.t = start.Add(s.at)
				for range s.fail {
					k.Fail("alice")
				}
				blocked, retry := k.Blocked("alice")
				if blocked != s.wantBlocked || blocked && (retry <= 0 || retry > s.maxRetry) || !blocked && retry != 0 {
					t.Fatalf("step %d: blocked=%v retry=%v, want blocked=%v retry in (0, %v]", i, blocked, retry, s.wantBlocked, s.maxRetry)
				}
				if b, _ := k.Blocked("bob"); b {
					t.Fatalf("step %d: another key is blocked", i)
				}
			}
		})
	}
}

func TestKeyedBegin(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	type op struct {
		begin bool // else finish the oldest unfinished attempt
		fail  bool // for a finish: whether it failed
		want  bool // for a begin: whether it is let through
	}
	b := func(want bool) op { return op{begin: true, want: want} }
	cases := []struct {
		name string
		ops  []op
	}{
		{"attempts in progress count", []op{b(true), b(true), b(true), b(false)}},
		{"a success gives its place back", []op{b(true), b(true), b(true), {fail: false}, b(true), b(false)}},
		{"a failure keeps it", []op{b(true), b(true), b(true), {fail: true}, b(false)}},
		{"failures add up", []op{b(true), {fail: true}, b(true), {fail: true}, b(true), {fail: true}, b(false)}},
		{"successes never do", []op{b(true), {}, b(true), {}, b(true), {}, b(true), {}, b(true), {}, b(true)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{start}
			k := NewKeyed(Limit{Rate: 1.0 / 60, Burst: 3}, c.now)
			var open []func(bool)
			for i, o := range tc.ops {
				if !o.begin {
					open[0](o.fail)
					open[0](o.fail) // a second call is ignored
					open = open[1:]
					continue
				}
				done, retry, ok := k.Begin("alice")
				if ok != o.want || !ok && (retry <= 0 || retry > 3*time.Minute) {
					t.Fatalf("op %d: Begin = %v (retry %v), want %v", i, ok, retry, o.want)
				}
				if ok {
					open = append(open, done)
				}
			}
			if blocked, _ := k.Blocked("bob"); blocked {
				t.Fatal("another key is blocked")
			}
		})
	}
	// Once every attempt is done, nothing is left pending, and the refill
	// lets the key through again.
	c := &clock{start}
	k := NewKeyed(Limit{Rate: 1, Burst: 1}, c.now)
	done, _, _ := k.Begin("alice")
	done(true)
	if _, _, ok := k.Begin("alice"); ok {
		t.Fatal("let through after a failure with burst 1")
	}
	c.t = c.t.Add(time.Second)
	if _, _, ok := k.Begin("alice"); !ok || len(k.pending) != 1 {
		t.Fatalf("after the refill: ok=%v pending=%v", ok, k.pending)
	}
}
