package relief

import (
	"testing"
	"time"
)

// A relief frees once a burst of at least `burst` handshakes has been
// followed by `quiet` without any, once per burst; a small burst, or one
// still going on, is left alone.
func TestCheck(t *testing.T) {
	type step struct {
		add     int64         // handshakes completed before the check
		advance time.Duration // time passing before the check
		want    bool          // whether the check frees
	}
	s := time.Second
	cases := []struct {
		name  string
		steps []step
	}{
		{"a burst, then quiet: freed once", []step{{1000, s, false}, {0, s, false}, {0, s, true}, {0, s, false}, {0, 10 * s, false}}},
		{"a burst still going on: not yet", []step{{600, s, false}, {600, s, false}, {600, s, false}, {0, s, false}, {0, s, true}}},
		{"a small burst: never", []step{{999, s, false}, {0, s, false}, {0, time.Minute, false}}},
		{"small bursts add up to one", []step{{600, s, false}, {0, 3 * s, false}, {600, s, false}, {0, 2 * s, true}}},
		{"a second burst after the first: freed again", []step{{1000, s, false}, {0, 2 * s, true}, {1500, s, false}, {0, s, false}, {0, s, true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var count int64
			clock := time.Unix(1_000_000, 0)
			freed := 0
			r := New(func() int64 { return count }, func() { freed++ }, 1000, 2*time.Second, func() time.Time { return clock })
			want := 0
			for i, st := range tc.steps {
				count += st.add
				clock = clock.Add(st.advance)
				if got := r.Check(); got != st.want {
					t.Fatalf("step %d: freed %v, want %v", i, got, st.want)
				}
				if st.want {
					want++
				}
			}
			if freed != want {
				t.Errorf("free called %d times, want %d", freed, want)
			}
		})
	}
}
