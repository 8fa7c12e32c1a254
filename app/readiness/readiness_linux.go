package readiness

import (
	"errors"
	"fmt"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Poller watches connections for readability on one goroutine of its own.
type Poller struct {
	epfd  int
	wake  int // an eventfd, written by Close to end the loop
	mu    sync.Mutex
	next  uint64 // ids of waits; 0 is the wake eventfd's
	waits map[uint64]wait
	done  chan struct{} // closed when the loop has ended
	close bool
	stop  sync.Once
}

// wait is one connection being watched.
type wait struct {
	rc    syscall.RawConn
	ready func()
}

// New starts a Poller. Close stops it.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create epoll: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("create eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(wake)
		unix.Close(epfd)
		return nil, fmt.Errorf("watch eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, wake: wake, next: 1, waits: make(map[uint64]wait), done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// Wait arranges for ready to be called once conn has bytes to read, its
// peer has closed it, or it has failed; once, and on the Poller's goroutine,
// so ready must return at once (start a goroutine to read). cancel takes the
// wait back: it reports true if ready has not been called and now will not
// be. Whoever closes conn must cancel first: the Poller stops watching a
// connection through its descriptor, which must still be open.
//
// conn must be read only through itself, with nothing buffered above it
// that the kernel cannot see.
func (p *Poller) Wait(conn syscall.Conn, ready func()) (cancel func() bool, err error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.close {
		return nil, ErrClosed
	}
	id := p.next
	p.next++
	// Level-triggered and one-shot: bytes that arrived before the wait
	// report it at once, and a wait reports once.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(id), Pad: int32(id >> 32)}
	var ctlErr error
	if err := rc.Control(func(fd uintptr) {
		ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	}); err != nil {
		return nil, fmt.Errorf("watch connection: %w", err)
	}
	if ctlErr != nil {
		return nil, fmt.Errorf("watch connection: %w", ctlErr)
	}
	p.waits[id] = wait{rc: rc, ready: ready}
	return func() bool { return p.cancel(id) }, nil
}

// cancel forgets a wait that has not reported yet.
func (p *Poller) cancel(id uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.takeLocked(id)
	return ok
}

// takeLocked ends wait id, if it is still on, and returns its ready. The
// connection leaves the epoll set, so its descriptor number can be reused
// by another connection.
func (p *Poller) takeLocked(id uint64) (ready func(), ok bool) {
	w, ok := p.waits[id]
	if !ok {
		return nil, false
	}
	delete(p.waits, id)
	w.rc.Control(func(fd uintptr) {
		unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
	return w.ready, true
}

// Waiting is how many connections are being watched.
func (p *Poller) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waits)
}

func (p *Poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	ready := make([]func(), 0, len(events))
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// Not expected of a valid epoll descriptor; without the loop no
			// wait would ever report, so report them all: each reader then
			// reads (and blocks) the ordinary way.
			p.shut()
			return
		}
		stop := false
		p.mu.Lock()
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				stop = true
				continue
			}
			if f, ok := p.takeLocked(id); ok { // else cancelled after the kernel reported it
				ready = append(ready, f)
			}
		}
		p.mu.Unlock()
		for i, f := range ready {
			f()
			ready[i] = nil
		}
		ready = ready[:0]
		if stop {
			p.shut()
			return
		}
	}
}

// shut refuses new waits and reports every outstanding one, so no reader is
// left waiting on a Poller that will not tell it.
func (p *Poller) shut() {
	p.mu.Lock()
	p.close = true
	var ready []func()
	for id := range p.waits {
		f, _ := p.takeLocked(id)
		ready = append(ready, f)
	}
	p.mu.Unlock()
	for _, f := range ready {
		f()
	}
	unix.Close(p.epfd)
}

// Close stops the Poller. The connections still watched are reported ready,
// so their readers go on reading the ordinary way.
func (p *Poller) Close() error {
	var err error
	p.stop.Do(func() {
		one := [8]byte{1}
		if _, werr := unix.Write(p.wake, one[:]); werr != nil {
			err = fmt.Errorf("wake the poller: %w", werr)
			return
		}
		<-p.done
		unix.Close(p.wake)
	})
	return err
}
