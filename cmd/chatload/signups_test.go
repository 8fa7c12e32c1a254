package main

import (
	"context"
	"testing"
)

func TestStartPermits(t *testing.T) {
	if startPermits(context.Background(), 0) != nil {
		t.Error("no -rate: want no permits to wait for")
	}
	ctx, cancel := context.WithCancel(context.Background())
	permits := startPermits(ctx, 1000)
	<-permits // one comes
	cancel()
	// After the end no permit is handed out for ever: the feeder returns.
	// (A permit already offered may still be taken once.)
	select {
	case <-permits:
	default:
	}
}
