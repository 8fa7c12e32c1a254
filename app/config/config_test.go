package config

import (
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"securechat/app/throttle"
)

func TestParse(t *testing.T) {
	env := map[string]string{
		"SECURECHAT_ADDR":            "127.0.0.1:9000",
		"SECURECHAT_SIGNUP":          "false",
		"SECURECHAT_TOKEN_TTL":       "1h",
		"SECURECHAT_ALLOWED_ORIGINS": "https://a.example, https://b.example/",
	}
	c, rest, err := Parse([]string{"--token-ttl", "2h", "--message-rate", "5/s:7", "user", "list"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9000" || c.Signup || c.TokenTTL != 2*time.Hour || c.Data != "./data" {
		t.Errorf("config %+v: environment, then flags, then defaults", c)
	}
	if len(c.AllowedOrigins) != 2 || c.AllowedOrigins[1] != "https://b.example" {
		t.Errorf("origins %q", c.AllowedOrigins)
	}
	if c.MessageRate != (throttle.Limit{Rate: 5, Burst: 7}) || c.MaxSocketsPerUser != 20 || c.ReadLimit != 64<<10 || c.MaxText != 4000 {
		t.Errorf("limits %+v", c)
	}
	if c.SendQueueBytes != 1<<20 || c.RequestRate != (throttle.Limit{Rate: 20, Burst: 100}) {
		t.Errorf("byte bound %d, request rate %+v: want 1 MiB and 20/s:100", c.SendQueueBytes, c.RequestRate)
	}
	if c.RoomCreateRate != (throttle.Limit{Rate: 10.0 / 3600, Burst: 20}) || c.EmptyRoomTTL != time.Hour {
		t.Errorf("room limits: --room-create-rate %+v, --empty-room-ttl %v; want 10/1h:20 and 1h", c.RoomCreateRate, c.EmptyRoomTTL)
	}
	if c.ExportConcurrency != 2 {
		t.Errorf("--export-concurrency %d; want 2", c.ExportConcurrency)
	}
	if c.SessionMaxAge != 30*24*time.Hour || c.SignupLimitAddr != (throttle.Limit{Rate: 10.0 / 3600, Burst: 10}) || c.HashQueue != 64 {
		t.Errorf("new limits' defaults %+v", c)
	}
	if len(rest) != 2 || rest[0] != "user" {
		t.Errorf("rest %q", rest)
	}

	bad := [][]string{
		{"--token-ttl", "0s"},
		{"--tls-cert", "c.pem"},
		{"--message-rate", "fast"},
		{"--login-limit", "10"},
		{"--read-limit", "10"},
		{"--max-sockets-per-user", "0"},
		{"--send-queue-bytes", "1000"},
		{"--request-rate", "lots"},
		{"--room-create-rate", "many"},
		{"--empty-room-ttl", "-1s"},
		{"--session-max-age", "0s"},
		{"--signup-limit-addr", "many"},
		{"--login-limit-user-addr", "5"},
		{"--refresh-limit", "0/1h"},
		{"--hash-queue", "-1"},
		{"--export-concurrency", "0"},
		{"--no-such-flag"},
	}
	for _, args := range bad {
		if _, _, err := Parse(args, func(string) string { return "" }); err == nil {
			t.Errorf("Parse(%q) accepted", args)
		}
	}
	if _, _, err := Parse(nil, func(k string) string {
		if k == "SECURECHAT_SIGNUP" {
			return "maybe"
		}
		return ""
	}); err == nil {
		t.Error("a malformed environment value was accepted")
	}
}

func TestParseConnectionAndLogLimits(t *testing.T) {
	c, _, err := Parse(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.BodyTimeout != 10*time.Second || c.MaxConnsPerAddr != 512 || c.AuthLogRate != (throttle.Limit{Rate: 5, Burst: 10}) || c.Pprof {
		t.Errorf("defaults: body %v, conns %d, auth log %v, pprof %v", c.BodyTimeout, c.MaxConnsPerAddr, c.AuthLogRate, c.Pprof)
	}
	env := map[string]string{"SECURECHAT_MAX_CONNS_PER_ADDR": "0", "SECURECHAT_PPROF": "true"}
	c, _, err = Parse([]string{"--body-timeout", "2s", "--auth-log-rate", "1/1h:3"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.BodyTimeout != 2*time.Second || c.MaxConnsPerAddr != 0 || c.AuthLogRate.Burst != 3 || !c.Pprof {
		t.Errorf("set: body %v, conns %d, auth log %v, pprof %v", c.BodyTimeout, c.MaxConnsPerAddr, c.AuthLogRate, c.Pprof)
	}
	for _, args := range [][]string{
		{"--body-timeout", "0s"},
		{"--max-conns-per-addr", "-1"},
		{"--auth-log-rate", "lots"},
	} {
		if _, _, err := Parse(args, func(string) string { return "" }); err == nil {
			t.Errorf("Parse(%q) accepted", args)
		}
	}
}

// TestParseFlagsAnywhere: flags may stand before, between or after the
// subcommand and its arguments; "--" ends them.
func TestParseFlagsAnywhere(t *testing.T) {
	none := func(string) string { return "" }
	cases := []struct {
		args []string
		data string
		rest []string
	}{
		{[]string{"--data", "X", "user", "add", "bob"}, "X", []string{"user", "add", "bob"}},
		{[]string{"user", "add", "bob", "--data", "X"}, "X", []string{"user", "add", "bob"}},
		{[]string{"user", "--data=X", "add", "bob"}, "X", []string{"user", "add", "bob"}},
		{[]string{"user", "add", "--", "--data"}, "./data", []string{"user", "add", "--data"}},
		{nil, "./data", nil},
	}
	for _, tc := range cases {
		c, rest, err := Parse(tc.args, none)
		if err != nil || c.Data != tc.data || !slices.Equal(rest, tc.rest) {
			t.Errorf("Parse(%q) = data %q, rest %q, %v; want %q, %q", tc.args, c.Data, rest, err, tc.data, tc.rest)
		}
	}
}

// TestParseErrorsSayWhatIsWrong: one line naming the problem, never the whole usage.
func TestParseErrorsSayWhatIsWrong(t *testing.T) {
	none := func(string) string { return "" }
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--adr", "x"}, "unknown flag --adr; did you mean --addr?"},
		{[]string{"user", "list", "--dta", "x"}, "did you mean --data?"},
		{[]string{"--zzzzzzzzzzzz"}, "unknown flag --zzzzzzzzzzzz (--help lists them all)"},
		{[]string{"--token-ttl", "5"}, `"5" has no unit: write it as 5s, 5m or 5h`},
		{[]string{"--token-ttl", "soon"}, "is not a duration"},
	}
	for _, tc := range cases {
		_, _, err := Parse(tc.args, none)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) error %v; want one line containing %q", tc.args, err, tc.want)
		}
	}
	if _, _, err := Parse([]string{"user", "--help"}, none); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help gave %v; want flag.ErrHelp", err)
	}
	if _, _, err := Parse(nil, func(k string) string {
		return map[string]string{"SECURECHAT_TOKEN_TTL": "90"}[k]
	}); err == nil || !strings.Contains(err.Error(), "no unit") {
		t.Errorf("SECURECHAT_TOKEN_TTL=90: %v; want the missing unit named", err)
	}
}

