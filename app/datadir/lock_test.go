//go:build unix

package datadir

import (
	"errors"
	"testing"
)

func TestLock(t *testing.T) {
	dir := t.TempDir()
	serverA, err := Lock(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	// Servers share the folder (as they did before the lock).
	serverB, err := Lock(dir, false)
	if err != nil {
		t.Fatalf("second shared lock: %v", err)
	}
	if _, err := Lock(dir, true); !errors.Is(err, ErrLocked) {
		t.Fatalf("exclusive lock beside two servers: %v; want ErrLocked", err)
	}
	serverA()
	if _, err := Lock(dir, true); !errors.Is(err, ErrLocked) {
		t.Fatalf("exclusive lock beside one server: %v; want ErrLocked", err)
	}
	serverB()
	restore, err := Lock(dir, true)
	if err != nil {
		t.Fatalf("exclusive lock with no server: %v", err)
	}
	if _, err := Lock(dir, false); !errors.Is(err, ErrLocked) {
		t.Fatalf("a server starting during a restore: %v; want ErrLocked", err)
	}
	restore()
	again, err := Lock(dir, false)
	if err != nil {
		t.Fatalf("shared lock after the restore: %v", err)
	}
	again()
}
