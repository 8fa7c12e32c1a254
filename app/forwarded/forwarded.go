// Package forwarded decides what a request's X-Forwarded-For and
// X-Forwarded-Proto headers may say: they are believed only when the
// connection comes from a trusted reverse proxy (--trusted-proxies). Anyone
// else can write them, and the login limits per address, the logs and the
// cookies' Secure flag must not be chosen by the client.
package forwarded

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// Proxies holds the trusted proxies' networks. The zero value and nil trust
// none: the client address is the connection's, the scheme the connection's.
type Proxies struct {
	nets    []*net.IPNet
	extract echo.IPExtractor
}

// ParseCIDRs reads a comma-separated list of networks (10.0.0.0/8, ::1/128)
// or single addresses (an address is its own /32 or /128).
func ParseCIDRs(list string) ([]*net.IPNet, error) {
	var nets []*net.IPNet
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("%q is neither a network (CIDR) nor an address", s)
			}
			bits := 128
			if ip4 := ip.To4(); ip4 != nil {
				ip, bits = ip4, 32
			}
			nets = append(nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
			continue
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network (CIDR): %w", s, err)
		}
		nets = append(nets, n)
	}
	return nets, nil
}

// New returns the rules for these trusted networks.
func New(nets []*net.IPNet) *Proxies {
	// Echo's extractor walks X-Forwarded-For from the right, past the
	// connection's address and every address it trusts, and answers the
	// first one it does not trust (or the connection's address when an
	// entry does not parse); an untrusted connection's address is answered
	// at once, so its header is never read. Its default trust of loopback,
	// link-local and private addresses is switched off: only the list counts.
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range nets {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return &Proxies{nets: nets, extract: echo.ExtractIPFromXFFHeader(opts...)}
}

// ClientIP returns the address of the client that made the request: the
// connection's, or behind trusted proxies the rightmost X-Forwarded-For
// entry that is not itself a trusted proxy. It is Echo's IPExtractor, so
// c.RealIP() answers it everywhere.
func (p *Proxies) ClientIP(r *http.Request) string {
	if p == nil || len(p.nets) == 0 {
		return echo.ExtractIPDirect()(r)
	}
	return p.extract(r)
}

// Secure reports whether the client reached us over HTTPS: the connection
// is TLS, or it comes from a trusted proxy that says X-Forwarded-Proto:
// https (its first value: the proxy nearest the client wrote it).
func (p *Proxies) Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !p.fromTrusted(r) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// fromTrusted reports whether the connection comes from a trusted proxy.
func (p *Proxies) fromTrusted(r *http.Request) bool {
	if p == nil || len(p.nets) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	for _, n := range p.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
