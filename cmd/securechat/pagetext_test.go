package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPageText runs testdata/text_test.mjs in node: a message's text becomes
// text nodes, links only for http and https URLs (rel noopener noreferrer,
// a new tab; never javascript: or data:), the reader's @name marked and
// nothing else markup; the typing line's wording. Skipped where node is not
// installed, like TestPageReconnect (outside CI).
func TestPageText(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("node is not installed")
		}
		t.Fatal("node is not installed (.ci/run installs nodejs)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, "testdata/text_test.mjs").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("node testdata/text_test.mjs: %v\n%s", err, out)
	}
}
