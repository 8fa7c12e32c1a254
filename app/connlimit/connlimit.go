// Package connlimit bounds how many connections one client address may hold
// open at once, so that one address cannot take every file descriptor of the
// process (and with them the health check and everyone else's logins).
//
// It counts by the TCP peer. Behind a proxy every client shares the proxy's
// address; trusting a forwarded address is the proxy's business, not this
// package's.
package connlimit

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"securechat/app/metrics"
)

// Listener is a net.Listener that closes a connection as soon as it is
// accepted when its address already has the maximum open. The count of an
// address goes down when its connection is closed, by whoever closes it (the
// HTTP server, or the chat hub for an upgraded socket).
type Listener struct {
	net.Listener
	max     int
	metrics *metrics.Metrics // nil records nothing

	mu   sync.Mutex
	open map[string]int // key → connections open; absent when none
}

// Wrap returns inner with at most max connections open per address; max 0
// returns inner itself (no limit).
func Wrap(inner net.Listener, max int, m *metrics.Metrics) net.Listener {
	if max <= 0 {
		return inner
	}
	return &Listener{Listener: inner, max: max, metrics: m, open: make(map[string]int)}
}

// Accept returns the next connection whose address is under the limit. The
// ones over it are closed here and never reach the server, so they cost a
// file descriptor for an instant only.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := Key(c.RemoteAddr())
		if l.take(key) {
			return &conn{Conn: c, l: l, key: key}, nil
		}
		c.Close()
		l.metrics.ConnRefused()
	}
}

// Open is how many connections key has open now.
func (l *Listener) Open(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[key]
}

func (l *Listener) take(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] >= l.max {
		return false
	}
	l.open[key]++
	return true
}

func (l *Listener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] <= 1 {
		delete(l.open, key) // the map holds only addresses with connections open
		return
	}
	l.open[key]--
}

// Key is what a connection from addr counts against: its IPv4 address, or the
// /64 network of its IPv6 address, because one host is usually given a whole
// /64 and could otherwise open every connection from an address of its own.
// An IPv4-mapped IPv6 address counts as the IPv4 address.
func Key(addr net.Addr) string {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.TCPAddr:
		ip = a.AddrPort().Addr()
	default:
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return addr.String()
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().String()
	}
	return ip.String()
}

// conn gives its address's place back when it is closed, once.
type conn struct {
	net.Conn
	l    *Listener
	key  string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// The TCP controls the server uses through interface assertions pass
// through to the connection underneath.

// SetLinger keeps the hub's reset of a socket whose peer stopped reading
// (SetLinger(0) before Close), which frees its backlog at once.
func (c *conn) SetLinger(sec int) error {
	if l, ok := c.Conn.(interface{ SetLinger(int) error }); ok {
		return l.SetLinger(sec)
	}
	return nil
}

// CloseWrite keeps the half-close the HTTP server uses to send its answer
// before closing a connection whose request body it did not read.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// SyscallConn lets app/readiness watch the descriptor underneath: this
// wrapper buffers nothing, so the kernel sees every byte there is to read.
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("connection has no descriptor")
}
