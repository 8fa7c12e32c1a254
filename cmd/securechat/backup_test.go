package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"securechat/app/tokens"
)

// acks collects the ids of acknowledged messages from several senders.
type acks struct {
	mu  sync.Mutex
	ids []int64
}

func (a *acks) add(id int64) {
	a.mu.Lock()
	a.ids = append(a.ids, id)
	a.mu.Unlock()
}

func (a *acks) snapshot() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int64(nil), a.ids...)
}

// waitAcks polls until at least n messages are acknowledged.
func (a *acks) waitAcks(t *testing.T, n int) []int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := a.snapshot()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages acknowledged; want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sendUntilStopped sends to general over conn, one message at a time, each
// after the previous one's acknowledgement (the sender's copy with its ref),
// until stop is closed. It runs in its own goroutine: no t.Fatal.
func sendUntilStopped(conn *websocket.Conn, who string, stop <-chan struct{}, got *acks) error {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		ref := fmt.Sprintf("%s-%d", who, i)
		if err := conn.WriteJSON(map[string]any{"type": "send", "room": "general", "text": ref, "ref": ref}); err != nil {
			return fmt.Errorf("%s: send: %w", who, err)
		}
	wait:
		for {
			conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, data, err := conn.ReadMessage()
			if err != nil {
				return fmt.Errorf("%s: waiting for %s: %w", who, ref, err)
			}
			for _, line := range strings.Split(string(data), "\n") {
				var f map[string]any
				if err := json.Unmarshal([]byte(line), &f); err != nil {
					return fmt.Errorf("%s: bad frame %q", who, line)
				}
				if f["type"] == "error" && f["ref"] == ref {
					return fmt.Errorf("%s: %s refused: %v", who, ref, f)
				}
				if f["type"] == "message" && f["ref"] == ref {
					got.add(int64(f["id"].(float64)))
					break wait
				}
			}
		}
	}
}

// replayGeneral joins general from the start on a new socket and returns
// every message id the server replays, in order.
func replayGeneral(t *testing.T, s *testServer, user string) []int64 {
	t.Helper()
	c := s.dialBearer(s.token(user, pw))
	c.until("joined", inRoom("general"))
	c.send(map[string]any{"type": "join", "room": "general", "since": 0})
	var ids []int64
	for {
		f := c.next()
		if f["type"] == "joined" && f["room"] == "general" {
			return ids
		}
		if f["type"] == "message" && f["room"] == "general" {
			ids = append(ids, int64(f["id"].(float64)))
		}
	}
}

// A backup taken while several clients send holds every message
// acknowledged before it began, passes the integrity check, and restores
// into a folder a new server then serves; the token keys stay out of it.
func TestBackupWhileSending(t *testing.T) {
	s := startServer(t, "", "--message-rate", "1000/1s:1000")
	const senders = 4
	stop := make(chan struct{})
	errs := make(chan error, senders)
	var got acks
	var wg sync.WaitGroup
	// Every account first: the CLI's write waits for the server's (at most
	// busy_timeout), and senders sending flat out can hold it off that long.
	for i := range senders {
		s.addUser(fmt.Sprintf("sender%d", i), pw)
	}
	for i := range senders {
		name := fmt.Sprintf("sender%d", i)
		c := s.dialBearer(s.token(name, pw))
		c.until("joined", inRoom("general"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sendUntilStopped(c.conn, name, stop, &got); err != nil {
				errs <- err
			}
		}()
	}
	stopSenders := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer stopSenders()

	before := got.waitAcks(t, 40)
	file := filepath.Join(t.TempDir(), "backup.db")
	out, err := s.cli("", "backup", file)
	if err != nil {
		t.Fatalf("backup: %v (%s)", err, out)
	}
	// Sending went on beside the backup, and after it.
	got.waitAcks(t, len(before)+20)
	stopSenders()
	close(errs)
	for err := range errs {
		t.Errorf("sender: %v", err)
	}
	m := regexp.MustCompile(`integrity ok, (\d+) messages`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("backup said %q; want the integrity check and a count", out)
	}
	if n, _ := strconv.Atoi(m[1]); n < len(before) {
		t.Errorf("backup holds %d messages; %d were acknowledged before it began", n, len(before))
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v; want 0600", err, fi.Mode())
	}

	// The keys are not in it, nor beside it.
	keys, err := tokens.LoadKeys("", s.Data)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(file)
	if strings.Contains(string(b), keys[0].String()) {
		t.Errorf("the backup holds the token key")
	}
	if _, err := os.Stat(file + ".keys"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("keys beside a backup made without --with-keys: %v", err)
	}

	// The live folder is refused while the server holds it, even with --force.
	for _, force := range []string{"--force=false", "--force"} {
		if out, _, err := runCLI(t, nil, "", force, "restore", file, "--data", s.Data); err == nil || !strings.Contains(err.Error(), "stop it first") {
			t.Errorf("restore %s under the running server: %v (%s); want a refusal", force, err, out)
		}
	}

	// Restored into a new folder (flags after the argument), a server there
	// has every message acknowledged before the backup, once each.
	dir := filepath.Join(t.TempDir(), "restored")
	if out, _, err := runCLI(t, nil, "", "restore", file, "--data", dir); err != nil || !strings.Contains(out, "integrity ok, "+m[1]+" messages") {
		t.Fatalf("restore: %v (%s)", err, out)
	}
	oldToken := s.token("sender0", pw)
	s.Stop()
	// With the server stopped, its database is still refused without --force.
	if out, _, err := runCLI(t, nil, "", "restore", file, "--data", s.Data); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore over a database: %v (%s); want a refusal naming --force", err, out)
	}
	r := startServer(t, dir)
	ids := replayGeneral(t, r, "sender0")
	seen := map[int64]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("message %d replayed twice", id)
		}
		seen[id] = true
	}
	for _, id := range before {
		if !seen[id] {
			t.Errorf("message %d, acknowledged before the backup, is not on the restored server", id)
		}
	}
	if strconv.Itoa(len(ids)) != m[1] {
		t.Errorf("restored server replays %d messages; the backup said %s", len(ids), m[1])
	}
	// Without the keys, the old server's tokens are worthless here.
	if _, resp, err := r.dial("/ws", http.Header{"Authorization": {"Bearer " + oldToken}}); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a token of the backed-up server on the restored one: %v; want 401", err)
	}
}

// With --with-keys the keys go beside the backup and come back with the
// restore: sessions of the old server go on.
func TestBackupWithKeys(t *testing.T) {
	s := startServer(t, "")
	s.addUser("alice", pw)
	tok := s.token("alice", pw)
	file := filepath.Join(t.TempDir(), "b.db")
	// The flags before the command's argument.
	if out, err := s.cli("", "backup", "--with-keys", file); err != nil || !strings.Contains(out, file+".keys") {
		t.Fatalf("backup --with-keys: %v (%s)", err, out)
	}
	if fi, err := os.Stat(file + ".keys"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys file: %v", err)
	}
	// A second backup to the same name is refused; --force replaces it.
	if _, err := s.cli("", "backup", file); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("backup over an existing file: %v; want a refusal naming --force", err)
	}
	if _, err := s.cli("", "backup", file, "--with-keys", "--force"); err != nil {
		t.Errorf("backup --force: %v", err)
	}
	dir := t.TempDir()
	if out, _, err := runCLI(t, nil, "", "--data", dir, "restore", file); err != nil || !strings.Contains(out, "token keys restored") {
		t.Fatalf("restore: %v (%s)", err, out)
	}
	s.Stop()
	r := startServer(t, dir)
	c := r.dialBearer(tok)
	c.until("joined", inRoom("general"))
}
