package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIFlagOrderings: every command takes its flags, the server's
// (--data) and its own (--admin, --yes, --name, --expires-in-days, --user,
// --since), before the command, between its words, or after its
// arguments, as --flag VALUE or --flag=VALUE. The steps share one data
// folder, so a --data that went unread would show as a missing account; the
// working folder is empty, so one that fell back to ./data would show there.
func TestCLIFlagOrderings(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := filepath.Join(t.TempDir(), "data")
	steps := []struct {
		args    string // D stands for the data folder
		stdin   string
		want    string // in standard output
		wantErr string // in the error, for a command that parses and then fails
	}{
		{args: "--data D user add u1", stdin: "password-1\n", want: "created u1\n"},
		{args: "user --data D add u2", stdin: "password-1\n", want: "created u2\n"},
		{args: "user add u3 --data D", stdin: "password-1\n", want: "created u3\n"},
		{args: "user add --admin u4 --data D", stdin: "password-1\n", want: "created u4 (admin)\n"},
		{args: "user add u5 --data=D --admin", stdin: "password-1\n", want: "created u5 (admin)\n"},
		{args: "--admin user add u6 --data D", stdin: "password-1\n", want: "created u6 (admin)\n"},
		{args: "user --admin=false add u7 --data D", stdin: "password-1\n", want: "created u7\n"},
		{args: "user list --data D", want: "u6\t"},
		{args: "--data=D user list", want: "u7\t"},
		{args: "user passwd u1 --data D", stdin: "password-2\n", want: "password changed; u1's sessions"},
		{args: "user --data D passwd U1", stdin: "password-3\n", want: "password changed; u1's sessions"},
		{args: "user role u1 admin --data D", want: "u1 is now admin\n"},
		{args: "user role --data D u1 member", want: "u1 is now member\n"},
		{args: "user --data=D role u1 admin", want: "u1 is now admin\n"},
		{args: "--data D user role u1 member", want: "u1 is now member\n"},
		{args: "user 2fa-reset u1 --data D", wantErr: "u1: two-factor"},
		{args: "--data D user 2fa-reset u1", wantErr: "u1: two-factor"},
		{args: "user delete u2 --yes --data D", want: "deleted u2;"},
		{args: "user delete --yes u3 --data D", want: "deleted u3;"},
		{args: "--yes user --data D delete u7", want: "deleted u7;"},
		{args: "token create u1 ci --data D", want: ", name ci, expires"},
		{args: "token create u1 --name ci2 --data D --expires-in-days 5", want: ", name ci2, expires"},
		{args: "token --data D create --expires-in-days=7 u1 ci3", want: ", name ci3, expires"},
		{args: "--name ci4 token create u1 --data D", want: ", name ci4, expires"},
		{args: "token list u1 --data D", want: "\tci2\t"},
		{args: "token --data D list u1", want: "\tci4\t"},
		{args: "token revoke u1 nosuch --data D", wantErr: "u1 has no token nosuch"},
		{args: "--data D token revoke u1 nosuch", wantErr: "u1 has no token nosuch"},
		{args: "audit --data D --user u1", want: "\trole_changed\tcli\tu1\t"},
		{args: "audit --user u1 --data D --since 1h", want: "\tpat_created\tcli\tu1\t"},
		{args: "--since 1h audit --data=D", want: "\taccount_deleted\tcli\tu7\t"},
		{args: "keys rotate --data D", want: "new signing key in place"},
		{args: "--data D keys rotate", want: "new signing key in place"},
		{args: "keys --data D rotate", want: "new signing key in place"},
	}
	for _, st := range steps {
		args := strings.Fields(strings.ReplaceAll(st.args, "D", dir))
		out, _, err := runCLI(t, nil, st.stdin, args...)
		switch {
		case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
			t.Errorf("%s: %v; want an error containing %q", st.args, err, st.wantErr)
		case st.wantErr == "" && (err != nil || !strings.Contains(out, st.want)):
			t.Errorf("%s: %q, %v; want %q", st.args, out, err, st.want)
		}
	}
	out, _, err := runCLI(t, nil, "", "user", "list", "--data", dir)
	want := "u1\t member\nu4\t admin\nu5\t admin\nu6\t admin\n"
	if got := listRoles(out); err != nil || got != want {
		t.Errorf("user list at the end: %q, %v; want %q", got, err, want)
	}
	if _, err := os.Stat("data"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a command used ./data: %v", err)
	}
}

// listRoles keeps the name and role columns of user list's output.
func listRoles(out string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(out, "\n") {
		if f := strings.Split(strings.TrimSuffix(line, "\n"), "\t"); len(f) == 3 {
			b.WriteString(f[0] + "\t " + f[2] + "\n")
		}
	}
	return b.String()
}

