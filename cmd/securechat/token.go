package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"securechat/app/accounts"
	"securechat/app/audit"
	"securechat/app/auth"
	"securechat/app/config"
	"securechat/app/store"
)

const tokenUsage = "usage: securechat token create USER [NAME] [--name NAME] [--expires-in-days N] | list USER | revoke USER ID (securechat help says more)"

// tokenCommand makes, lists and revokes a user's personal access tokens.
func tokenCommand(ctx context.Context, cfg config.Config, getenv func(string) string, cmd cmdFlags, args []string, stdout io.Writer, log *slog.Logger) error {
	// Every usage error is found before anything is opened, so it creates no
	// data folder and no token.
	if len(args) < 2 {
		return errors.New(tokenUsage)
	}
	name := cmd.tokenName
	switch sub := args[0]; {
	case sub == "create" && len(args) == 3 && name == "":
		name = args[2]
	case sub == "create" && len(args) == 3:
		return errors.New("give the token's name once: as NAME or as --name")
	case sub == "create" && len(args) == 2 && name == "":
		return errors.New("token create needs a NAME (or --name)")
	case sub == "create" && len(args) == 2, sub == "list" && len(args) == 2, sub == "revoke" && len(args) == 3:
	default:
		return errors.New(tokenUsage)
	}
	days := cmd.tokenDays
	if days == 0 {
		days = auth.DefaultPATDays
	}
	if args[0] == "create" && (days < 1 || days > auth.MaxPATDays) {
		return auth.ErrPATDays
	}
	user, err := accounts.NormalizeName(args[1])
	if err != nil {
		return fmt.Errorf("%q: %w", args[1], err)
	}
	svc, err := openServices(ctx, cfg, getenv, time.Now, log)
	if err != nil {
		return err
	}
	defer svc.close()
	u, err := svc.db.UserByName(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user %s", user)
	}
	if err != nil {
		return err
	}
	owner := auth.Identity{UserID: u.ID, User: u.Name}
	switch args[0] {
	case "create":
		token, info, err := svc.auth.CreatePAT(ctx, u, name, days, auth.Meta{Address: "command line"})
		if err != nil {
			return err
		}
		svc.cliEvent(ctx, audit.PATCreated, u.Name, fmt.Sprintf("token %s %q, %d days", info.ID, name, days))
		fmt.Fprintf(stdout, "%s\n", token)
		fmt.Fprintf(stdout, "# id %s, name %s, expires %s; the token is not shown again\n", info.ID, info.Name, info.Expires.Format(time.DateOnly))
	case "list":
		list, err := svc.auth.PATs(ctx, owner)
		if err != nil {
			return err
		}
		for _, p := range list {
			last := p.LastSeen.Format("2006-01-02 15:04")
			fmt.Fprintf(stdout, "%s\t%s\tcreated %s\tlast used %s\texpires %s\n", p.ID, p.Name,
				p.Created.Format("2006-01-02 15:04"), last, p.Expires.Format("2006-01-02 15:04"))
		}
	case "revoke":
		err := svc.auth.EndSession(ctx, u.ID, args[2], store.SessionPAT)
		if errors.Is(err, auth.ErrNoSuchSession) {
			return fmt.Errorf("%s has no token %s", user, args[2])
		}
		if err != nil {
			return err
		}
		svc.cliEvent(ctx, audit.PATRevoked, u.Name, "token "+args[2])
		fmt.Fprintf(stdout, "revoked %s; its sockets close\n", args[2])
	}
	return nil
}