func TestPrintDefaultsListsEveryFlag(t *testing.T) {
	var b strings.Builder
	PrintDefaults(&b, func(fs *flag.FlagSet) { fs.Bool("yes", false, "do not ask") })
	for _, want := range []string{"--addr VALUE", "--token-ttl DURATION", "(default 24h0m0s)", "--signup\n", "--yes\n      do not ask"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, b.String())
		}
	}
}

// TestParseTrustedProxies: none by default; networks and addresses from the
// flag or the environment; a bad entry is named.
func TestParseTrustedProxies(t *testing.T) {
	none := func(string) string { return "" }
	c, _, err := Parse(nil, none)
	if err != nil || len(c.TrustedProxies) != 0 {
		t.Fatalf("default: %v, %v; want none", c.TrustedProxies, err)
	}
	c, _, err = Parse([]string{"--trusted-proxies", "127.0.0.1/32, 10.0.0.0/8,::1"}, none)
	if err != nil || len(c.TrustedProxies) != 3 || c.TrustedProxies[1].String() != "10.0.0.0/8" || c.TrustedProxies[2].String() != "::1/128" {
		t.Errorf("flag: %v, %v", c.TrustedProxies, err)
	}
	c, _, err = Parse(nil, func(k string) string {
		return map[string]string{"SECURECHAT_TRUSTED_PROXIES": "192.0.2.0/24"}[k]
	})
	if err != nil || len(c.TrustedProxies) != 1 || c.TrustedProxies[0].String() != "192.0.2.0/24" {
		t.Errorf("environment: %v, %v", c.TrustedProxies, err)
	}
	if _, _, err := Parse([]string{"--trusted-proxies", "10.0.0.0/8,proxy.internal"}, none); err == nil || !strings.Contains(err.Error(), "--trusted-proxies") || !strings.Contains(err.Error(), "proxy.internal") {
		t.Errorf("bad entry: %v; want it named", err)
	}
}

