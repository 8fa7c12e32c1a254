// Package ratelog writes a kind of log line that any client can cause at will
// (a failed login, a bad token) at a bounded rate, so that a flood costs a few
// lines and a count instead of one line per attempt.
//
// Log is called from request goroutines; Run is started once by main and
// stops with its context. The only shared state is the two limiters (each
// with its own lock) and an atomic count.
package ratelog

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"securechat/app/throttle"
)

// overallFactor is how many clients' worth of lines may be written together:
// one noisy client cannot use up the lines of everyone else, and many cannot
// fill the disk either.
const overallFactor = 10

// Logger writes msg lines within a limit per key (a client address) and ten
// times that limit overall, and counts the lines it leaves out.
type Logger struct {
	log        *slog.Logger
	msg        string
	perKey     *throttle.Keyed
	overall    *throttle.Keyed // one key: everyone
	suppressed atomic.Int64    // since the last summary
}

// New returns a Logger of msg lines to log, at most limit per key.
func New(log *slog.Logger, msg string, limit throttle.Limit, now func() time.Time) *Logger {
	all := throttle.Limit{Rate: limit.Rate * overallFactor, Burst: limit.Burst * overallFactor}
	return &Logger{log: log, msg: msg, perKey: throttle.NewKeyed(limit, now), overall: throttle.NewKeyed(all, now)}
}

// Log writes the line with attrs unless key, or everyone together, is past
// the limit; it reports whether it wrote it.
func (l *Logger) Log(key string, attrs ...any) bool {
	if ok, _ := l.perKey.Allow(key); ok {
		if ok, _ := l.overall.Allow(""); ok {
			l.log.Info(l.msg, attrs...)
			return true
		}
	}
	l.suppressed.Add(1)
	return false
}

// Run logs how many lines were left out, every interval in which some were
// and once more when ctx ends; it returns then.
func (l *Logger) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.summarize()
		case <-ctx.Done():
			l.summarize()
			return
		}
	}
}

func (l *Logger) summarize() {
	if n := l.suppressed.Swap(0); n > 0 {
		l.log.Warn(l.msg+" lines suppressed", "suppressed", n)
	}
}
