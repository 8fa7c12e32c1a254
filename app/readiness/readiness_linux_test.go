package readiness

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// pair is a connected loopback TCP pair: the server's end and the client's.
func pair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server.(*net.TCPConn), client.(*net.TCPConn)
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// reported waits for ready's signal, or fails after a generous while (a
// failure, not a measurement).
func reported(t *testing.T, ch <-chan struct{}, want bool) {
	t.Helper()
	wait := 5 * time.Second
	if !want {
		wait = 200 * time.Millisecond
	}
	select {
	case <-ch:
		if !want {
			t.Fatal("ready was called, and should not have been")
		}
	case <-time.After(wait):
		if want {
			t.Fatal("ready was not called")
		}
	}
}

func TestWaitReports(t *testing.T) {
	tests := []struct {
		name   string
		before func(client *net.TCPConn) // before the wait
		after  func(client *net.TCPConn) // after it
		ready  bool
	}{
		{name: "idle", ready: false},
		{name: "bytes arrive", after: func(c *net.TCPConn) { c.Write([]byte("x")) }, ready: true},
		{name: "bytes already there", before: func(c *net.TCPConn) { c.Write([]byte("x")) }, ready: true},
		{name: "peer closes", after: func(c *net.TCPConn) { c.Close() }, ready: true},
		{name: "peer resets", after: func(c *net.TCPConn) { c.SetLinger(0); c.Close() }, ready: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPoller(t)
			server, client := pair(t)
			if tt.before != nil {
				tt.before(client)
				time.Sleep(50 * time.Millisecond) // let the bytes reach the server's socket
			}
			ch := make(chan struct{}, 2)
			cancel, err := p.Wait(server, func() { ch <- struct{}{} })
			if err != nil {
				t.Fatal(err)
			}
			if tt.after != nil {
				tt.after(client)
			}
			reported(t, ch, tt.ready)
			if tt.ready {
				if cancel() {
					t.Error("cancel after the report says it took the wait back")
				}
				reported(t, ch, false) // once only
			}
			if got, want := p.Waiting(), map[bool]int{true: 0, false: 1}[tt.ready]; got != want {
				t.Errorf("Waiting() = %d, want %d", got, want)
			}
		})
	}
}

func TestCancelThenClose(t *testing.T) {
	p := newPoller(t)
	server, client := pair(t)
	ch := make(chan struct{}, 1)
	cancel, err := p.Wait(server, func() { ch <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	if !cancel() {
		t.Fatal("cancel of a wait that had not reported says it did not take it back")
	}
	if cancel() {
		t.Fatal("a second cancel took it back again")
	}
	server.Close()
	client.Write([]byte("x"))
	reported(t, ch, false)

	// The descriptor number is free; a new connection that gets it is
	// watched afresh, and only it reports.
	server2, client2 := pair(t)
	ch2 := make(chan struct{}, 1)
	if _, err := p.Wait(server2, func() { ch2 <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	client2.Write([]byte("y"))
	reported(t, ch2, true)
	reported(t, ch, false)
}

// The connection can wait again after it has been read: a socket parks
// after every frame.
func TestWaitAgain(t *testing.T) {
	p := newPoller(t)
	server, client := pair(t)
	buf := make([]byte, 16)
	for i := range 3 {
		ch := make(chan struct{}, 1)
		if _, err := p.Wait(server, func() { ch <- struct{}{} }); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		client.Write([]byte("x"))
		reported(t, ch, true)
		if _, err := server.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCloseReportsEveryWait(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 3)
	for range 3 {
		server, _ := pair(t)
		if _, err := p.Wait(server, func() { ch <- struct{}{} }); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		reported(t, ch, true)
	}
	server, _ := pair(t)
	if _, err := p.Wait(server, func() {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close: %v, want ErrClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A syscall.Conn without a descriptor (what a wrapper answers when the
// connection under it has none) is refused, and the caller reads it the
// ordinary way.
func TestWaitUnsupported(t *testing.T) {
	p := newPoller(t)
	if _, err := p.Wait(noDescriptor{}, func() {}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Wait: %v, want ErrUnsupported", err)
	}
	if got := p.Waiting(); got != 0 {
		t.Errorf("Waiting() = %d after a refusal", got)
	}
}

type noDescriptor struct{}

func (noDescriptor) SyscallConn() (syscall.RawConn, error) {
	return nil, errors.New("no descriptor")
}
