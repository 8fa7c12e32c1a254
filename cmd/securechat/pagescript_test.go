package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runNode runs a test module of the page's script (testdata/NAME) in node;
// it passes when the module prints "ok". Skipped where node is not
// installed, like the browser tests without chromium (outside CI; .ci/run
// installs it).
func runNode(t *testing.T, script string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("node is not installed")
		}
		t.Fatal("node is not installed (.ci/run installs nodejs)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "testdata/"+script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("node testdata/%s: %v\n%s", script, err, out)
	}
}

// TestPageReconnect: the page's reconnect waits are full jitter (0 to the
// window, doubling to a cap), a refused handshake is followed by GET
// /ws/ready, whose Retry-After is a floor under the wait, and whose 401
// sends the page to log in.
func TestPageReconnect(t *testing.T) { runNode(t, "reconnect_test.mjs") }

// TestPageText: a message's text becomes text nodes, links only for http
// and https URLs (rel noopener noreferrer, a new tab; never javascript: or
// data:), the reader's @name marked and nothing else markup; the typing
// line's wording.
func TestPageText(t *testing.T) { runNode(t, "text_test.mjs") }
