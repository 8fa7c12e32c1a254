package main

import (
	"context"
	"fmt"
	"io"

	"securechat/app/config"
	"securechat/app/store/move"
)

// moveCommand copies the SQLite store of --data into the empty PostgreSQL
// database of --database-url (package move says how it stays consistent
// and safe to run again).
func moveCommand(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usagef("move-to-postgres takes no arguments, got %q", args)
	}
	if cfg.DatabaseURL == "" {
		return usagef("move-to-postgres needs --database-url (the new, empty PostgreSQL database) beside --data (the SQLite store)")
	}
	counts, err := move.ToPostgres(ctx, cfg.Data, cfg.DatabaseURL, stdout)
	if err != nil {
		return fmt.Errorf("move to PostgreSQL: %w", err)
	}
	var rows int64
	for _, c := range counts {
		rows += c.Postgres
	}
	fmt.Fprintf(stdout, "moved %d rows in %d tables, counts checked on both sides; start the servers with --database-url\n", rows, len(counts))
	return nil
}
