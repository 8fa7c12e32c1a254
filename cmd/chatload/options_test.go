package main

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1", true},
		{"127.5.6.7", true},
		{"::1", true},
		{"localhost", true},
		{"LocalHost", true},
		{"10.0.0.1", false},
		{"192.168.1.10", false},
		{"0.0.0.0", false},
		{"::", false},
		{"example.com", false},
		{"localhost.example.com", false},
		{"127.0.0.1.nip.io", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if err := checkLoopback(tt.host); (err == nil) != tt.ok {
				t.Errorf("checkLoopback(%q) = %v, want ok %v", tt.host, err, tt.ok)
			}
		})
	}
}

func TestParseBaseURL(t *testing.T) {
	tests := []struct {
		raw     string
		want    string // "" for refused
		socket  string
		spreads bool
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws", true},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080", "ws://127.0.0.1:8080/ws", true},
		{"ws://localhost:8001", "http://localhost:8001", "ws://localhost:8001/ws", false},
		{"https://[::1]:8443", "https://[::1]:8443", "wss://[::1]:8443/ws", false},
		{"http://127.0.0.2:8080", "http://127.0.0.2:8080", "ws://127.0.0.2:8080/ws", false},
		{"http://10.1.2.3:8080", "", "", false},
		{"http://example.com", "", "", false},
		{"ftp://127.0.0.1", "", "", false},
		{"http://127.0.0.1:8080/chat", "", "", false},
		{"http://user:pw@127.0.0.1:8080", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			u, err := parseBaseURL(tt.raw)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("parseBaseURL(%q) = %v, want refused", tt.raw, u)
				}
				return
			}
			if err != nil || u.String() != tt.want {
				t.Fatalf("parseBaseURL(%q) = %v, %v; want %s", tt.raw, u, err, tt.want)
			}
			if s := socketURL(u, "/ws"); s != tt.socket {
				t.Errorf("socketURL = %s, want %s", s, tt.socket)
			}
			if spreadsSources(u) != tt.spreads {
				t.Errorf("spreadsSources = %v, want %v", spreadsSources(u), tt.spreads)
			}
		})
	}
}

