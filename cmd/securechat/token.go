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
	name := cmd.tokenName
	var sub string
	if len(args) > 0 {
		sub = args[0]
	}
	switch {
	case len(args) == 0:
		return usagef("token needs a command: create, list or revoke (%s)", tokenUsage)
	case sub != "create" && sub != "list" && sub != "revoke":
		return usagef("unknown token command %q (%s)", sub, tokenUsage)
	case len(args) == 1:
		return usagef("token %s needs USER (%s)", sub, tokenUsage)
	case sub == "create" && len(args) == 3 && name == "":
		name = args[2]
	case sub == "create" && len(args) == 3:
		return usagef("give the token's name once: as NAME or as --name")
	case sub == "create" && len(args) == 2 && name == "":
		return usagef("token create needs a NAME (or --name)")
	case sub == "revoke" && len(args) == 2:
		return usagef("token revoke needs the token's ID after %s (%s)", args[1], tokenUsage)
	case sub == "create" && len(args) > 3, sub == "list" && len(args) > 2, sub == "revoke" && len(args) > 3:
		max := map[string]int{"create": 3, "list": 2, "revoke": 3}[sub]
		return usagef("token %s: %q too many (%s)", sub, args[max:], tokenUsage)
	}
	days := cmd.tokenDays
	if days == 0 {
		days = auth.DefaultPATDays
	}
	if args[0] == "create" && (days < 1 || days > auth.MaxPATDays) {
		return usageError{auth.ErrPATDays}
	}
	user, err := accounts.NormalizeName(args[1])
	if err != nil {
		return usagef("%q: %w", args[1], err)
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
