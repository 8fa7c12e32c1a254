package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"securechat/app/audit"
	"securechat/app/auth"
	"securechat/app/config"
	"securechat/app/export"
)

// exportCommand writes a user's own data (export user NAME) or every message
// of a room (export room R) as JSON, to --out or standard output.
func exportCommand(ctx context.Context, cfg config.Config, getenv func(string) string, cmd cmdFlags, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) != 2 || args[0] != "user" && args[0] != "room" {
		return errors.New("usage: securechat export user NAME | room ROOM [--out FILE] [--force]")
	}
	svc, err := openServices(ctx, cfg, getenv, time.Now, log)
	if err != nil {
		return err
	}
	defer svc.close()
	x := export.New(svc.db, time.Now)
	// Everything that can be refused is checked before the file is created.
	var write func(io.Writer) (int, error)
	switch args[0] {
	case "user":
		u, err := svc.accounts.Find(ctx, args[1])
		if err != nil {
			return fmt.Errorf("%q: %w", args[1], err)
		}
		twoFactor, err := svc.twoFactor.Enabled(ctx, u.ID)
		if err != nil {
			return err
		}
		sessions, err := svc.auth.Sessions(ctx, auth.Identity{UserID: u.ID, User: u.Name})
		if err != nil {
			return err
		}
		write = func(w io.Writer) (int, error) {
			n, err := x.User(ctx, w, export.AccountOf(u, twoFactor), sessions)
			if err == nil {
				svc.cliEvent(ctx, audit.DataExported, u.Name, fmt.Sprintf("export user, %d messages", n))
			}
			return n, err
		}
	case "room":
		ok, err := svc.db.RoomExists(ctx, args[1])
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("room %q: %w", args[1], export.ErrNoRoom)
		}
		write = func(w io.Writer) (int, error) { return x.Room(ctx, w, args[1]) }
	}
	if cmd.out == "" || cmd.out == "-" {
		_, err := write(stdout)
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if cmd.force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	// Private: it holds messages, and a user's sessions and addresses.
	f, err := os.OpenFile(cmd.out, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists: choose another name, or --force replaces it", cmd.out)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", cmd.out, err)
	}
	// A file replaced with --force keeps its mode otherwise.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("create %s: %w", cmd.out, err)
	}
	n, err := write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(cmd.out)
		return err
	}
	fmt.Fprintf(stdout, "%s: %d messages\n", cmd.out, n)
	return nil
}
