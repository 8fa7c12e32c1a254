package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"securechat/app/store"
	"securechat/app/store/postgres/pgtest"
)

// TestMigrateWithoutSuperuser: the schema, pg_trgm and its index included,
// is made by an ordinary role that owns its database (pg_trgm is a trusted
// extension), as DEPLOY.md tells an operator to set up.
func TestMigrateWithoutSuperuser(t *testing.T) {
	ctx := t.Context()
	dsn := pgtest.Start(t)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	role, dbname := "chat_owner_"+suffix, "chat_"+suffix
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
		"CREATE DATABASE " + dbname + " OWNER " + role,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		// The databases' own cleanup runs after this one; a failure here
		// leaves a role in a throwaway cluster, nothing else.
		admin, err := pgx.Connect(t.Context(), dsn)
		if err == nil {
			admin.Exec(t.Context(), "DROP DATABASE IF EXISTS "+dbname)
			admin.Exec(t.Context(), "DROP ROLE IF EXISTS "+role)
			admin.Close(t.Context())
		}
	})
	own := replaceField(replaceField(dsn, "user", role), "dbname", dbname)
	db, err := Open(ctx, own)
	if err != nil {
		t.Fatalf("open as the database's owner: %v", err)
	}
	defer db.Close()
	var super bool
	if err := db.pool.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil || super {
		t.Fatalf("connected as a superuser (%v, %v)", super, err)
	}
	if _, err := db.AppendMessages(ctx, []store.NewMessage{{Room: "lobby", UserID: 1, User: "alice", Text: "the wordsmith", TS: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	got, err := db.SearchMessages(ctx, store.SearchQuery{UserID: 1, Text: "ords"})
	if err != nil || len(got) != 1 {
		t.Fatalf("search = %v, %v; want the message", got, err)
	}
}

// replaceField sets key=value in a key=value connection string.
func replaceField(dsn, key, value string) string {
	fields := strings.Fields(dsn)
	for i, f := range fields {
		if strings.HasPrefix(f, key+"=") {
			fields[i] = key + "=" + value
		}
	}
	return strings.Join(fields, " ")
}
