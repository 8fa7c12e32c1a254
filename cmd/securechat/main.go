// Command securechat is the chat server and its administration tool.
//
//	securechat                  serve (default: localhost:8080, data in ./data)
//	securechat user add NAME [--admin]   create an account; the password is read from stdin
//	securechat user list
//	securechat user passwd NAME
//	securechat user delete NAME [--yes]
//	securechat user 2fa-reset NAME   turn off a user's two-factor login
//	securechat user role NAME admin|member
//	securechat audit [--user NAME] [--since 24h]   print the audit log
//	securechat keys rotate      put a new signing key first, keep the old ones for verification
//	securechat keys new         print a fresh key (for SECURECHAT_TOKEN_KEYS)
//	securechat migrate --database-url URL   bring the PostgreSQL schema up to date
//	securechat --data D --database-url URL move-to-postgres   copy the SQLite store into an empty PostgreSQL one
//	securechat backup FILE [--with-keys]   a checked copy of the SQLite database, while serving
//	securechat restore FILE               put a backup into --data
//	securechat export user NAME | room R [--out FILE]   JSON export
//	securechat help             the commands and every flag
//
// Flags may stand before or after the command and its arguments.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"securechat/app/admission"
	"securechat/app/config"
	"securechat/app/store/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "securechat:", err)
		os.Exit(exitStatus(err))
	}
}

// usageError is a command line that cannot be run as written (an unknown
// command or flag, a missing or extra argument, a malformed name or role).
// main exits with status 2 for it, as programs built on the flag package do,
// and with 1 for a command that ran and failed (no such user, a store error),
// so a script can tell a typo from a failure.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef is a usageError with a message formatted as fmt.Errorf does.
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitStatus is the process's exit status for an error run returned.
func exitStatus(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// run is main without the process: everything it touches comes in as an argument.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return runWith(ctx, options{}, args, getenv, stdin, stdout, stderr)
}

// options are what a test of the whole server may replace; main runs with the
// zero value, the real thing.
type options struct {
	clock clock // the server's time; nil: the system's
	// handshakes, if set, is given the server's handshake admission once it
	// is built, so a test can hold its slots instead of racing real handshakes.
	handshakes func(*admission.Gate)
}

// runWith is run with options.
func runWith(ctx context.Context, opt options, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if opt.clock == nil {
		opt.clock = systemClock{}
	}
	var cmd cmdFlags
	cfg, rest, err := config.Parse(args, getenv, cmd.register)
	if errors.Is(err, flag.ErrHelp) || err == nil && len(rest) > 0 && rest[0] == "help" {
		printHelp(stdout)
		return nil
	}
	if err != nil {
		return usageError{err}
	}
	if cmd.yes && !(len(rest) >= 2 && rest[0] == "user" && rest[1] == "delete") {
		return usagef("--yes goes with user delete only")
	}
	if cmd.admin && !(len(rest) >= 2 && rest[0] == "user" && rest[1] == "add") {
		return usagef("--admin goes with user add only")
	}
	if (cmd.auditUser != "" || cmd.auditSince != 0) && !(len(rest) >= 1 && rest[0] == "audit") {
		return usagef("--user and --since go with audit only")
	}
	if (cmd.tokenName != "" || cmd.tokenDays != 0) && !(len(rest) >= 2 && rest[0] == "token" && rest[1] == "create") {
		return usagef("--name and --expires-in-days go with token create only")
	}
	if cmd.force && !(len(rest) >= 1 && (rest[0] == "backup" || rest[0] == "restore" || rest[0] == "export")) {
		return usagef("--force goes with backup, restore and export only")
	}
	if cmd.withKeys && !(len(rest) >= 1 && rest[0] == "backup") {
		return usagef("--with-keys goes with backup only")
	}
	if cmd.out != "" && !(len(rest) >= 1 && rest[0] == "export") {
		return usagef("--out goes with export only")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if len(rest) == 0 {
		return serve(ctx, cfg, getenv, opt, log, stdout)
	}
	switch rest[0] {
	case "user":
		return userCommand(ctx, cfg, getenv, cmd, rest[1:], stdin, stdout, stderr, log)
	case "token":
		return tokenCommand(ctx, cfg, getenv, cmd, rest[1:], stdout, log)
	case "audit":
		return auditCommand(ctx, cfg, getenv, cmd, rest[1:], stdout, log)
	case "keys":
		return keysCommand(cfg, getenv, rest[1:], stdout, stderr)
	case "backup":
		return backupCommand(ctx, cfg, cmd, rest[1:], stdout)
	case "restore":
		return restoreCommand(ctx, cfg, cmd, rest[1:], stdout)
	case "export":
		return exportCommand(ctx, cfg, getenv, cmd, rest[1:], stdout, log)
	case "serve":
		if len(rest) > 1 {
			return usagef("serve takes no arguments, got %q", rest[1:])
		}
		return serve(ctx, cfg, getenv, opt, log, stdout)
	case "move-to-postgres":
		return moveCommand(ctx, cfg, rest[1:], stdout)
	case "migrate":
		if cfg.DatabaseURL == "" {
			return usagef("migrate needs --database-url (SQLite migrates itself at start)")
		}
		if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "schema is up to date")
		return nil
	default:
		return usagef("unknown command %q (commands: serve, user, token, audit, keys, migrate, backup, restore, export, move-to-postgres, help)", rest[0])
	}
}

