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

// userArgs is how many arguments a user subcommand takes after its name; -1
// for one that does not exist.
func userArgs(sub string) int {
	switch sub {
	case "list":
		return 0
	case "add", "passwd", "delete", "2fa-reset":
		return 1
	case "role":
		return 2
	}
	return -1
}

func userCommand(ctx context.Context, cfg config.Config, getenv func(string) string, cmd cmdFlags, args []string, stdin io.Reader, stdout, stderr io.Writer, log *slog.Logger) error {
	// Checked before anything is opened, so a usage error creates no data folder.
	if len(args) == 0 || len(args) != userArgs(args[0])+1 {
		return errors.New("usage: securechat user add NAME | list | passwd NAME | delete NAME [--yes] | 2fa-reset NAME | role NAME admin|member (securechat help says more)")
	}
	var name string
	if len(args) >= 2 {
		n, err := accounts.NormalizeName(args[1])
		if err != nil {
			return fmt.Errorf("%q: %w", args[1], err)
		}
		name = n // the canonical (case-folded) name, in every message below
	}
	if args[0] == "role" && args[2] != store.RoleAdmin && args[2] != store.RoleMember {
		return fmt.Errorf("%q: %w", args[2], accounts.ErrBadRole)
	}
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
	case "role":
		if err := svc.accounts.SetRole(ctx, name, args[2]); err != nil {
			return err
		}
		svc.cliEvent(ctx, audit.RoleChanged, name, args[2])
		fmt.Fprintf(stdout, "%s is now %s\n", name, args[2])
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
	if len(args) != 1 || args[0] != "rotate" {
		return errors.New("usage: securechat keys new | keys rotate")
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
