// Package retention deletes messages once they are older than the server's
// retention (--retention) or their room's own, shorter one, for real: the
// rows go (with their edit and delete rows), SQLite's secure_delete zeroes
// them in the file and the hub's scrub loop (the one that follows a delete)
// clears the WAL, exactly as for a message its author deleted. It deletes in small batches, each a short transaction with
// a pause after it, so that sends waiting for the write lock never wait long.
//
// Every node runs an Expirer; a pass is idempotent, so nodes that share a
// PostgreSQL store just find less to do. After each pass a node drops the
// expired messages from the rooms it holds in memory (whichever node deleted
// them), so a join's history agrees with the store.
package retention

import (
	"context"
	"log/slog"
	"time"

	"securechat/app/metrics"
	"securechat/app/store"
)

const (
	// Interval is how often a pass runs: retention is counted in hours and
	// days, so a minute late is no matter.
	Interval = time.Minute
	// batchSize is the most messages one transaction deletes: a few
	// milliseconds of holding the write lock.
	batchSize = 500
	// batchPause is the gap between two batches, in which waiting sends get
	// the lock.
	batchPause = 20 * time.Millisecond
)

// Store is what expiry needs from storage.
type Store interface {
	ExpireMessages(ctx context.Context, serverCutoff, now time.Time, limit int) (int, error)
	RoomRetentions(ctx context.Context) (map[string]int, error)
}

// Hub is the chat hub: the rooms this node holds in memory, and the scrub
// loop that follows a delete.
type Hub interface {
	ForgetExpired(cutoff func(room string) time.Time)
	ScrubSoon()
}

// Timer is a pending call of AfterFunc.
type Timer interface{ Stop() bool }

// Expirer runs the passes.
type Expirer struct {
	store     Store
	hub       Hub
	retention time.Duration // the server's; 0: none (rooms may still have their own)
	metrics   *metrics.Metrics
	now       func() time.Time
	afterFunc func(time.Duration, func()) Timer // the server's clock, so a test can move it
	log       *slog.Logger
}

// New returns an Expirer of messages older than retention (0: only rooms
// with a retention of their own expire).
func New(s Store, hub Hub, retention time.Duration, m *metrics.Metrics, now func() time.Time,
	afterFunc func(time.Duration, func()) Timer, log *slog.Logger) *Expirer {
	return &Expirer{store: s, hub: hub, retention: retention, metrics: m, now: now, afterFunc: afterFunc, log: log}
}

// Run makes a pass now and then every Interval until ctx is done.
func (e *Expirer) Run(ctx context.Context) {
	for {
		if _, err := e.Pass(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("retention", "err", err)
		}
		wake := make(chan struct{})
		t := e.afterFunc(Interval, func() { close(wake) })
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
		}
	}
}

// Pass deletes every expired message, batch by batch, drops them from the
// rooms in memory, and has the files scrubbed if it deleted any. It returns
// how many messages it deleted.
func (e *Expirer) Pass(ctx context.Context) (int, error) {
	now := e.now()
	var serverCutoff time.Time
	if e.retention > 0 {
		serverCutoff = now.Add(-e.retention)
	}
	days, err := e.store.RoomRetentions(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		n, err := e.store.ExpireMessages(ctx, serverCutoff, now, batchSize)
		total += n
		e.metrics.MessagesExpired(n)
		if err != nil {
			return total, err
		}
		if n < batchSize {
			break
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(batchPause):
		}
	}
	e.hub.ForgetExpired(func(room string) time.Time { return store.ExpiresBefore(serverCutoff, days[room], now) })
	if total > 0 {
		e.log.Info("retention: messages expired", "count", total)
		e.hub.ScrubSoon()
	}
	return total, nil
}