// cmdFlags are the flags of one command, parsed with the server's settings so
// they too may stand anywhere on the line.
type cmdFlags struct {
	yes   bool // user delete without asking
	admin bool // user add: make the account an admin

	auditUser  string        // audit: only rows about this user
	auditSince time.Duration // audit: only rows this recent

	tokenName string // token create: the token's name
	tokenDays int    // token create: its lifetime (0: the default)

	force    bool   // backup, restore, export: replace what is there
	withKeys bool   // backup: also copy the token keys, to FILE.keys
	out      string // export: the file to write (default: standard output)
}

func (c *cmdFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.yes, "yes", false, "user delete: do not ask for confirmation")
	fs.BoolVar(&c.admin, "admin", false, "user add: make the account an admin")
	fs.StringVar(&c.auditUser, "user", "", "audit: only the rows whose actor or subject is this user")
	fs.DurationVar(&c.auditSince, "since", 0, "audit: only the rows of this last while, e.g. 24h (default: all kept)")
	fs.StringVar(&c.tokenName, "name", "", "token create: the token's name")
	fs.IntVar(&c.tokenDays, "expires-in-days", 0, "token create: days the token lasts, 1 to 365 (default 90)")
	fs.BoolVar(&c.force, "force", false, "backup, export: replace an existing file; restore: replace the database in --data (never while a server uses it)")
	fs.BoolVar(&c.withKeys, "with-keys", false, "backup: also write the token keys to FILE.keys (mode 0600); without them a restore ends every session")
	fs.StringVar(&c.out, "out", "", "export: write the JSON to this file (mode 0600) instead of standard output")
}

// commands is the help text's list of commands; flags follow it.
const commands = `securechat: a secure real-time chat server in one binary.

Usage: securechat [COMMAND [ARGUMENTS]] [FLAGS]   (flags may stand anywhere)

Commands:
  serve                 serve the chat (the default with no command)
  user add NAME [--admin]
                        create an account (an admin with --admin); the password is
                        read from standard input
  user list             list the accounts
  user passwd NAME      set a new password; ends the user's sessions
  user delete NAME      delete an account (asks on a terminal; --yes does not); ends its
                        sessions, keeps its messages, and reserves the name for ever
  user 2fa-reset NAME   turn off a user's two-factor login (lost authenticator and codes)
  user role NAME admin|member
                        make an account an admin (may read the audit log, delete any
                        message, remove anyone from a private room) or a member;
                        user add NAME --admin creates an admin. Taking the last admin's
                        role is allowed (this command can always give it back), with a
                        warning that no admin is left
  token create USER [NAME] [--name NAME] [--expires-in-days N]
                        make a personal access token (a bearer token for scripts); it is
                        printed once and stored only as a hash
  token list USER       list a user's personal access tokens (never the tokens)
  token revoke USER ID  revoke one; its sockets close
  audit [--user NAME] [--since 24h]
                        print the audit log, newest first: time, event, actor, user,
                        address, session, detail (tab-separated)
  keys rotate           put a new signing key first in DATA/token-keys, keep the previous
                        ones for verification (3 keys in all); restart the server after it
  keys new              print a fresh key for SECURECHAT_TOKEN_KEYS
  migrate               bring the PostgreSQL schema up to date (needs --database-url)
  backup FILE [--with-keys] [--force]
                        write a consistent copy of the SQLite database in --data to FILE
                        (mode 0600) while the server runs, check it (integrity_check) and
                        print how many messages it holds; the token keys go to FILE.keys
                        only with --with-keys (see docs/DEPLOY.md)
  restore FILE [--force]
                        check FILE and make it the database of --data (and FILE.keys its
                        token keys, if present); --force replaces a database already there,
                        never while a server or command uses the folder
  export user NAME [--out FILE]
                        a user's own data as JSON: account (no password hash or secrets),
                        sessions, memberships and every message they wrote
  export room ROOM [--out FILE]
                        every message of a room as JSON
  move-to-postgres      copy the SQLite store in --data, every row with its ids, into the
                        empty PostgreSQL database of --database-url, in one transaction
                        (a failure leaves it empty: run it again); stop the server first
  help                  this text (also --help)

Every setting can also be set as SECURECHAT_<NAME> (upper case, - as _); the command line
wins. A command's own flags (--yes, --admin, --user, --since, --name, --expires-in-days) are
read from the command line only. A wrong command line exits with status 2, a command that
failed with 1.

Flags:
`

func printHelp(w io.Writer) {
	io.WriteString(w, commands)
	var cmd cmdFlags
	config.PrintDefaults(w, cmd.register)
}
