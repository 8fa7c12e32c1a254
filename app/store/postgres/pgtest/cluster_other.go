//go:build !unix

package pgtest

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// Cluster is a running throwaway PostgreSQL server; on this system there is
// none (pgtest needs unix sockets and setuid).
type Cluster struct{}

// StartCluster fails: pgtest runs PostgreSQL on unix systems only.
func StartCluster(ctx context.Context) (*Cluster, error) {
	return nil, fmt.Errorf("%w: pgtest does not support %s", ErrUnavailable, runtime.GOOS)
}

// DSN is never called: there are no clusters.
func (c *Cluster) DSN(name string) string { return "" }

// NewDatabase is never called: there are no clusters.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	t.Fatal("pgtest: no clusters on " + runtime.GOOS)
	return ""
}

// Stop does nothing: there are no clusters.
func (c *Cluster) Stop() error { return nil }
