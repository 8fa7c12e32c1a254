package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"securechat/app/accounts"
	"securechat/app/audit"
	"securechat/app/config"
	"securechat/app/store"
	"securechat/app/tokens"
	"securechat/app/twofactor"
)

// userSubcommands are the user subcommands with the arguments each takes
// after its name, in the order help lists them.
var userSubcommands = []struct{ name, args string }{
	{"add", "NAME"},
	{"list", ""},
	{"passwd", "NAME"},
	{"delete", "NAME"},
	{"2fa-reset", "NAME"},
	{"role", "NAME admin|member"},
}

const userUsage = "usage: securechat user add NAME [--admin] | list | passwd NAME | delete NAME [--yes] | 2fa-reset NAME | role NAME admin|member (securechat help says more)"

// checkUserArgs says what is wrong with a user command line, naming the
// missing or extra argument, or nil if it can run.
func checkUserArgs(args []string) error {
	if len(args) == 0 {
		return usagef("user needs a command: add, list, passwd, delete, 2fa-reset or role (%s)", userUsage)
	}
	for _, sub := range userSubcommands {
		if sub.name != args[0] {
			continue
		}
		want := strings.Fields(sub.args)
		got := args[1:]
		line := strings.TrimSpace("securechat user " + sub.name + " " + sub.args)
		switch {
		case len(got) < len(want) && len(got) == 0:
			return usagef("user %s needs %s (usage: %s)", sub.name, strings.Join(want, " and "), line)
		case len(got) < len(want):
			return usagef("user %s needs %s after %s (usage: %s)", sub.name, strings.Join(want[len(got):], " and "), got[len(got)-1], line)
		case len(got) > len(want) && len(want) == 0:
			return usagef("user %s takes no arguments, got %q (usage: %s)", sub.name, got, line)
		case len(got) > len(want):
			return usagef("user %s takes %s, got %q too many (usage: %s)", sub.name, sub.args, got[len(want):], line)
		}
		return nil
	}
	return usagef("unknown user command %q (%s)", args[0], userUsage)
}

func userCommand(ctx context.Context, cfg config.Config, getenv func(string) string, cmd cmdFlags, args []string, stdin io.Reader, stdout, stderr io.Writer, log *slog.Logger) error {
	// Checked before anything is opened, so a usage error creates no data folder.
	if err := checkUserArgs(args); err != nil {
		return err
	}
	var name string
	if len(args) >= 2 {
		n, err := accounts.NormalizeName(args[1])
		if err != nil {
			return usagef("%q: %w", args[1], err)
		}
		name = n // the canonical (case-folded) name, in every message below
	}
	if args[0] == "role" && args[2] != store.RoleAdmin && args[2] != store.RoleMember {
		return usagef("%q: %w", args[2], accounts.ErrBadRole)
	}
	err := runUserCommand(ctx, cfg, getenv, cmd, args, name, stdin, stdout, stderr, log)
	if errors.Is(err, accounts.ErrNoSuchUser) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return err
}

