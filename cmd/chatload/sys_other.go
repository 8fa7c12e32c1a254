//go:build !unix

package main

import "time"

// raiseFileLimit has nothing to raise off Unix; 0 means unknown.
func raiseFileLimit() (uint64, error) { return 0, nil }

// selfCPU is unknown off Unix.
func selfCPU() time.Duration { return 0 }