// TestParseCommandFlagsNotFromEnvironment: a command's own flags come from the
// command line only, while every setting still has its environment variable.
func TestParseCommandFlagsNotFromEnvironment(t *testing.T) {
	env := map[string]string{"SECURECHAT_ADMIN": "true", "SECURECHAT_FIRST_USER_ADMIN": "true"}
	var admin bool
	extra := func(fs *flag.FlagSet) { fs.BoolVar(&admin, "admin", false, "user add: an admin") }
	c, _, err := Parse([]string{"user", "add", "bob"}, func(k string) string { return env[k] }, extra)
	if err != nil || admin || !c.FirstUserAdmin {
		t.Errorf("with SECURECHAT_ADMIN and SECURECHAT_FIRST_USER_ADMIN set: admin %v, FirstUserAdmin %v, %v; want false, true", admin, c.FirstUserAdmin, err)
	}
	if _, _, err := Parse([]string{"user", "add", "bob", "--admin"}, func(k string) string { return env[k] }, extra); err != nil || !admin {
		t.Errorf("--admin on the command line: %v, %v; want true", admin, err)
	}
	if c, _, err := Parse(nil, func(string) string { return "" }); err != nil || c.FirstUserAdmin {
		t.Errorf("FirstUserAdmin by default: %v, %v; want false", c.FirstUserAdmin, err)
	}
}

func TestParseHandshakeAdmission(t *testing.T) {
	c, _, err := Parse(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.HandshakeConc != 0 || c.HandshakeWait != 20*time.Second {
		t.Errorf("defaults: --handshake-concurrency %d (0: four per processor), --handshake-wait %v; want 0 and 20s", c.HandshakeConc, c.HandshakeWait)
	}
	env := map[string]string{"SECURECHAT_HANDSHAKE_CONCURRENCY": "32"}
	c, _, err = Parse([]string{"--handshake-wait", "0s"}, func(k string) string { return env[k] })
	if err != nil || c.HandshakeConc != 32 || c.HandshakeWait != 0 {
		t.Errorf("set: %d, %v, %v", c.HandshakeConc, c.HandshakeWait, err)
	}
	for _, args := range [][]string{{"--handshake-concurrency", "-1"}, {"--handshake-wait", "-1s"}, {"--handshake-wait", "5"}} {
		if _, _, err := Parse(args, func(string) string { return "" }); err == nil {
			t.Errorf("Parse(%q) accepted", args)
		}
	}
}

func TestParseRetention(t *testing.T) {
	cases := []struct {
		args []string
		env  string
		want time.Duration
		err  string
	}{
		{nil, "", 0, ""},
		{[]string{"--retention", "90d"}, "", 90 * 24 * time.Hour, ""},
		{[]string{"--retention", "36h"}, "", 36 * time.Hour, ""},
		{[]string{"--retention", "0"}, "", 0, ""},
		{nil, "7d", 7 * 24 * time.Hour, ""},
		{[]string{"--retention", "90s"}, "", 0, "at least 1h"},
		{[]string{"--retention", "-2h"}, "", 0, "at least 1h"},
		{[]string{"--retention", "xd"}, "", 0, "number of days"},
		{[]string{"--retention", "90"}, "", 0, "no unit"},
	}
	for _, tc := range cases {
		c, _, err := Parse(tc.args, func(k string) string {
			if k == "SECURECHAT_RETENTION" {
				return tc.env
			}
			return ""
		})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q, env %q) error %v; want %q", tc.args, tc.env, err, tc.err)
			}
			continue
		}
		if err != nil || c.Retention != tc.want {
			t.Errorf("Parse(%q, env %q) = %v, %v; want %v", tc.args, tc.env, c.Retention, err, tc.want)
		}
	}
}
