//go:build unix

package main

import (
	"fmt"
	"syscall"
	"time"
)

// raiseFileLimit lifts the soft limit on open files to the hard limit (every
// socket is a file) and returns the new limit.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("read the open-file limit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return 0, fmt.Errorf("raise the open-file limit to %d: %w", l.Max, err)
		}
	}
	return uint64(l.Cur), nil
}

// selfCPU is this process's user plus system time (0 if unknown).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
