// Package config reads the server's settings from flags and SECURECHAT_* environment variables.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"securechat/app/forwarded"
	"securechat/app/throttle"
)

// Config is everything the server and the CLI need to start.
type Config struct {
	Addr           string
	Data           string
	Signup         bool
	FirstUserAdmin bool // the first account made at /signup on a store that never had one is an admin
	AllowedOrigins []string
	TrustedProxies []*net.IPNet // reverse proxies whose X-Forwarded-For and -Proto are believed (none: the connection's)
	TokenTTL       time.Duration
	TLSCert        string
	TLSKey         string
	MetricsAddr    string
	Pprof          bool   // Go profiles under /debug/pprof/ on MetricsAddr
	NATSURL        string // fan-out between nodes; empty: this process is the only node
	DatabaseURL    string // postgres://… for shared storage; empty: SQLite in Data

	// Limits on what one client can cost the others.
	ReadLimit         int64          // bytes in one client frame (1009 past it)
	MaxText           int            // characters in one message
	MaxSearchQuery    int            // characters in one search query
	SendQueue         int            // frames waiting for one socket (1013 past it)
	SendQueueBytes    int            // bytes waiting for one socket (1013 past it)
	MessageRate       throttle.Limit // messages per user
	RequestRate       throttle.Limit // socket frames other than messages per user
	MaxSocketsPerUser int
	MaxPATsPerUser    int            // live personal access tokens per user
	HashConcurrency   int            // password hashes at once (0: half the processors)
	HashQueue         int            // hashes of each kind (login, sign-up) that may wait for a slot
	HashWait          time.Duration  // longest wait for a slot before 503
	HandshakeConc     int            // socket handshakes worked on at once (0: four per processor)
	HandshakeWait     time.Duration  // longest a handshake waits for a slot before 503
	LoginLimitUser    throttle.Limit // failed logins per username, from browsers without its device cookie
	LoginLimitAddr    throttle.Limit // failed logins per client address
	LoginLimitPair    throttle.Limit // failed logins per username and address together, and per device cookie
	SignupLimitAddr   throttle.Limit // sign-up attempts per client address
	SessionMaxAge     time.Duration  // a session ends this long after login, however often refreshed
	AuditRetention    time.Duration  // audit log rows are deleted this long after they were written
	RefreshLimit      throttle.Limit // /token/refresh calls per session
	TwoFactorAttempts int            // wrong codes per pending two-factor login before it must start over
	TwoFactorLimit    throttle.Limit // wrong two-factor codes per user
	RoomCreateRate    throttle.Limit // rooms a user may create
	EmptyRoomTTL      time.Duration  // a room without messages leaves the list (and the store) this long after its creation
	ExportConcurrency int            // "Download my data" exports streaming at once (503 past it)
	Retention         time.Duration  // messages are deleted for real this long after they were sent (0: kept for ever)

	// Limits on what one connection or address can hold.
	BodyTimeout     time.Duration  // for a request's body to arrive; not upgraded sockets
	MaxConnsPerAddr int            // connections open per client address (0: no limit)
	AuthLogRate     throttle.Limit // auth failure log lines per client address (ten times that overall)
}

// EnvPrefix is prepended to a flag's upper-cased name (dashes become underscores)
// to find its environment variable, e.g. --token-ttl is SECURECHAT_TOKEN_TTL.
const EnvPrefix = "SECURECHAT_"

// raw holds the flags that are parsed further after the command line is read.
type raw struct {
	origins, trustedProxies, messageRate, requestRate, loginUser, loginAddr, loginPair, signupAddr, refresh, roomCreate, authLogRate string

	twoFactor string // --2fa-limit
}

