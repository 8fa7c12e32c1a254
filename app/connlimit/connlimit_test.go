package connlimit

import (
	"errors"
	"net"
	"testing"
)

func TestKey(t *testing.T) {
	cases := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 5000}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 5000}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::9"), Port: 2}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:3::1"), Port: 2}, "2001:db8:1:3::/64"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 2, Zone: "eth0"}, "fe80::/64"},
		{&net.UnixAddr{Name: "/run/sock", Net: "unix"}, "/run/sock"},
	}
	for _, tc := range cases {
		if got := Key(tc.addr); got != tc.want {
			t.Errorf("Key(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

// fakeListener hands out in-memory connections that claim the given remote addresses.
type fakeListener struct {
	conns chan net.Conn
}

func (f *fakeListener) Accept() (net.Conn, error) {
	c, ok := <-f.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (f *fakeListener) Close() error   { return nil }
func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

type fakeConn struct {
	net.Conn
	remote net.Addr
	closed bool
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }
func (c *fakeConn) Close() error         { c.closed = true; return nil }

func from(ip string) *fakeConn {
	return &fakeConn{remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1234}}
}

func TestListenerLimitsPerAddress(t *testing.T) {
	f := &fakeListener{conns: make(chan net.Conn, 16)}
	l := Wrap(f, 2, nil).(*Listener)
	a1, a2, a3, b1 := from("10.0.0.1"), from("10.0.0.1"), from("10.0.0.1"), from("10.0.0.2")
	for _, c := range []net.Conn{a1, a2, a3, b1} {
		f.conns <- c
	}
	got1, _ := l.Accept()
	got2, _ := l.Accept()
	got3, _ := l.Accept() // a3 is over the limit: closed, and b1 comes next
	if got3.RemoteAddr().String() != b1.remote.String() || !a3.closed || a1.closed || a2.closed {
		t.Fatalf("third accept from %v; a3 closed %v", got3.RemoteAddr(), a3.closed)
	}
	if n := l.Open("10.0.0.1"); n != 2 {
		t.Fatalf("open for 10.0.0.1: %d, want 2", n)
	}
	// Closing gives the place back, once however often it is closed.
	got1.Close()
	got1.Close()
	if n := l.Open("10.0.0.1"); n != 1 {
		t.Fatalf("open after a close: %d, want 1", n)
	}
	a4 := from("10.0.0.1")
	f.conns <- a4
	if c, _ := l.Accept(); c.RemoteAddr() != a4.remote {
		t.Fatal("a place given back was not reused")
	}
	got2.Close()
	got3.Close()
	if n := l.Open("10.0.0.2"); n != 0 || len(l.open) != 1 {
		t.Fatalf("addresses without connections stay in the map: %v", l.open)
	}
	close(f.conns)
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after close: %v", err)
	}
}

func TestWrapZeroIsNoLimit(t *testing.T) {
	f := &fakeListener{}
	if Wrap(f, 0, nil) != net.Listener(f) {
		t.Fatal("max 0 must leave the listener as it is")
	}
}

// lingerConn records the TCP controls the wrapper must pass through.
type lingerConn struct {
	fakeConn
	linger     int
	closeWrite bool
}

func (c *lingerConn) SetLinger(sec int) error { c.linger = sec; return nil }
func (c *lingerConn) CloseWrite() error       { c.closeWrite = true; return nil }

func TestConnPassesTCPControlsThrough(t *testing.T) {
	f := &fakeListener{conns: make(chan net.Conn, 1)}
	inner := &lingerConn{fakeConn: *from("10.0.0.1"), linger: -1}
	f.conns <- inner
	c, err := Wrap(f, 1, nil).Accept()
	if err != nil {
		t.Fatal(err)
	}
	// The chat hub resets a stuck socket with SetLinger(0); the HTTP server
	// half-closes with CloseWrite.
	c.(interface{ SetLinger(int) error }).SetLinger(0)
	c.(interface{ CloseWrite() error }).CloseWrite()
	if inner.linger != 0 || !inner.closeWrite {
		t.Fatalf("linger %d, close write %v: not passed through", inner.linger, inner.closeWrite)
	}
}
