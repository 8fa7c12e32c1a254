package main

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
)

// At shutdown run waits for its helpers: once it has returned, neither the
// revocation watcher, nor the session pruner, nor the auth-log summariser,
// nor the metrics server is still running (none may touch the store after it
// closed, nor log after run returned).
func TestShutdownWaitsForHelpers(t *testing.T) {
	addr := freeAddr(t)
	s := startServer(t, "", "--metrics-addr", addr)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	resp.Body.Close()
	s.Stop()

	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{
		"securechat/app/auth.WatchRevocations",
		"securechat/app/auth.PruneEvery",
		"securechat/app/ratelog.(*Logger).Run",
		"main.serveMetrics",
	} {
		if strings.Contains(stacks, fn) {
			t.Errorf("%s still runs after run returned", fn)
		}
	}
}
