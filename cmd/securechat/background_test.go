package main

import (
	"context"
	"testing"
	"testing/synctest"
)

// stop cancels every helper and returns only once each has returned.
func TestBackgroundStopWaitsForHelpers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bg := newBackground()
		release := make(chan struct{})
		for range 3 {
			bg.Go(func(ctx context.Context) {
				<-ctx.Done()
				<-release // a helper that takes a while to finish
			})
		}
		stopped := make(chan struct{})
		go func() {
			bg.stop()
			close(stopped)
		}()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("stop returned while its helpers still ran")
		default:
		}
		close(release)
		synctest.Wait()
		select {
		case <-stopped:
		default:
			t.Fatal("stop did not return after its helpers did")
		}
	})
}
