// Command securechat is the chat server and its administration tool.
//
//	securechat [flags]                 serve (default: localhost:8080, data in ./data)
//	securechat [flags] user add NAME   create an account; the password is read from stdin
//	securechat [flags] user list
//	securechat [flags] user passwd NAME
//	securechat [flags] user delete NAME
//	securechat [flags] keys rotate     put a new signing key first, keep the old ones for verification
//	securechat keys new                print a fresh key (for SECURECHAT_TOKEN_KEYS)
//	securechat --database-url URL migrate   bring the PostgreSQL schema up to date (nodes also do it at start)
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"securechat/app/store/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "securechat:", err)
		os.Exit(1)
	}
}

// run is main without the process: everything it touches comes in as an argument.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runWith(ctx, options{}, args, getenv, stdin, stdout, stderr)
}

// options are what a test of the whole server may replace; main runs with the
// zero value, the real thing.
type options struct {
	clock clock // the server's time; nil: the system's
}

// runWith is run with options.
func runWith(ctx context.Context, opt options, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if opt.clock == nil {
		opt.clock = systemClock{}
	}
	cfg, rest, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if len(rest) == 0 {
		return serve(ctx, cfg, getenv, opt.clock, log, stdout)
	}
	switch rest[0] {
	case "user":
		return userCommand(ctx, cfg, getenv, rest[1:], stdin, stdout, stderr)
	case "keys":
		return keysCommand(cfg, rest[1:], stdout)
	case "serve":
		return serve(ctx, cfg, getenv, opt.clock, log, stdout)
	case "migrate":
		if cfg.DatabaseURL == "" {
			return fmt.Errorf("migrate needs --database-url (SQLite migrates itself at start)")
		}
		if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "schema is up to date")
		return nil
	default:
		return fmt.Errorf("unknown command %q (commands: serve, user, keys, migrate)", rest[0])
	}
}