// runUserCommand runs a user command whose arguments checkUserArgs passed,
// with name the canonical form of its NAME.
func runUserCommand(ctx context.Context, cfg config.Config, getenv func(string) string, cmd cmdFlags, args []string, name string, stdin io.Reader, stdout, stderr io.Writer, log *slog.Logger) error {
	svc, err := openServices(ctx, cfg, getenv, time.Now, log)
	if err != nil {
		return err
	}
	defer svc.close()
	switch args[0] {
	case "list":
		users, err := svc.accounts.List(ctx)
		if err != nil {
			return err
		}
		for _, u := range users {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", u.Name, u.CreatedAt.Format("2006-01-02 15:04"), u.Role)
		}
	case "add":
		pw, err := readPassword(stdin, stderr, "Password for "+name+": ")
		if err != nil {
			return err
		}
		u, err := svc.accounts.Create(ctx, name, pw)
		if err != nil {
			return err
		}
		if cmd.admin {
			if err := svc.accounts.SetRole(ctx, u.Name, store.RoleAdmin); err != nil {
				return err
			}
			svc.cliEvent(ctx, audit.RoleChanged, u.Name, store.RoleAdmin)
			fmt.Fprintf(stdout, "created %s (admin)\n", u.Name)
			break
		}
		fmt.Fprintf(stdout, "created %s\n", u.Name)
	case "passwd":
		pw, err := readPassword(stdin, stderr, "New password for "+name+": ")
		if err != nil {
			return err
		}
		if err := svc.accounts.SetPassword(ctx, name, pw); err != nil {
			return err
		}
		svc.cliEvent(ctx, audit.PasswordChanged, name, "all sessions ended")
		fmt.Fprintf(stdout, "password changed; %s's sessions have ended\n", name)
	case "delete":
		if !cmd.yes {
			ok, err := confirm(stdin, stderr, "Delete "+name+"? Their sessions end, their messages stay, and the name can never be used again. [y/N] ")
			if err != nil {
				return err
			}
			if !ok {
				return errors.New("not deleted")
			}
		}
		if err := svc.accounts.Delete(ctx, name); err != nil {
			return err
		}
		svc.cliEvent(ctx, audit.AccountDeleted, name, "")
		fmt.Fprintf(stdout, "deleted %s; their sessions have ended\n", name)
		warnIfNoAdmin(ctx, svc.accounts, stderr)
	case "role":
		if err := svc.accounts.SetRole(ctx, name, args[2]); err != nil {
			return err
		}
		svc.cliEvent(ctx, audit.RoleChanged, name, args[2])
		fmt.Fprintf(stdout, "%s is now %s\n", name, args[2])
		if args[2] == store.RoleMember {
			warnIfNoAdmin(ctx, svc.accounts, stderr)
		}
	case "2fa-reset":
		// For a user who lost their authenticator and recovery codes; the
		// admin is trusted to have checked who is asking.
		u, err := svc.accounts.Find(ctx, name)
		if err != nil {
			return err
		}
		err = svc.twoFactor.Reset(ctx, u.ID)
		if errors.Is(err, twofactor.ErrNotEnrolled) {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err != nil {
			return err
		}
		svc.cliEvent(ctx, audit.TwoFactorReset, name, "")
		fmt.Fprintf(stdout, "two-factor login is off for %s; their password alone logs them in\n", name)
	}
	return nil
}

// warnIfNoAdmin tells the operator when no admin is left and how to make one.
// Taking the last admin's role (or account) is allowed, not refused: whoever
// can run this command can always give the role back, and refusing would not
// stop anyone who can open the data folder. But nobody can then read the
// audit page or moderate, which they should know.
func warnIfNoAdmin(ctx context.Context, accts *accounts.Service, stderr io.Writer) {
	users, err := accts.List(ctx)
	if err != nil {
		return // the change is made; the warning is a courtesy
	}
	for _, u := range users {
		if u.Role == store.RoleAdmin {
			return
		}
	}
	fmt.Fprintln(stderr, "warning: no account is an admin now; securechat user role NAME admin makes one")
}

// confirm asks a question on a terminal and reports a yes. Without a terminal
// (a script) there is no one to ask: it answers yes, as --yes would.
func confirm(stdin io.Reader, stderr io.Writer, question string) (bool, error) {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return true, nil
	}
	fmt.Fprint(stderr, question)
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read the answer: %w", err)
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

// readPassword reads a password without echo from a terminal (asking twice),
// or as one line from a pipe.
func readPassword(stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, prompt)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords do not match")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}

// keysKept is how many token keys keys rotate keeps: the new signing key and
// the two before it, so tokens signed before the last two rotations still verify.
const keysKept = 3

func keysCommand(cfg config.Config, getenv func(string) string, args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && args[0] == "new" {
		k, err := tokens.NewKey()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, k.String())
		return nil
	}
	switch {
	case len(args) == 0:
		return usagef("keys needs a command: new or rotate (usage: securechat keys new | keys rotate)")
	case args[0] != "rotate" && args[0] != "new":
		return usagef("unknown keys command %q (usage: securechat keys new | keys rotate)", args[0])
	case len(args) > 1:
		return usagef("keys %s takes no arguments, got %q", args[0], args[1:])
	}
	if getenv(config.EnvPrefix+"TOKEN_KEYS") != "" {
		fmt.Fprintf(stderr, "warning: %sTOKEN_KEYS is set, and a server with it set does not read %s: put the new key first in the variable instead\n",
			config.EnvPrefix, filepath.Join(cfg.Data, tokens.KeyFile))
	}
	if _, err := os.Stat(cfg.Data); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
			return fmt.Errorf("create the data folder: %w", err)
		}
		fmt.Fprintf(stdout, "created the data folder %s\n", cfg.Data)
	}
	keys, err := tokens.RotateKeys(cfg.Data, keysKept)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new signing key in place in %s; %d key(s) verify (at most %d are kept). Restart the server to use it.\n",
		filepath.Join(cfg.Data, tokens.KeyFile), len(keys), keysKept)
	return nil
}
