package auth

import (
	"context"
	"log/slog"
	"time"

	"securechat/app/store"
)

// RevocationStore lists revocations in the order they were made.
type RevocationStore interface {
	LastRevocation(ctx context.Context) (int64, error)
	RevocationsAfter(ctx context.Context, seq int64) ([]store.Revocation, error)
}

// RevocationInterval is how often the server looks for sessions ended by
// logout, a password change or a deletion, including ones made by the CLI in
// another process. Well under the 1 s within which their sockets must close.
const RevocationInterval = 200 * time.Millisecond

// WatchRevocations calls onRevoke with the id of each session revoked after it
// starts, until ctx ends. Polling the database is what lets `securechat user
// delete`, run as a separate process, reach a running server.
func WatchRevocations(ctx context.Context, s RevocationStore, interval time.Duration, log *slog.Logger, onRevoke func(sessionID string)) error {
	seq, err := s.LastRevocation(ctx)
	if err != nil {
		return err
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		revs, err := s.RevocationsAfter(ctx, seq)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("poll revocations", "err", err)
			continue
		}
		for _, r := range revs {
			onRevoke(r.SessionID)
			seq = r.Seq
		}
	}
}

// PruneStore deletes rows that can no longer matter.
type PruneStore interface {
	PruneSessions(ctx context.Context, before time.Time) (int64, error)
	PruneRevocations(ctx context.Context, before time.Time) (int64, error)
}

// PruneInterval is how often a server deletes expired sessions and old
// revocations. Every node may do it; the deletes are idempotent.
const PruneInterval = time.Hour

// pruneMargin allows for clocks that differ between nodes (and the CLI).
const pruneMargin = time.Hour

// Prune deletes sessions that expired before now (less a margin) and
// revocations older than maxAge (plus the margin).
//
// A revocation row only serves the pollers in WatchRevocations, to close the
// revoked session's open sockets: the session row itself says it is revoked,
// which is what a token check reads. A session ends at the latest maxAge after
// its login, which came before its revocation, so maxAge after the
// revocation every socket of that session has closed at its own expiry
// anyway. A node that has not polled for that long starts again from
// LastRevocation, and the sequence never goes back, so deleting such rows
// cannot hide a newer revocation from anyone.
func Prune(ctx context.Context, s PruneStore, now time.Time, maxAge time.Duration) (sessions, revocations int64, err error) {
	sessions, err = s.PruneSessions(ctx, now.Add(-pruneMargin))
	if err != nil {
		return 0, 0, err
	}
	revocations, err = s.PruneRevocations(ctx, now.Add(-maxAge-pruneMargin))
	if err != nil {
		return sessions, 0, err
	}
	return sessions, revocations, nil
}

// PruneEvery runs Prune at once and then every interval, until ctx ends.
func PruneEvery(ctx context.Context, s PruneStore, interval, maxAge time.Duration, now func() time.Time, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		sessions, revocations, err := Prune(ctx, s, now(), maxAge)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("prune sessions", "err", err)
		case sessions+revocations > 0:
			log.Info("pruned", "sessions", sessions, "revocations", revocations)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
