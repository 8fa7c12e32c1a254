// Package readiness tells when an idle connection has something to read, so
// that no goroutine has to sit blocked on it meanwhile.
//
// A goroutine blocked in a read keeps a stack of at least 4 KiB: the runtime
// halves a stack only while less than a quarter of it is in use, and the
// frames of a parked read plus the runtime's guard are more than a quarter
// of 2 KiB. A chat socket is idle almost all its life, so with one reader
// goroutine each, 18,000 sockets hold 72 MB of stacks doing nothing. With a
// Poller they hold none: the socket's reader returns when nothing is
// buffered, and the Poller starts it again when the kernel has bytes for it.
//
// The Poller is the kernel's readiness interface (epoll on Linux) behind
// the standard library's own: a connection stays in the runtime's poller as
// well, and is read and written with ordinary calls. Only connections that
// are a file descriptor with nothing buffered above it can be watched (a
// TLS connection buffers decrypted bytes the kernel cannot see, so it is
// not a syscall.Conn here); Wait refuses the others and the caller keeps
// reading them on a goroutine of its own.
package readiness

import "errors"

// ErrUnsupported is Wait's (and, on systems without a readiness interface
// here, New's) answer when a connection cannot be watched; the caller reads
// it the ordinary way.
var ErrUnsupported = errors.New("readiness: connection cannot be watched")

// ErrClosed is Wait's answer once the Poller is closed.
var ErrClosed = errors.New("readiness: poller closed")