// define registers every setting's flag on a new set, writing into c and r.
func define(c *Config, r *raw) *flag.FlagSet {
	fs := flag.NewFlagSet("securechat", flag.ContinueOnError)
	// Errors are returned, one line each, never printed with the whole usage.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	duration := func(dst *time.Duration, name string, def time.Duration, usage string) {
		*dst = def
		fs.Var((*durationValue)(dst), name, usage)
	}
	fs.StringVar(&c.Addr, "addr", "localhost:8080", "address to listen on")
	fs.StringVar(&c.Data, "data", "./data", "folder for the database and keys (created if missing)")
	fs.BoolVar(&c.Signup, "signup", true, "allow anyone to create an account at /signup")
	fs.BoolVar(&c.FirstUserAdmin, "first-user-admin", false, "the first account made at /signup, on a store that never had an account, is an admin (off: a member; securechat user add NAME --admin makes one)")
	fs.StringVar(&r.origins, "allowed-origins", "", "comma-separated origins (scheme://host[:port]) allowed to open the socket with the cookie and to post the forms; same origin is always allowed")
	duration(&c.TokenTTL, "token-ttl", 24*time.Hour, "lifetime of a login token and cookie")
	fs.StringVar(&r.trustedProxies, "trusted-proxies", "", "comma-separated networks (CIDR) or addresses of reverse proxies: only from them are X-Forwarded-For (the client address) and X-Forwarded-Proto (https) believed; none when empty")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM); serve HTTPS when set with --tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "address for Prometheus /metrics (off when empty)")
	fs.BoolVar(&c.Pprof, "pprof", false, "also serve Go's profiles under /debug/pprof/ on --metrics-addr")
	fs.StringVar(&c.NATSURL, "nats-url", "", "NATS server(s) for fan-out between nodes, e.g. nats://127.0.0.1:4222 (off: one node)")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "postgres://… (or host=… dbname=…) to keep accounts, sessions and history in PostgreSQL (off: SQLite in --data)")
	fs.Int64Var(&c.ReadLimit, "read-limit", 64<<10, "largest client frame in bytes; a larger one closes the socket with 1009")
	fs.IntVar(&c.MaxText, "max-text", 4000, "most characters in one message")
	fs.IntVar(&c.MaxSearchQuery, "max-search-query", 200, "most characters in one search query (each word costs an index lookup)")
	fs.IntVar(&c.SendQueue, "send-queue", 1024, "frames that may wait for one socket before it is closed with 1013")
	fs.IntVar(&c.SendQueueBytes, "send-queue-bytes", 1<<20, "bytes that may wait for one socket before it is closed with 1013")
	fs.StringVar(&r.messageRate, "message-rate", "10/s:20", "messages per user: N/DURATION[:BURST]")
	fs.StringVar(&r.requestRate, "request-rate", "20/s:100", "socket frames other than messages (join, history, rooms…, /secured-ws text) per user, across their sockets: N/DURATION[:BURST]")
	fs.IntVar(&c.MaxSocketsPerUser, "max-sockets-per-user", 20, "open sockets per user")
	fs.IntVar(&c.MaxPATsPerUser, "max-pats-per-user", 20, "live personal access tokens per user")
	fs.IntVar(&c.HashConcurrency, "hash-concurrency", 0, "password hashes computed at once (0: half the processors, at least 1)")
	fs.IntVar(&c.HashQueue, "hash-queue", 64, "password hashes that may wait for a slot, for logins and for sign-ups each; past it 503 (0: none may wait)")
	duration(&c.HashWait, "hash-wait", 5*time.Second, "longest a password hash waits for a slot; past it 503 (0: no limit)")
	fs.IntVar(&c.HandshakeConc, "handshake-concurrency", 0, "socket handshakes (token check, upgrade, socket setup) worked on at once, so a reconnect storm queues instead of taking the machine (0: four per processor)")
	duration(&c.HandshakeWait, "handshake-wait", 20*time.Second, "longest a socket handshake waits for a slot; past it 503 with Retry-After (0: no wait)")
	fs.StringVar(&r.loginUser, "login-limit", "30/1h:10", "failed logins per username (N/DURATION[:BURST]); a browser that logged in as that user before is not held by it")
	fs.StringVar(&r.loginAddr, "login-limit-addr", "10/1m", "failed logins per client address: N/DURATION[:BURST]")
	fs.StringVar(&r.loginPair, "login-limit-user-addr", "5/15m", "failed logins per username and client address together, and per device cookie: N/DURATION[:BURST]")
	fs.StringVar(&r.signupAddr, "signup-limit-addr", "10/1h", "sign-up attempts per client address: N/DURATION[:BURST]")
	duration(&c.SessionMaxAge, "session-max-age", 30*24*time.Hour, "a session ends this long after login, however often it is refreshed")
	duration(&c.AuditRetention, "audit-retention", 365*24*time.Hour, "audit log rows are deleted this long after they were written (checked hourly)")
	fs.StringVar(&r.refresh, "refresh-limit", "10/1h", "/token/refresh calls per session: N/DURATION[:BURST]")
	fs.IntVar(&c.TwoFactorAttempts, "2fa-attempts", 5, "wrong codes one two-factor login may have before it must start again with the password")
	fs.StringVar(&r.twoFactor, "2fa-limit", "10/1h", "wrong two-factor codes per user, across logins and the settings page: N/DURATION[:BURST]")
	fs.StringVar(&r.roomCreate, "room-create-rate", "10/1h:20", "rooms a user may create (by joining a room that does not exist): N/DURATION[:BURST]")
	duration(&c.EmptyRoomTTL, "empty-room-ttl", time.Hour, "a room that never had a message leaves the room list, and the store, this long after it was created (0: never)")
	fs.IntVar(&c.ExportConcurrency, "export-concurrency", 2, "\"Download my data\" exports (each reads all of a user's messages) streaming at once; past it 503 with Retry-After")
	fs.Var((*retentionValue)(&c.Retention), "retention", "messages are deleted for real (as a deleted message is) this long after they were sent, e.g. 90d or 36h; a room's owner may set a shorter one (0: kept for ever)")
	duration(&c.BodyTimeout, "body-timeout", 10*time.Second, "time for a request's body to arrive before the connection is closed (sockets, once upgraded, are not bound by it)")
	fs.IntVar(&c.MaxConnsPerAddr, "max-conns-per-addr", 512, "connections open at once per client address (IPv6: per /64); 0: no limit")
	fs.StringVar(&r.authLogRate, "auth-log-rate", "5/s:10", "auth failure log lines per client address, ten times that overall: N/DURATION[:BURST]; the rest are counted")
	return fs
}

