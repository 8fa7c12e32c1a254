// Package config reads the server's settings from flags and SECURECHAT_* environment variables.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
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
}

// EnvPrefix is prepended to a flag's upper-cased name (dashes become underscores)
// to find its environment variable, e.g. --token-ttl is SECURECHAT_TOKEN_TTL.
const EnvPrefix = "SECURECHAT_"

// Parse reads args (without the program name) with environment fallbacks from getenv.
// A flag given on the command line wins over the environment, which wins over the default.
// It returns the arguments left after the flags (the subcommand, if any).
func Parse(args []string, getenv func(string) string, output io.Writer) (Config, []string, error) {
	var c Config
	var origins string
	fs := flag.NewFlagSet("securechat", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.Addr, "addr", "localhost:8080", "address to listen on")
	fs.StringVar(&c.Data, "data", "./data", "folder for the database and keys (created if missing)")
	fs.BoolVar(&c.Signup, "signup", true, "allow anyone to create an account at /signup")
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated origins (scheme://host[:port]) allowed to open the socket with the cookie; same origin is always allowed")
	fs.DurationVar(&c.TokenTTL, "token-ttl", 24*time.Hour, "lifetime of a login token and cookie")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM); serve HTTPS when set with --tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "address for Prometheus /metrics (off when empty)")

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
	if c.TokenTTL < time.Second {
		return Config{}, nil, errors.New("--token-ttl must be at least 1s")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return Config{}, nil, errors.New("--tls-cert and --tls-key go together")
	}
	return c, fs.Args(), nil
}

// TLS reports whether the server serves HTTPS.
func (c Config) TLS() bool { return c.TLSCert != "" }
