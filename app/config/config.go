// Package config reads the server's settings from flags and SECURECHAT_* environment variables.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"securechat/app/throttle"
)

// Config is everything the server and the CLI need to start.
type Config struct {
	Addr           string
	Data           string
	Signup         bool
	AllowedOrigins []string
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
	SendQueue         int            // frames waiting for one socket (1013 past it)
	SendQueueBytes    int            // bytes waiting for one socket (1013 past it)
	MessageRate       throttle.Limit // messages per user
	RequestRate       throttle.Limit // socket frames other than messages per user
	MaxSocketsPerUser int
	HashConcurrency   int            // password hashes at once (0: half the processors)
	HashQueue         int            // hashes of each kind (login, sign-up) that may wait for a slot
	HashWait          time.Duration  // longest wait for a slot before 503
	LoginLimitUser    throttle.Limit // failed logins per username, from browsers without its device cookie
	LoginLimitAddr    throttle.Limit // failed logins per client address
	LoginLimitPair    throttle.Limit // failed logins per username and address together, and per device cookie
	SignupLimitAddr   throttle.Limit // sign-up attempts per client address
	SessionMaxAge     time.Duration  // a session ends this long after login, however often refreshed
	RefreshLimit      throttle.Limit // /token/refresh calls per session
	RoomCreateRate    throttle.Limit // rooms a user may create
	EmptyRoomTTL      time.Duration  // a room without messages leaves the list (and the store) this long after its creation

	// Limits on what one connection or address can hold.
	BodyTimeout     time.Duration  // for a request's body to arrive; not upgraded sockets
	MaxConnsPerAddr int            // connections open per client address (0: no limit)
	AuthLogRate     throttle.Limit // auth failure log lines per client address (ten times that overall)
}

// EnvPrefix is prepended to a flag's upper-cased name (dashes become underscores)
// to find its environment variable, e.g. --token-ttl is SECURECHAT_TOKEN_TTL.
const EnvPrefix = "SECURECHAT_"