// TestCLIUsageErrorsSayWhatIsWrong: a command line that cannot run names
// what is wrong with it (not only the usage line), creates nothing and exits
// with status 2; a command that runs and fails (no such user) names the user
// and exits with 1.
func TestCLIUsageErrorsSayWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		args string
		want string
	}{
		{"user", "user needs a command: add, list"},
		{"user add", "user add needs NAME (usage: securechat user add NAME)"},
		{"user add bob extra", `user add takes NAME, got ["extra"] too many`},
		{"user add --admin", "user add needs NAME"},
		{"user role bob", "user role needs admin|member after bob"},
		{"user role", "user role needs NAME and admin|member"},
		{"user role bob root", `"root": the role is admin or member`},
		{"user list x", `user list takes no arguments, got ["x"]`},
		{"user frob", `unknown user command "frob"`},
		{"user add bad!", `"bad!": a username is`},
		{"user add bob --dta X", "unknown flag --dta; did you mean --data?"},
		{"user add bob --admin --yes", "--yes goes with user delete only"},
		{"token", "token needs a command: create, list or revoke"},
		{"token frob alice", `unknown token command "frob"`},
		{"token list", "token list needs USER"},
		{"token list alice bob", `token list: ["bob"] too many`},
		{"token revoke alice", "token revoke needs the token's ID after alice"},
		{"token create alice ci --expires-in-days 400", "1 to 365"},
		{"audit x", `audit takes no arguments, got ["x"]`},
		{"audit --since -1h", "--since must be a positive duration"},
		{"keys", "keys needs a command: new or rotate"},
		{"keys turn", `unknown keys command "turn"`},
		{"keys rotate now", `keys rotate takes no arguments, got ["now"]`},
		{"serve now", "serve takes no arguments"},
		{"frobnicate", `unknown command "frobnicate"`},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		out, errOut, err := runCLI(t, nil, "", append(strings.Fields(tc.args), "--data", dir)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v; want one line containing %q", tc.args, err, tc.want)
		} else if got := exitStatus(err); got != 2 {
			t.Errorf("%s: exit status %d; want 2", tc.args, got)
		}
		if out != "" || errOut != "" {
			t.Errorf("%s: printed %q and %q; want only the error", tc.args, out, errOut)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the data folder was created (%v)", tc.args, err)
		}
	}

	dir := filepath.Join(t.TempDir(), "data")
	if _, _, err := runCLI(t, nil, "ann-password-1\n", "user", "add", "ann", "--data", dir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args, stdin, want string
	}{
		{"user role Nobody admin", "", "nobody: no such user"},
		{"user passwd nobody", "password-123\n", "nobody: no such user"},
		{"user delete nobody --yes", "", "nobody: no such user"},
		{"user 2fa-reset nobody", "", "nobody: no such user"},
		{"token list nobody", "", "no user nobody"},
		{"user add ann", "password-123\n", "taken"},
	} {
		_, _, err := runCLI(t, nil, tc.stdin, append(strings.Fields(tc.args), "--data", dir)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v; want %q", tc.args, err, tc.want)
		} else if got := exitStatus(err); got != 1 {
			t.Errorf("%s: exit status %d; want 1", tc.args, got)
		}
	}
}

// TestCLILastAdmin: taking the role of the last admin is allowed (the CLI
// can always give it back), audited, and warned about; with another admin
// left there is no warning.
func TestCLILastAdmin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{{"user", "add", "ann", "--admin"}, {"user", "add", "bob", "--admin"}} {
		if _, _, err := runCLI(t, nil, "long-password-1\n", append(args, "--data", dir)...); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
	}
	const warning = "no account is an admin now; securechat user role NAME admin makes one"
	steps := []struct {
		args []string
		warn bool
	}{
		{[]string{"user", "role", "bob", "member"}, false}, // ann is still an admin
		{[]string{"user", "role", "ann", "member"}, true},  // the last one
		{[]string{"user", "role", "ann", "admin"}, false},
		{[]string{"user", "delete", "ann", "--yes"}, true},
	}
	for _, st := range steps {
		out, errOut, err := runCLI(t, nil, "", append(st.args, "--data", dir)...)
		if err != nil || out == "" || strings.Contains(errOut, warning) != st.warn {
			t.Errorf("%q: %q, stderr %q, %v; want success, warning %v", st.args, out, errOut, err, st.warn)
		}
	}
	out, _, err := runCLI(t, nil, "", "audit", "--user", "ann", "--data", dir)
	if err != nil || strings.Count(out, "\trole_changed\tcli\tann\tcommand line\t\tmember") != 1 {
		t.Errorf("ann's audit log: %v\n%s\nwant one role change to member", err, out)
	}
}