func TestSourceSpreaderCycles(t *testing.T) {
	var s sourceSpreader
	want := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)}
	for i, w := range want {
		if ip := s.nextIP(); !ip.Equal(w) {
			t.Errorf("address %d = %v, want %v", i, ip, w)
		}
	}
	for range sourceSpreadCount - 3 {
		s.nextIP()
	}
	if ip := s.nextIP(); !ip.Equal(net.IPv4(127, 0, 0, 250)) {
		t.Errorf("address 250 = %v, want 127.0.0.250", ip)
	}
	if ip := s.nextIP(); !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("address 251 = %v, want 127.0.0.1 again", ip)
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		wantErr string // substring; "" for success
		check   func(t *testing.T, o *options)
	}{
		{name: "hold defaults spread 10 sockets a user", args: "hold -n 95", check: func(t *testing.T, o *options) {
			if o.users != 10 || o.base.String() != defaultURL || o.concurrency != 64 {
				t.Errorf("users %d url %s c %d", o.users, o.base, o.concurrency)
			}
		}},
		{name: "explicit users", args: "hold -n 100 -users 3", check: func(t *testing.T, o *options) {
			if o.users != 3 {
				t.Errorf("users %d", o.users)
			}
		}},
		{name: "fanout counts senders and receivers in every room", args: "fanout -rooms 4 -receivers 10 -senders 2 -rate 10 -duration 2s -per-user 20", check: func(t *testing.T, o *options) {
			if o.socketCount() != 48 || o.users != 3 || o.budget() != 20 || o.roomName(3) != "general-3" {
				t.Errorf("sockets %d users %d budget %d room %s", o.socketCount(), o.users, o.budget(), o.roomName(3))
			}
		}},
		{name: "seed defaults", args: "fanout -target seed", check: func(t *testing.T, o *options) {
			if o.base.String() != defaultSeedURL || o.userPrefix != "bench" || o.password != "bench" {
				t.Errorf("url %s prefix %s password %s", o.base, o.userPrefix, o.password)
			}
		}},
		{name: "storm defaults to 10 users", args: "storm -rate 5", check: func(t *testing.T, o *options) {
			if o.users != 10 {
				t.Errorf("users %d", o.users)
			}
		}},
		{name: "flags before the mode", args: "-url http://127.0.0.1:9000 -json hold -n 5", check: func(t *testing.T, o *options) {
			if o.mode != "hold" || o.base.String() != "http://127.0.0.1:9000" || !o.jsonOut || o.sockets != 5 {
				t.Errorf("mode %s url %s json %v n %d", o.mode, o.base, o.jsonOut, o.sockets)
			}
		}},
		{name: "a flag's value that names a mode is a value", args: "-user-prefix hoard -spread=false storm", check: func(t *testing.T, o *options) {
			if o.mode != "storm" || o.userPrefix != "hoard" || o.spread {
				t.Errorf("mode %s prefix %s spread %v", o.mode, o.userPrefix, o.spread)
			}
		}},
		{name: "hoard defaults", args: "hoard -pid 42", check: func(t *testing.T, o *options) {
			if o.sockets != 20 || o.users != 3 || o.fill != 200 || o.size != 4000 || o.room != "hoard" || o.every != 50*time.Millisecond || o.socketCount() != 22 {
				t.Errorf("n %d users %d fill %d size %d room %s every %v sockets %d", o.sockets, o.users, o.fill, o.size, o.room, o.every, o.socketCount())
			}
		}},
		{name: "hoard needs the server's pid", args: "hoard", wantErr: "-pid"},
		{name: "hoard fill unbounded", args: "hoard -pid 1 -fill 1001", wantErr: "-fill"},
		{name: "hoard page of nothing", args: "hoard -pid 1 -limit 0", wantErr: "-limit"},
		{name: "hoard in general", args: "hoard -pid 1 -room general", wantErr: "general"},
		{name: "hoard with too few users", args: "hoard -pid 1 -users 2", wantErr: "-users 3"},
		{name: "slowbody defaults", args: "slowbody", check: func(t *testing.T, o *options) {
			if o.sockets != 19_000 || o.from.String() != "127.0.0.1" || o.probeFrom.String() != "127.0.0.2" || o.declared != 60_000 || o.bodyBytes != 10 || o.users != 1 {
				t.Errorf("n %d from %s probe %s declared %d body %d users %d", o.sockets, &o.from, &o.probeFrom, o.declared, o.bodyBytes, o.users)
			}
		}},
		{name: "slowbody bystander on the attacker's address", args: "slowbody -from 127.0.0.1-5 -probe-from 127.0.0.3", wantErr: "must differ"},
		{name: "slowbody body finished", args: "slowbody -content-length 10 -body-bytes 10", wantErr: "-content-length"},
		{name: "slowbody from a remote address", args: "slowbody -from 10.0.0.1", wantErr: "loopback"},
		{name: "office defaults", args: "office", check: func(t *testing.T, o *options) {
			if o.users != 200 || o.victim != "load200" || o.within != time.Minute || o.via != "token" || o.guesses != 0 || o.guessFrom.n != 50 {
				t.Errorf("users %d victim %s within %v via %s guesses %d guess addresses %d", o.users, o.victim, o.within, o.via, o.guesses, o.guessFrom.n)
			}
		}},
		{name: "office victim follows the users", args: "office -users 10 -guesses 100", check: func(t *testing.T, o *options) {
			if o.victim != "load10" {
				t.Errorf("victim %s", o.victim)
			}
		}},
		{name: "office guesser inside the office", args: "office -guesses 5 -guess-from 127.0.0.1-3", wantErr: "must not share"},
		{name: "office via nothing", args: "office -via carrier-pigeon", wantErr: "-via"},
		{name: "signups defaults to 128 at once", args: "signups", check: func(t *testing.T, o *options) {
			if o.concurrency != 128 || o.duration != 10*time.Second || o.users != 1 || o.maxAttempts != 0 {
				t.Errorf("c %d duration %v users %d attempts %d", o.concurrency, o.duration, o.users, o.maxAttempts)
			}
		}},
		{name: "signups rotated over addresses", args: "signups -c 8 -from 127.0.0.10-59", check: func(t *testing.T, o *options) {
			if o.concurrency != 8 || o.from.n != 50 || !o.from.at(50).Equal(net.IPv4(127, 0, 0, 10)) {
				t.Errorf("c %d from %s", o.concurrency, &o.from)
			}
		}},
		{name: "attacks are not for the seed", args: "signups -target seed", wantErr: "securechat only"},
		{name: "remote target refused", args: "hold -url http://192.0.2.1:8080", wantErr: "not loopback"},
		{name: "unknown mode", args: "flood", wantErr: "unknown mode"},
		{name: "no mode", args: "", wantErr: "no mode"},
		{name: "only flags", args: "-json -url http://127.0.0.1:9000", wantErr: "no mode"},
		{name: "seed has one room", args: "fanout -target seed -rooms 2", wantErr: "one room"},
		{name: "seed users cannot be created", args: "hold -target seed -create-users", wantErr: "fixed users"},
		{name: "creating users needs the binary", args: "users -users 5", wantErr: "-server-bin"},
		{name: "bad room name", args: "fanout -room Big", wantErr: "a-z"},
		{name: "zero rate", args: "fanout -rate 0", wantErr: "-rate"},
		{name: "unbounded hold", args: "hold -hold 1000h", wantErr: "-hold"},
		{name: "text over the server's limit", args: "fanout -size 5000", wantErr: "-size"},
		{name: "stray argument", args: "hold extra", wantErr: "unexpected"},
		{name: "reconnect takes the server's command after --", args: "reconnect -n 100 -rooms 4 -- ./securechat --addr 127.0.0.1:9000 --data d", check: func(t *testing.T, o *options) {
			if strings.Join(o.serverCmd, " ") != "./securechat --addr 127.0.0.1:9000 --data d" || o.socketCount() != 104 || o.users != 11 || o.roomName(3) != "storm-3" || o.restarts != 1 {
				t.Errorf("command %q sockets %d users %d room %s", o.serverCmd, o.socketCount(), o.users, o.roomName(3))
			}
		}},
		{name: "reconnect without the server's command", args: "reconnect -n 100", wantErr: "after --"},
		{name: "reconnect without a restart", args: "reconnect -restarts 0 -- s", wantErr: "-restarts"},
		{name: "reconnect with a cap under the first window", args: "reconnect -backoff 2s -backoff-cap 1s -- s", wantErr: "-backoff-cap"},
		{name: "a command after -- is for reconnect only", args: "hold -- ./securechat", wantErr: "unexpected"},
		{name: "hold -rss-at reads the RSS: needs -pid", args: "hold -n 100 -rss-at 50", wantErr: "-rss-at needs -pid"},
		{name: "hold -rss-at within -n", args: "hold -n 100 -rss-at 100 -pid 1", wantErr: "-rss-at"},
		{name: "hold -rss-at", args: "hold -n 18000 -rss-at 5000 -pid 1", check: func(t *testing.T, o *options) {
			if o.rssAt != 5000 || o.sockets != 18000 {
				t.Errorf("rss-at %d n %d", o.rssAt, o.sockets)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(strings.Fields(tt.args), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}

func TestAddrRange(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
		str     string
		n       int
		last    string // the address at n-1
	}{
		{in: "127.0.0.2", str: "127.0.0.2", n: 1, last: "127.0.0.2"},
		{in: "127.0.0.10-59", str: "127.0.0.10-59", n: 50, last: "127.0.0.59"},
		{in: "127.1.2.3-3", str: "127.1.2.3", n: 1, last: "127.1.2.3"},
		{in: "127.0.0.250-254", str: "127.0.0.250-254", n: 5, last: "127.0.0.254"},
		{in: "127.0.0.10-9", wantErr: true},
		{in: "127.0.0.10-255", wantErr: true},
		{in: "127.0.0.10-x", wantErr: true},
		{in: "127.0.0.0", wantErr: true},
		{in: "10.0.0.1", wantErr: true},
		{in: "::1", wantErr: true},
		{in: "localhost", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var r addrRange
			err := r.Set(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Set(%q) = %s, want an error", tt.in, &r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tt.str || r.n != tt.n || r.at(tt.n-1).String() != tt.last || !r.at(tt.n).Equal(r.at(0)) {
				t.Errorf("Set(%q): %s, n %d, last %s, wraps to %s", tt.in, &r, r.n, r.at(tt.n-1), r.at(tt.n))
			}
		})
	}
}

func TestAddrRangeOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1", "127.0.0.2", false},
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.10-59", "127.0.0.59", true},
		{"127.0.0.10-59", "127.0.0.60-70", false},
		{"127.0.0.10-59", "127.0.0.3", false},
		{"127.0.0.1-5", "127.0.1.1-5", false},
	}
	for _, tt := range tests {
		a, b := mustAddrRange(tt.a), mustAddrRange(tt.b)
		if a.overlaps(b) != tt.want || b.overlaps(a) != tt.want {
			t.Errorf("%s overlaps %s: %v, want %v", tt.a, tt.b, a.overlaps(b), tt.want)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name, status string
		want         int64
		ok           bool
	}{
		{"typical", "Name:\tsc\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n", 12345, true},
		{"no VmRSS (kernel thread)", "Name:\tkthreadd\nState:\tS\n", 0, false},
		{"odd unit", "VmRSS:\t 12 MB\n", 0, false},
		{"not a number", "VmRSS:\t twelve kB\n", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.status))
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseVmRSS = %d, %v; want %d ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestVerdictIgnoresTiming(t *testing.T) {
	o := &options{mode: "fanout", rooms: 1, receivers: 10, senders: 1}
	slow := &fanoutResult{Sent: 10, Acked: 10, Expected: 100, Delivered: 100,
		Latency: latencySummary{P99Ms: 60_000, MaxMs: 90_000}}
	if p := verdict(o, &report{Fanout: slow}); len(p) != 0 {
		t.Errorf("slow but complete run has problems: %v", p)
	}
	lossy := *slow
	lossy.Delivered, lossy.Missing = 99, 1
	if p := verdict(o, &report{Fanout: &lossy}); len(p) != 1 || !strings.Contains(p[0], "lost") {
		t.Errorf("one lost delivery with -max-loss 0: problems %v", p)
	}
	o.maxLossPct = 5
	if p := verdict(o, &report{Fanout: &lossy}); len(p) != 0 {
		t.Errorf("1%% loss under -max-loss 5: problems %v", p)
	}
}

func TestParseProcStatCPU(t *testing.T) {
	tests := []struct {
		name, stat string
		want       time.Duration
		ok         bool
	}{
		{"typical", "1234 (securechat) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0", 3 * time.Second, true},
		{"name with spaces and parentheses", "77 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0", 100 * time.Millisecond, true},
		{"no name", "1234 securechat S 1", 0, false},
		{"short", "1 (x) S 1 2 3", 0, false},
		{"not numbers", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 a b", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStatCPU(tt.stat)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseProcStatCPU = %v, %v; want %v ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}
