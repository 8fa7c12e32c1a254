package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Load goes to this machine only: a load tool pointed at someone else's
// server is an attack, so every target is checked before anything is sent.

// checkLoopback accepts "localhost" and IP literals in 127.0.0.0/8 or ::1.
// Other names are refused even if they resolve to loopback, because what a
// name resolves to can change between the check and the dial.
func checkLoopback(host string) error {
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("target host %q is not loopback: use 127.0.0.1, ::1 or localhost", host)
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("target host %s is not loopback (127.0.0.0/8, ::1): this tool only loads this machine", host)
	}
	return nil
}

// parseBaseURL reads -url (http or ws, https or wss) and refuses a target
// that is not loopback. It returns the http(s) form; socket URLs derive from it.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse -url: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("-url %q: scheme must be http, https, ws or wss", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("-url %q: give only scheme, host and port", raw)
	}
	if err := checkLoopback(u.Hostname()); err != nil {
		return nil, err
	}
	u.Path = ""
	return u, nil
}

// socketURL is the ws(s) URL of path on base.
func socketURL(base *url.URL, path string) string {
	u := *base
	u.Scheme = "ws"
	if base.Scheme == "https" {
		u.Scheme = "wss"
	}
	u.Path = path
	return u.String()
}

// sourceSpreadCount is how many loopback source addresses connections are
// spread over (127.0.0.1 to 127.0.0.250). Each has its own ~28,000
// ephemeral ports, so tens of thousands of sockets, and the TIME_WAIT left by
// repeated runs, never exhaust one address's ports.
const sourceSpreadCount = 250

// dialTimeout bounds the TCP connect (the WebSocket handshake has its own bound).
const dialTimeout = 10 * time.Second

// spreadsSources reports whether connections to base should come from many
// 127.0.0.x addresses: only for a 127.0.0.1 target, the case this is known
// to work for (every 127.0.0.0/8 address is on lo, and the server listens on one).
func spreadsSources(base *url.URL) bool {
	ip := net.ParseIP(base.Hostname())
	return ip != nil && ip.Equal(net.IPv4(127, 0, 0, 1))
}

// sourceSpreader hands out source addresses 127.0.0.1..250 in turn.
type sourceSpreader struct {
	next atomic.Uint64
}

// nextIP is the source address for the next connection.
func (s *sourceSpreader) nextIP() net.IP {
	n := s.next.Add(1) - 1
	return net.IPv4(127, 0, 0, byte(1+n%sourceSpreadCount))
}

// dialContext connects from the next source address; it fits
// websocket.Dialer.NetDialContext.
func (s *sourceSpreader) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout, LocalAddr: &net.TCPAddr{IP: s.nextIP()}}
	return d.DialContext(ctx, network, addr)
}

// addrRange is a flag value naming loopback source addresses: one
// ("127.0.0.2") or a run of them in the last octet ("127.0.0.10-59"). The
// attack modes send each party from its own addresses, because the server
// keys its limits by client address.
type addrRange struct {
	first net.IP // 4 bytes
	n     int
}

// mustAddrRange parses a range known to be valid (a default).
func mustAddrRange(s string) addrRange {
	var r addrRange
	if err := r.Set(s); err != nil {
		panic(err)
	}
	return r
}

// Set parses "A.B.C.D" or "A.B.C.D-E"; it fits flag.Value.
func (r *addrRange) Set(s string) error {
	host, last, isRange := strings.Cut(s, "-")
	ip := net.ParseIP(host).To4()
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("source %q: give an IPv4 loopback address (127.x.y.z) or a range 127.0.0.10-59", s)
	}
	n := 1
	if isRange {
		end, err := strconv.Atoi(last)
		if err != nil || end < int(ip[3]) || end > 254 {
			return fmt.Errorf("source %q: the range ends at a last octet from %d to 254", s, ip[3])
		}
		n = end - int(ip[3]) + 1
	}
	if ip[3] == 0 {
		return fmt.Errorf("source %q: .0 is not a host address", s)
	}
	*r = addrRange{first: ip, n: n}
	return nil
}

func (r *addrRange) String() string {
	if r.first == nil {
		return ""
	}
	if r.n <= 1 {
		return r.first.String()
	}
	return fmt.Sprintf("%s-%d", r.first, int(r.first[3])+r.n-1)
}

// at is the i-th address of the range, cycling.
func (r addrRange) at(i int) net.IP {
	ip := slices.Clone(r.first)
	ip[3] += byte(i % r.n)
	return ip
}

// overlaps reports whether the two ranges share an address.
func (r addrRange) overlaps(o addrRange) bool {
	if !r.first.Mask(net.CIDRMask(24, 32)).Equal(o.first.Mask(net.CIDRMask(24, 32))) {
		return false
	}
	a0, b0 := int(r.first[3]), int(o.first[3])
	return a0 < b0+o.n && b0 < a0+r.n
}

// dialerFrom is a bounded TCP dial from ip.
func dialerFrom(ip net.IP) *net.Dialer {
	return &net.Dialer{Timeout: dialTimeout, LocalAddr: &net.TCPAddr{IP: ip}}
}