// PrintDefaults writes every flag with its default and meaning, and those
// extra registers (a command's own), in the --name form the CLI takes.
func PrintDefaults(w io.Writer, extra ...func(*flag.FlagSet)) {
	fs := define(&Config{}, &raw{})
	for _, x := range extra {
		x(fs)
	}
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" && f.DefValue != "false" {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "  --%s%s\n      %s%s\n", f.Name, valueHint(f), f.Usage, def)
	})
}

// valueHint names what a flag takes, for the usage text: nothing for a switch.
func valueHint(f *flag.Flag) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return ""
	}
	if _, ok := f.Value.(*durationValue); ok {
		return " DURATION"
	}
	return " VALUE"
}

// Parse reads args (without the program name) with environment fallbacks from getenv.
// A flag given on the command line wins over the environment, which wins over the default.
// Flags may stand before, between or after the positional arguments (the
// subcommand and its arguments), which it returns in order; "--" ends the
// flags. extra registers a command's own flags on the same set; those are
// read from args only, never from the environment: a SECURECHAT_ADMIN or
// SECURECHAT_YES left set would otherwise make every user add an admin, or
// every user delete go unasked. --help gives flag.ErrHelp; an unknown flag,
// an error naming the nearest known one.
func Parse(args []string, getenv func(string) string, extra ...func(*flag.FlagSet)) (Config, []string, error) {
	var c Config
	var r raw
	fs := define(&c, &r)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := EnvPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("environment %s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return Config{}, nil, envErr
	}
	for _, x := range extra {
		x(fs)
	}
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return Config{}, nil, err
	}
	for _, o := range strings.Split(r.origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.AllowedOrigins = append(c.AllowedOrigins, strings.TrimRight(o, "/"))
		}
	}
	if c.TrustedProxies, err = forwarded.ParseCIDRs(r.trustedProxies); err != nil {
		return Config{}, nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	for _, l := range []struct {
		text string
		dst  *throttle.Limit
		flag string
	}{
		{r.messageRate, &c.MessageRate, "--message-rate"},
		{r.requestRate, &c.RequestRate, "--request-rate"},
		{r.loginUser, &c.LoginLimitUser, "--login-limit"},
		{r.loginAddr, &c.LoginLimitAddr, "--login-limit-addr"},
		{r.loginPair, &c.LoginLimitPair, "--login-limit-user-addr"},
		{r.signupAddr, &c.SignupLimitAddr, "--signup-limit-addr"},
		{r.refresh, &c.RefreshLimit, "--refresh-limit"},
		{r.twoFactor, &c.TwoFactorLimit, "--2fa-limit"},
		{r.roomCreate, &c.RoomCreateRate, "--room-create-rate"},
		{r.authLogRate, &c.AuthLogRate, "--auth-log-rate"},
	} {
		v, err := throttle.ParseLimit(l.text)
		if err != nil {
			return Config{}, nil, fmt.Errorf("%s: %w", l.flag, err)
		}
		*l.dst = v
	}
	if c.ReadLimit < 1024 || c.MaxText < 1 || c.SendQueue < 16 || c.MaxSocketsPerUser < 1 || c.MaxPATsPerUser < 1 {
		return Config{}, nil, errors.New("--read-limit must be at least 1024, --max-text, --max-sockets-per-user and --max-pats-per-user at least 1, --send-queue at least 16")
	}
	if c.MaxSearchQuery < 1 {
		return Config{}, nil, errors.New("--max-search-query must be at least 1")
	}
	if c.TwoFactorAttempts < 1 {
		return Config{}, nil, errors.New("--2fa-attempts must be at least 1")
	}
	if c.SendQueueBytes < 64<<10 {
		// Below this a page of history would be a few messages.
		return Config{}, nil, errors.New("--send-queue-bytes must be at least 65536")
	}
	if c.ExportConcurrency < 1 {
		return Config{}, nil, errors.New("--export-concurrency must be at least 1")
	}
	if c.EmptyRoomTTL < 0 {
		return Config{}, nil, errors.New("--empty-room-ttl must be 0 (never) or more")
	}
	if c.Retention != 0 && c.Retention < time.Hour {
		// A slip such as 90s for 90d would delete almost everything.
		return Config{}, nil, errors.New("--retention must be 0 (off) or at least 1h")
	}
	if c.AuditRetention < time.Hour {
		return Config{}, nil, errors.New("--audit-retention must be at least 1h")
	}
	if c.TokenTTL < time.Second || c.SessionMaxAge < time.Second {
		return Config{}, nil, errors.New("--token-ttl and --session-max-age must be at least 1s")
	}
	if c.HashQueue < 0 || c.HashWait < 0 {
		return Config{}, nil, errors.New("--hash-queue and --hash-wait must not be negative")
	}
	if c.HandshakeConc < 0 || c.HandshakeWait < 0 {
		return Config{}, nil, errors.New("--handshake-concurrency and --handshake-wait must not be negative")
	}
	if c.BodyTimeout < 100*time.Millisecond || c.MaxConnsPerAddr < 0 {
		return Config{}, nil, errors.New("--body-timeout must be at least 100ms, --max-conns-per-addr at least 0")
	}
	if scheme, _, ok := strings.Cut(c.DatabaseURL, "://"); ok && scheme != "postgres" && scheme != "postgresql" {
		return Config{}, nil, errors.New("--database-url must be a postgres:// URL or a key=value connection string")
	}
	if c.NATSURL != "" && c.DatabaseURL == "" {
		return Config{}, nil, errors.New("--nats-url needs --database-url: nodes must share their storage")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return Config{}, nil, errors.New("--tls-cert and --tls-key go together")
	}
	return c, rest, nil
}

