package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"securechat/app/backup"
	"securechat/app/config"
	"securechat/app/store/sqlite"
)

// backupCommand writes a checked copy of the SQLite database while the
// server may be running; restoreCommand puts one back into --data.
func backupCommand(ctx context.Context, cfg config.Config, cmd cmdFlags, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: securechat backup FILE [--with-keys] [--force]")
	}
	if cfg.DatabaseURL != "" {
		return errors.New("backup copies the SQLite database in --data; for PostgreSQL use pg_dump (docs/DEPLOY.md)")
	}
	// Opening would create an empty database: a typo in --data must not
	// give an empty backup that looks fine.
	if _, err := os.Stat(filepath.Join(cfg.Data, sqlite.FileName)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no database in %s (is --data right?)", cfg.Data)
	}
	db, err := openSQLite(ctx, cfg.Data)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := backup.Create(ctx, db, cfg.Data, args[0], backup.Options{Force: cmd.force, WithKeys: cmd.withKeys})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup %s: integrity ok, %d messages, %d users\n", args[0], res.Messages, res.Users)
	if res.Keys != "" {
		fmt.Fprintf(stdout, "token keys in %s: whoever holds them and the backup can log in as any user with a live session; keep them apart from it\n", res.Keys)
	} else {
		fmt.Fprintln(stdout, "token keys not included: a restore of this backup ends every session (--with-keys includes them)")
	}
	return nil
}

func restoreCommand(ctx context.Context, cfg config.Config, cmd cmdFlags, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: securechat restore FILE --data DIR [--force]")
	}
	if cfg.DatabaseURL != "" {
		return errors.New("restore puts a SQLite backup into --data; for PostgreSQL use pg_restore (docs/DEPLOY.md)")
	}
	res, err := backup.Restore(ctx, args[0], cfg.Data, backup.Options{Force: cmd.force})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s: integrity ok, %d messages, %d users\n", args[0], cfg.Data, res.Messages, res.Users)
	if res.Keys != "" {
		fmt.Fprintf(stdout, "token keys restored from %s: sessions go on\n", res.Keys)
	} else {
		fmt.Fprintln(stdout, "no token keys with the backup: the folder's own keys (or new ones) are used, so sessions of another server end and everyone logs in again")
	}
	return nil
}