// Parse reads args (without the program name) with environment fallbacks from getenv.
// A flag given on the command line wins over the environment, which wins over the default.
// It returns the arguments left after the flags (the subcommand, if any).
func Parse(args []string, getenv func(string) string, output io.Writer) (Config, []string, error) {
	var c Config
	var origins, messageRate, requestRate, loginUser, loginAddr, loginPair, signupAddr, refresh, roomCreate, authLogRate string
	fs := flag.NewFlagSet("securechat", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.Addr, "addr", "localhost:8080", "address to listen on")
	fs.StringVar(&c.Data, "data", "./data", "folder for the database and keys (created if missing)")
	fs.BoolVar(&c.Signup, "signup", true, "allow anyone to create an account at /signup")
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated origins (scheme://host[:port]) allowed to open the socket with the cookie and to post the forms; same origin is always allowed")
	fs.DurationVar(&c.TokenTTL, "token-ttl", 24*time.Hour, "lifetime of a login token and cookie")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM); serve HTTPS when set with --tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "address for Prometheus /metrics (off when empty)")
	fs.BoolVar(&c.Pprof, "pprof", false, "also serve Go's profiles under /debug/pprof/ on --metrics-addr")
	fs.StringVar(&c.NATSURL, "nats-url", "", "NATS server(s) for fan-out between nodes, e.g. nats://127.0.0.1:4222 (off: one node)")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "postgres://… (or host=… dbname=…) to keep accounts, sessions and history in PostgreSQL (off: SQLite in --data)")
	fs.Int64Var(&c.ReadLimit, "read-limit", 64<<10, "largest client frame in bytes; a larger one closes the socket with 1009")
	fs.IntVar(&c.MaxText, "max-text", 4000, "most characters in one message")
	fs.IntVar(&c.SendQueue, "send-queue", 1024, "frames that may wait for one socket before it is closed with 1013")
	fs.IntVar(&c.SendQueueBytes, "send-queue-bytes", 1<<20, "bytes that may wait for one socket before it is closed with 1013")
	fs.StringVar(&messageRate, "message-rate", "10/s:20", "messages per user: N/DURATION[:BURST]")
	fs.StringVar(&requestRate, "request-rate", "20/s:100", "socket frames other than messages (join, history, rooms…, /secured-ws text) per user, across their sockets: N/DURATION[:BURST]")
	fs.IntVar(&c.MaxSocketsPerUser, "max-sockets-per-user", 20, "open sockets per user")
	fs.IntVar(&c.HashConcurrency, "hash-concurrency", 0, "password hashes computed at once (0: half the processors, at least 1)")
	fs.IntVar(&c.HashQueue, "hash-queue", 64, "password hashes that may wait for a slot, for logins and for sign-ups each; past it 503 (0: none may wait)")
	fs.DurationVar(&c.HashWait, "hash-wait", 5*time.Second, "longest a password hash waits for a slot; past it 503 (0: no limit)")
	fs.StringVar(&loginUser, "login-limit", "30/1h:10", "failed logins per username (N/DURATION[:BURST]); a browser that logged in as that user before is not held by it")
	fs.StringVar(&loginAddr, "login-limit-addr", "10/1m", "failed logins per client address: N/DURATION[:BURST]")
	fs.StringVar(&loginPair, "login-limit-user-addr", "5/15m", "failed logins per username and client address together, and per device cookie: N/DURATION[:BURST]")
	fs.StringVar(&signupAddr, "signup-limit-addr", "10/1h", "sign-up attempts per client address: N/DURATION[:BURST]")
	fs.DurationVar(&c.SessionMaxAge, "session-max-age", 30*24*time.Hour, "a session ends this long after login, however often it is refreshed")
	fs.StringVar(&refresh, "refresh-limit", "10/1h", "/token/refresh calls per session: N/DURATION[:BURST]")
	fs.StringVar(&roomCreate, "room-create-rate", "10/1h:20", "rooms a user may create (by joining a room that does not exist): N/DURATION[:BURST]")
	fs.DurationVar(&c.EmptyRoomTTL, "empty-room-ttl", time.Hour, "a room that never had a message leaves the room list, and the store, this long after it was created (0: never)")
	fs.DurationVar(&c.BodyTimeout, "body-timeout", 10*time.Second, "time for a request's body to arrive before the connection is closed (sockets, once upgraded, are not bound by it)")
	fs.IntVar(&c.MaxConnsPerAddr, "max-conns-per-addr", 512, "connections open at once per client address (IPv6: per /64); 0: no limit")
	fs.StringVar(&authLogRate, "auth-log-rate", "5/s:10", "auth failure log lines per client address, ten times that overall: N/DURATION[:BURST]; the rest are counted")

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
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.AllowedOrigins = append(c.AllowedOrigins, strings.TrimRight(o, "/"))
		}
	}
	for _, l := range []struct {
		text string
		dst  *throttle.Limit
		flag string
	}{
		{messageRate, &c.MessageRate, "--message-rate"},
		{requestRate, &c.RequestRate, "--request-rate"},
		{loginUser, &c.LoginLimitUser, "--login-limit"},
		{loginAddr, &c.LoginLimitAddr, "--login-limit-addr"},
		{loginPair, &c.LoginLimitPair, "--login-limit-user-addr"},
		{signupAddr, &c.SignupLimitAddr, "--signup-limit-addr"},
		{refresh, &c.RefreshLimit, "--refresh-limit"},
		{roomCreate, &c.RoomCreateRate, "--room-create-rate"},
		{authLogRate, &c.AuthLogRate, "--auth-log-rate"},
	} {
		v, err := throttle.ParseLimit(l.text)
		if err != nil {
			return Config{}, nil, fmt.Errorf("%s: %w", l.flag, err)
		}
		*l.dst = v
	}
	if c.ReadLimit < 1024 || c.MaxText < 1 || c.SendQueue < 16 || c.MaxSocketsPerUser < 1 {
		return Config{}, nil, errors.New("--read-limit must be at least 1024, --max-text and --max-sockets-per-user at least 1, --send-queue at least 16")
	}
	if c.SendQueueBytes < 64<<10 {
		// Below this a page of history would be a few messages.
		return Config{}, nil, errors.New("--send-queue-bytes must be at least 65536")
	}
	if c.EmptyRoomTTL < 0 {
		return Config{}, nil, errors.New("--empty-room-ttl must be 0 (never) or more")
	}
	if c.TokenTTL < time.Second || c.SessionMaxAge < time.Second {
		return Config{}, nil, errors.New("--token-ttl and --session-max-age must be at least 1s")
	}
	if c.HashQueue < 0 || c.HashWait < 0 {
		return Config{}, nil, errors.New("--hash-queue and --hash-wait must not be negative")
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
	return c, fs.Args(), nil
}

// TLS reports whether the server serves HTTPS.
func (c Config) TLS() bool { return c.TLSCert != "" }