// parseInterspersed parses flags wherever they stand among args and returns
// the other arguments in order.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, explain(fs, err)
		}
		// The flag package stops at the first argument that is not a flag,
		// or after "--": what follows "--" is never a flag.
		done := len(fs.Args()) < len(args) && args[len(args)-len(fs.Args())-1] == "--"
		args = fs.Args()
		if done {
			return append(rest, args...), nil
		}
		if len(args) == 0 {
			return rest, nil
		}
		rest, args = append(rest, args[0]), args[1:]
	}
}

// explain turns the flag package's error into one line a person can act on.
func explain(fs *flag.FlagSet, err error) error {
	const undefined = "flag provided but not defined: -"
	msg := err.Error()
	if !strings.HasPrefix(msg, undefined) {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		// "invalid value "5" for flag -token-ttl: …": name flags as the CLI spells them.
		return errors.New(strings.Replace(msg, "flag -", "flag --", 1))
	}
	name := strings.TrimPrefix(msg, undefined)
	best, bestDist := "", 1<<30
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	if best != "" && bestDist <= max(2, len(name)/3) {
		return fmt.Errorf("unknown flag --%s; did you mean --%s? (--help lists them all)", name, best)
	}
	return fmt.Errorf("unknown flag --%s (--help lists them all)", name)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// durationValue is a flag that takes a Go duration and says what is wrong
// with one it cannot read (the flag package only says "parse error").
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
			return fmt.Errorf("%q has no unit: write it as %ss, %sm or %sh", s, s, s, s)
		}
		return fmt.Errorf("%q is not a duration such as 90s, 15m or 24h", s)
	}
	*d = durationValue(v)
	return nil
}

// retentionValue is a duration that also takes days (90d), the unit a
// retention is usually given in.
type retentionValue time.Duration

func (d *retentionValue) String() string {
	v := time.Duration(*d)
	if v != 0 && v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	if v == 0 {
		return "0"
	}
	return v.String()
}

func (d *retentionValue) Set(s string) error {
	if s == "0" {
		*d = 0
		return nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 36500 {
			return fmt.Errorf("%q is not a number of days such as 90d", s)
		}
		*d = retentionValue(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	return (*durationValue)(d).Set(s)
}

// TLS reports whether the server serves HTTPS.
func (c Config) TLS() bool { return c.TLSCert != "" }
