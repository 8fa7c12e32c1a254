package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"securechat/app/accounts"
	"securechat/app/config"
	"securechat/app/store"
)

// auditCommand prints the audit log, newest first, a page at a time from
// the store until the rows are older than --since.
func auditCommand(ctx context.Context, cfg config.Config, getenv func(string) string, cmd cmdFlags, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) != 0 {
		return usagef("audit takes no arguments, got %q (usage: securechat audit [--user NAME] [--since 24h])", args)
	}
	if cmd.auditSince < 0 {
		return usagef("--since must be a positive duration, like 24h")
	}
	user := cmd.auditUser
	if user != "" {
		n, err := accounts.NormalizeName(user)
		if err != nil {
			return usagef("%q: %w", user, err)
		}
		user = n
	}
	svc, err := openServices(ctx, cfg, getenv, time.Now, log)
	if err != nil {
		return err
	}
	defer svc.close()
	var since time.Time
	if cmd.auditSince > 0 {
		since = time.Now().Add(-cmd.auditSince)
	}
	q := store.AuditQuery{User: user}
	for {
		page, err := svc.audit.List(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range page {
			if e.Time.Before(since) {
				return nil
			}
			fmt.Fprintln(stdout, strings.Join([]string{e.Time.Format(time.RFC3339), e.Event, e.Actor, e.Subject,
				e.Address, e.SessionID, tabless(e.Detail), tabless(e.UserAgent)}, "\t"))
		}
		if len(page) < store.MaxAuditPage {
			return nil
		}
		q.Before = page[len(page)-1].ID
	}
}

// tabless keeps a client's text from adding columns or lines to the output.
func tabless(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
