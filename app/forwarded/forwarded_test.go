package forwarded

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

func mustNew(t *testing.T, list string) *Proxies {
	t.Helper()
	nets, err := ParseCIDRs(list)
	if err != nil {
		t.Fatalf("ParseCIDRs(%q): %v", list, err)
	}
	return New(nets)
}

func request(remote string, xff ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

func TestClientIP(t *testing.T) {
	const proxies = "127.0.0.1/32,10.0.0.0/8,fd00::/8"
	for _, tc := range []struct {
		name    string
		trusted string
		remote  string
		xff     []string
		want    string
	}{
		{"no list: header ignored", "", "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"no list: loopback peer not trusted either", "", "127.0.0.1:5000", []string{"198.51.100.1"}, "127.0.0.1"},
		{"untrusted peer: header ignored", proxies, "203.0.113.9:5000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"untrusted private peer: header ignored", proxies, "192.168.1.5:5000", []string{"198.51.100.1"}, "192.168.1.5"},
		{"trusted peer, no header", proxies, "127.0.0.1:5000", nil, "127.0.0.1"},
		{"trusted peer", proxies, "127.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed leftmost entries", proxies, "127.0.0.1:5000", []string{"1.2.3.4, 5.6.7.8, 198.51.100.1"}, "198.51.100.1"},
		{"spoofed entry that looks like a proxy", proxies, "127.0.0.1:5000", []string{"10.0.0.1, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", proxies, "127.0.0.1:5000", []string{"198.51.100.1, 10.1.1.1, 10.2.2.2"}, "198.51.100.1"},
		{"chain over several headers", proxies, "127.0.0.1:5000", []string{"6.6.6.6, 198.51.100.1", "10.1.1.1"}, "198.51.100.1"},
		{"IPv6 client", proxies, "127.0.0.1:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv6 client in brackets", proxies, "127.0.0.1:5000", []string{"[2001:db8::1]"}, "2001:db8::1"},
		{"IPv6 trusted proxy", proxies, "[fd00::5]:5000", []string{"198.51.100.1, fd00::7"}, "198.51.100.1"},
		{"IPv6 untrusted peer", proxies, "[2001:db8::9]:5000", []string{"198.51.100.1"}, "2001:db8::9"},
		{"garbage left of the client", proxies, "127.0.0.1:5000", []string{"not-an-ip, 198.51.100.1"}, "198.51.100.1"},
		{"garbage as the rightmost entry: the proxy's address", proxies, "127.0.0.1:5000", []string{"198.51.100.1, garbage"}, "127.0.0.1"},
		{"empty header from a trusted peer", proxies, "127.0.0.1:5000", []string{""}, "127.0.0.1"},
		{"every entry trusted: the furthest", proxies, "127.0.0.1:5000", []string{"10.9.9.9, 10.1.1.1"}, "10.9.9.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustNew(t, tc.trusted)
			if got := p.ClientIP(request(tc.remote, tc.xff...)); got != tc.want {
				t.Errorf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSecure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted string
		remote  string
		proto   string
		tls     bool
		want    bool
	}{
		{"plain", "", "127.0.0.1:1", "", false, false},
		{"own TLS", "", "203.0.113.9:1", "", true, true},
		{"no list: header ignored", "", "127.0.0.1:1", "https", false, false},
		{"untrusted peer: header ignored", "10.0.0.0/8", "203.0.113.9:1", "https", false, false},
		{"trusted peer says https", "10.0.0.0/8", "10.0.0.2:1", "https", false, true},
		{"trusted peer says HTTPS", "10.0.0.0/8", "10.0.0.2:1", "HTTPS", false, true},
		{"trusted peer says http", "10.0.0.0/8", "10.0.0.2:1", "http", false, false},
		{"trusted peer, list: the first", "10.0.0.0/8", "10.0.0.2:1", "https, http", false, true},
		{"trusted peer, no header", "10.0.0.0/8", "10.0.0.2:1", "", false, false},
		{"trusted IPv6 peer", "::1/128", "[::1]:1", "https", false, true},
		{"garbage peer address", "10.0.0.0/8", "garbage", "https", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request(tc.remote)
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if got := mustNew(t, tc.trusted).Secure(r); got != tc.want {
				t.Errorf("Secure = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseCIDRs(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{" 127.0.0.1/32 , 10.0.0.0/8 ", []string{"127.0.0.1/32", "10.0.0.0/8"}, false},
		{"192.0.2.7", []string{"192.0.2.7/32"}, false},
		{"::1", []string{"::1/128"}, false},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}, false},
		{"10.0.0.0/33", nil, true},
		{"proxy.internal", nil, true},
		{"10.0.0.0/8,nonsense", nil, true},
	} {
		got, err := ParseCIDRs(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseCIDRs(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("ParseCIDRs(%q) = %v, want %v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i].String() != tc.want[i] {
				t.Errorf("ParseCIDRs(%q)[%d] = %s, want %s", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

// A nil *Proxies trusts nobody (a web.Config built without the flag).
func TestNilTrustsNone(t *testing.T) {
	var p *Proxies
	r := request("127.0.0.1:1", "198.51.100.1")
	r.Header.Set("X-Forwarded-Proto", "https")
	if got := p.ClientIP(r); got != "127.0.0.1" {
		t.Errorf("ClientIP = %q", got)
	}
	if p.Secure(r) {
		t.Error("Secure = true")
	}
}
