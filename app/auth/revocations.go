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
