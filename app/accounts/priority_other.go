//go:build !linux

package accounts

// lowerThreadPriority is a no-op where threads have no priority of their own.
func lowerThreadPriority() {}
