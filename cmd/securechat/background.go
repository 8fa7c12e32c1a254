package main

import (
	"context"
	"sync"
)

// background runs the server's long-lived helpers (the revocation watcher,
// the session pruner, the auth-log summariser, the metrics server) and, at
// shutdown, stops them and waits for each: none may outlive the store it
// reads or write its last line after the process has moved on.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel}
}

// Go runs fn on a goroutine of its own; fn returns once ctx is done.
func (b *background) Go(fn func(ctx context.Context)) {
	b.wg.Go(func() { fn(b.ctx) })
}

// stop ends every helper and waits for them.
func (b *background) stop() {
	b.cancel()
	b.wg.Wait()
}
