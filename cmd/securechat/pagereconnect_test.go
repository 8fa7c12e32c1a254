package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPageReconnect runs testdata/reconnect_test.mjs in node: the page's
// reconnect waits are full jitter (0 to the window, doubling to a cap), a
// refused handshake is followed by GET /ws/ready, whose Retry-After is a
// floor under the wait, and whose 401 sends the page to log in. Skipped
// where node is not installed, like the browser tests without chromium
// (outside CI; .ci/run installs it).
func TestPageReconnect(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("node is not installed")
		}
		t.Fatal("node is not installed (.ci/run installs nodejs)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "testdata/reconnect_test.mjs").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("node testdata/reconnect_test.mjs: %v\n%s", err, out)
	}
}
