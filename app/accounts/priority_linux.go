package accounts

import "golang.org/x/sys/unix"

// lowerThreadPriority gives the calling OS thread the lowest scheduling
// priority (nice 19). On Linux, setpriority with a thread id affects just
// that thread.
func lowerThreadPriority() {
	unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19)
}
