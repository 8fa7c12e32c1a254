package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the command line as the binary would, with env as its
// environment, and returns what it wrote.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut strings.Builder
	err = run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestCLIHelp: every way of asking for help prints the commands and the
// flags on standard output and succeeds.
func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"user", "--help"}, {"keys", "rotate", "-help"}} {
		out, errOut, err := runCLI(t, nil, "", args...)
		if err != nil || errOut != "" {
			t.Errorf("%q: error %v, stderr %q; want success and nothing on stderr", args, err, errOut)
		}
		for _, want := range []string{"user add NAME", "keys rotate", "--data VALUE", "--token-ttl DURATION", "--yes"} {
			if !strings.Contains(out, want) {
				t.Errorf("%q: help lacks %q", args, want)
			}
		}
	}
}

// TestCLIFlagsAnywhere: flags after the subcommand and its arguments work as
// before them, and names are printed as the account has them (case-folded).
func TestCLIFlagsAnywhere(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	steps := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"bob-password-1\n", []string{"user", "add", "Bob", "--data", dir}, "created bob\n"},
		{"", []string{"user", "--data", dir, "list"}, "bob\t"},
		{"bob-password-2\n", []string{"user", "passwd", "BOB", "--data=" + dir}, "password changed; bob's sessions have ended\n"},
		{"", []string{"--data", dir, "user", "delete", "BoB", "--yes"}, "deleted bob; their sessions have ended\n"},
	}
	for _, st := range steps {
		out, _, err := runCLI(t, nil, st.stdin, st.args...)
		if err != nil || !strings.Contains(out, st.want) {
			t.Errorf("%q: %q, %v; want %q", st.args, out, err, st.want)
		}
	}
}

// TestCLIUsageErrorsHaveNoSideEffects: a wrong command line says what is
// wrong in one line and creates nothing.
func TestCLIUsageErrorsHaveNoSideEffects(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"user", "add"}, "usage: securechat user add NAME"},
		{[]string{"user", "frobnicate", "x"}, "usage: securechat user"},
		{[]string{"user", "add", "bad name!"}, "a username is"},
		{[]string{"user", "list", "--dta", "x"}, "unknown flag --dta; did you mean --data?"},
		{[]string{"user", "list", "--yes"}, "--yes goes with user delete only"},
		{[]string{"--token-ttl", "5"}, `"5" has no unit`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"backup"}, "usage: securechat backup FILE"},
		{[]string{"backup", "never-written.db"}, "no database in"},
		{[]string{"restore", "no-such-backup.db"}, "nothing restored"},
		{[]string{"export", "user"}, "usage: securechat export"},
		{[]string{"export", "room", "general", "--with-keys"}, "--with-keys goes with backup only"},
		{[]string{"user", "list", "--force"}, "--force goes with backup, restore and export only"},
		{[]string{"backup", "b.db", "--out", "x"}, "--out goes with export only"},
		{[]string{"move-to-postgres"}, "move-to-postgres needs --database-url"},
		{[]string{"move-to-postgres", "now", "--database-url", "postgres://127.0.0.1:1/x"}, "move-to-postgres takes no arguments"},
		{[]string{"move-to-postgres", "--database-url", "postgres://127.0.0.1:1/x"}, "no SQLite store in"}, // a mistyped --data
	}
	for _, tc := range cases {
		dir := filepath.Join(t.TempDir(), "data")
		out, errOut, err := runCLI(t, nil, "", append(tc.args, "--data", dir)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v; want one line containing %q", tc.args, err, tc.want)
		}
		if out != "" || errOut != "" {
			t.Errorf("%q: printed %q and %q; want only the error", tc.args, out, errOut)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%q: the data folder was created (%v)", tc.args, err)
		}
	}
}

// TestCLIKeysRotate: a missing folder is created and said so; the count of
// kept keys is printed; a set SECURECHAT_TOKEN_KEYS, which the server would
// read instead of the file, is warned about.
func TestCLIKeysRotate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	out, errOut, err := runCLI(t, nil, "", "keys", "rotate", "--data", dir)
	if err != nil || !strings.Contains(out, "created the data folder") || !strings.Contains(out, "at most 3 are kept") || errOut != "" {
		t.Fatalf("rotate in a missing folder: %q, %q, %v", out, errOut, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data folder: %v, %v; want mode 0700", fi, err)
	}
	for range 3 {
		out, _, err = runCLI(t, nil, "", "keys", "rotate", "--data", dir)
	}
	if err != nil || !strings.Contains(out, "3 key(s) verify") {
		t.Errorf("after more rotations: %q, %v; want 3 keys kept", out, err)
	}
	_, errOut, err = runCLI(t, map[string]string{"SECURECHAT_TOKEN_KEYS": "x"}, "", "keys", "rotate", "--data", dir)
	if err != nil || !strings.Contains(errOut, "SECURECHAT_TOKEN_KEYS is set") {
		t.Errorf("with SECURECHAT_TOKEN_KEYS set: stderr %q, %v; want a warning", errOut, err)
	}
}

// TestCLIUserRole: user add --admin makes an admin, user role changes it
// either way, and user list shows it; a role other than admin or member is
// refused before anything is opened.
func TestCLIUserRole(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	steps := []struct {
		stdin string
		args  []string
		want  string
	}{
		{"ann-password-1\n", []string{"user", "--admin", "add", "Ann", "--data", dir}, "created ann (admin)\n"},
		{"bob-password-1\n", []string{"user", "add", "bob", "--data", dir}, "created bob\n"},
		{"", []string{"user", "list", "--data", dir}, "\tadmin\nbob\t"},
		{"", []string{"user", "role", "BOB", "admin", "--data", dir}, "bob is now admin\n"},
		{"", []string{"user", "role", "ann", "member", "--data", dir}, "ann is now member\n"},
	}
	for _, st := range steps {
		out, _, err := runCLI(t, nil, st.stdin, st.args...)
		if err != nil || !strings.Contains(out, st.want) {
			t.Errorf("%q: %q, %v; want %q", st.args, out, err, st.want)
		}
	}
	out, _, err := runCLI(t, nil, "", "user", "list", "--data", dir)
	if err != nil || !strings.Contains(out, "\tmember\nbob\t") || !strings.HasSuffix(out, "\tadmin\n") {
		t.Errorf("user list after the changes: %q, %v; want ann member, bob admin", out, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "role", "bob", "root"}, "the role is admin or member"},
		{[]string{"user", "role", "nobody", "admin"}, "no such user"},
		{[]string{"user", "role", "bob"}, "usage: securechat user"},
		{[]string{"user", "list", "--admin"}, "--admin goes with user add only"},
	} {
		if _, _, err := runCLI(t, nil, "", append(tc.args, "--data", dir)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v; want %q", tc.args, err, tc.want)
		}
	}
}
