package ratelog

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"securechat/app/throttle"
)

// lines is a concurrency-safe log sink.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), substr)
}

// suppressedTotal sums the numbers of the summary lines.
func (l *lines) suppressedTotal() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range regexp.MustCompile(`suppressed=(\d+)`).FindAllStringSubmatch(l.buf.String(), -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n
}

func TestLimitsPerKeyAndOverall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out lines
		l := New(slog.New(slog.NewTextHandler(&out, nil)), "auth failure", throttle.Limit{Rate: 1, Burst: 2}, time.Now)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { l.Run(ctx, 10*time.Second); close(done) }()
		defer func() { cancel(); <-done }()

		// One key: its burst, then nothing until its bucket refills.
		written := 0
		for range 100 {
			if l.Log("10.0.0.1", "n", 1) {
				written++
			}
		}
		if written != 2 {
			t.Fatalf("one key wrote %d lines, want its burst of 2", written)
		}
		time.Sleep(time.Second)
		if !l.Log("10.0.0.1") || l.Log("10.0.0.1") {
			t.Fatal("a second later the key may write one line, not two")
		}
		// Many keys: at most ten keys' worth overall (the overall bucket of
		// 20 has refilled in that second, and one line was taken from it).
		written = 0
		for i := range 100 {
			if l.Log("10.0.1." + strconv.Itoa(i)) {
				written++
			}
		}
		if written != 19 {
			t.Fatalf("100 keys wrote %d lines, want what is left of 20 overall (19)", written)
		}
		if got := out.count(`msg="auth failure"`); got != 2+1+19 {
			t.Fatalf("%d lines written, want 22", got)
		}

		// The summary comes at the next tick, and counts every line left out.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got := out.suppressedTotal(); got != 98+1+81 {
			t.Fatalf("summaries count %d suppressed, want 180", got)
		}
		// Nothing left out: no summary.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got := out.count("lines suppressed"); got != 1 {
			t.Fatalf("%d summary lines, want 1", got)
		}
		// The last count is logged when Run stops (the key's bucket is full
		// again: two of three lines are written).
		l.Log("10.0.0.1")
		l.Log("10.0.0.1")
		l.Log("10.0.0.1")
		cancel()
		<-done
		if got := out.suppressedTotal(); got != 180+1 {
			t.Fatalf("after stop, summaries count %d, want 181", got)
		}
	})
}
