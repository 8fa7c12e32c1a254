package pgtest

import "syscall"

// sysProcAttr runs a server process as cred (nil: as this process) and has the
// kernel stop it if the test process dies without calling Stop: SIGQUIT is
// PostgreSQL's immediate shutdown, which also ends its backends.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}
