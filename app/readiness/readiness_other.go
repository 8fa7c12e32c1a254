//go:build !linux

package readiness

import "syscall"

// Poller is not implemented here: New fails, and callers read every
// connection on a goroutine of its own.
type Poller struct{}

// New reports that this system has no Poller here.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Wait is never reached: New returns no Poller.
func (p *Poller) Wait(conn syscall.Conn, ready func()) (cancel func() bool, err error) {
	return nil, ErrUnsupported
}

// Waiting is zero.
func (p *Poller) Waiting() int { return 0 }

// Close does nothing.
func (p *Poller) Close() error { return nil }
