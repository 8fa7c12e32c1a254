package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"securechat/app/config"
	"securechat/app/tokens"
)

func userCommand(ctx context.Context, cfg config.Config, getenv func(string) string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	usage := errors.New("usage: securechat user add NAME | list | passwd NAME | delete NAME")
	if len(args) == 0 {
		return usage
	}
	svc, err := openServices(ctx, cfg, getenv, time.Now)
	if err != nil {
		return err
	}
	defer svc.close()
	switch {
	case args[0] == "list" && len(args) == 1:
		users, err := svc.accounts.List(ctx)
		if err != nil {
			return err
		}
		for _, u := range users {
			fmt.Fprintf(stdout, "%s\t%s\n", u.Name, u.CreatedAt.Format("2006-01-02 15:04"))
		}
		return nil
	case args[0] == "add" && len(args) == 2:
		pw, err := readPassword(stdin, stderr, "Password for "+args[1]+": ")
		if err != nil {
			return err
		}
		u, err := svc.accounts.Create(ctx, args[1], pw)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s\n", u.Name)
		return nil
	case args[0] == "passwd" && len(args) == 2:
		pw, err := readPassword(stdin, stderr, "New password for "+args[1]+": ")
		if err != nil {
			return err
		}
		if err := svc.accounts.SetPassword(ctx, args[1], pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password changed; %s's sessions have ended\n", args[1])
		return nil
	case args[0] == "delete" && len(args) == 2:
		if err := svc.accounts.Delete(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s; their sessions have ended\n", args[1])
		return nil
	}
	return usage
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

func keysCommand(cfg config.Config, args []string, stdout io.Writer) error {
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
	keys, err := tokens.RotateKeys(cfg.Data, 3)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new signing key in place; %d key(s) verify. Restart the server to use it.\n", len(keys))
	return nil
}
