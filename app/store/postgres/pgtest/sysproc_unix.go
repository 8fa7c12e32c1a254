//go:build unix && !linux

package pgtest

import "syscall"

// sysProcAttr runs a server process as cred (nil: as this process). Only Linux
// can stop it when the test process dies; elsewhere a killed test run may
// leave a server behind.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}
