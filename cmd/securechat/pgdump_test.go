package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// pgTool finds a PostgreSQL client program (pg_dump, pg_restore): Debian
// keeps them beside the server in /usr/lib/postgresql/<version>/bin (the
// last in name order first), else on PATH. Missing: the test is skipped, as
// pgtest skips without a server, unless CI is set.
func pgTool(t *testing.T, name string) string {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	slices.Reverse(found)
	if p, err := exec.LookPath(name); err == nil {
		found = append(found, p)
	}
	for _, p := range found {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found (install the Debian package postgresql)", name)
	}
	t.Skipf("skipping: %s not found (install the Debian package postgresql)", name)
	return ""
}

// The PostgreSQL backup of docs/DEPLOY.md, as written there: pg_dump of a
// serving deployment, pg_restore into a fresh database, and a server on it
// has the accounts and every message, and goes on numbering after them.
func TestPostgresDumpRestore(t *testing.T) {
	src := postgresURL(t)
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	s := startServer(t, "", "--database-url", src)
	s.addUser("alice", pw)
	c := s.dialBearer(s.token("alice", pw))
	c.until("joined", inRoom("general"))
	var sent []int64
	for _, text := range []string{"one", "two", "three"} {
		c.send(map[string]any{"type": "send", "room": "general", "text": text, "ref": text})
		f := c.until("message", func(f map[string]any) bool { return f["ref"] == text })
		sent = append(sent, int64(f["id"].(float64)))
	}

	// While the server runs: pg_dump reads one snapshot.
	dump := filepath.Join(t.TempDir(), "securechat.dump")
	if out, err := exec.Command(pgDump, "--format=custom", "--no-owner", "--file", dump, "--dbname", src).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	s.Stop()
	dst := postgresURL(t)
	if out, err := exec.Command(pgRestore, "--no-owner", "--exit-on-error", "--dbname", dst, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}

	r := startServer(t, "", "--database-url", dst)
	got := replayGeneral(t, r, "alice")
	if !slices.Equal(got, sent) {
		t.Fatalf("restored server replays %v; want %v", got, sent)
	}
	c = r.dialBearer(r.token("alice", pw))
	c.until("joined", inRoom("general"))
	c.send(map[string]any{"type": "send", "room": "general", "text": "after", "ref": "after"})
	if f := c.until("message", func(f map[string]any) bool { return f["ref"] == "after" }); int64(f["id"].(float64)) <= sent[2] {
		t.Errorf("first message after the restore has id %v; want above %d (the sequence restored)", f["id"], sent[2])
	}
}
