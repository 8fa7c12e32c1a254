package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"securechat/app/store/postgres/pgtest"
	"securechat/app/tokens"
)

// natsOn starts an in-process NATS server on a loopback port (port 0: any)
// and returns it with its URL.
func natsOn(t *testing.T, port int) (*natsserver.Server, string) {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns, ns.ClientURL()
}

// postgresURL is a new, empty PostgreSQL database for the test.
func postgresURL(t *testing.T) string {
	t.Helper()
	return pgtest.Start(t)
}

// cluster is what every node of a test cluster shares.
type cluster struct {
	t       *testing.T
	natsURL string
	dbURL   string
	env     map[string]string
}

func newCluster(t *testing.T, natsURL, dbURL string) *cluster {
	t.Helper()
	k, err := tokens.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, natsURL: natsURL, dbURL: dbURL, env: map[string]string{"SECURECHAT_TOKEN_KEYS": k.String()}}
}

// node starts a securechat node in this process.
func (c *cluster) node(flags ...string) *testServer {
	c.t.Helper()
	return startServerEnv(c.t, "", c.env, append([]string{"--nats-url", c.natsURL, "--database-url", c.dbURL}, flags...)...)
}

// procNode is a node run as its own process, so a test can SIGKILL it.
type procNode struct {
	URL string
	cmd *exec.Cmd
}

// binary builds securechat for the tests that need it as a separate process.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "securechat")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// procNode starts a node as a child process on a free loopback port.
func (c *cluster) procNode(bin string, flags ...string) *procNode {
	c.t.Helper()
	args := append([]string{"--addr", "127.0.0.1:0", "--data", c.t.TempDir(), "--nats-url", c.natsURL, "--database-url", c.dbURL}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range c.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-lines:
		u := regexp.MustCompile(`https?://\S+`).FindString(line)
		if u == "" {
			c.t.Fatalf("node did not start: %q", line)
		}
		return &procNode{URL: u, cmd: cmd}
	case <-time.After(30 * time.Second):
		c.t.Fatal("node did not start within 30s")
	}
	return nil
}

// kill ends the node with SIGKILL: no shutdown, no close frames.
func (p *procNode) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// asServer lets the harness's socket helpers talk to a process node.
func (p *procNode) asServer(t *testing.T) *testServer {
	return &testServer{t: t, URL: p.URL}
}

// onNode dials /ws on a node with a token and waits for the join of general.
func onNode(t *testing.T, s *testServer, token string) *wsClient {
	t.Helper()
	c := s.dialBearer(token)
	c.until("joined", inRoom("general"))
	return c
}

// presenceIs waits for a presence frame of room listing exactly users.
func presenceIs(c *wsClient, room string, users ...string) {
	c.t.Helper()
	c.until("presence", func(f map[string]any) bool {
		return f["room"] == room && slices.Equal(toStrings(f["users"]), users)
	})
}

func TestClusterFanOutHistoryPresenceRevocation(t *testing.T) {
	_, natsURL := natsOn(t, -1)
	cl := newCluster(t, natsURL, postgresURL(t))
	a, b, c := cl.node(), cl.node(), cl.node()
	for _, u := range []string{"alice", "bob", "carol"} {
		a.addUser(u, pw)
	}
	alice := onNode(t, a, a.token("alice", pw))
	bob := onNode(t, b, b.token("bob", pw))
	carol := onNode(t, c, c.token("carol", pw))

	t.Run("a message on A reaches B and C once", func(t *testing.T) {
		for i := range 3 {
			alice.send(map[string]any{"type": "send", "room": "general", "text": fmt.Sprintf("hello %d", i)})
		}
		alice.send(map[string]any{"type": "send", "room": "general", "text": "end"})
		for _, x := range []*wsClient{alice, bob, carol} {
			var got []string
			for {
				m := x.until("message", nil)
				got = append(got, m["text"].(string))
				if m["text"] == "end" {
					break
				}
			}
			if !slices.Equal(got, []string{"hello 0", "hello 1", "hello 2", "end"}) {
				t.Fatalf("got %q", got)
			}
		}
	})

	t.Run("history and resume on any node", func(t *testing.T) {
		fresh := c.dialBearer(c.token("carol", pw))
		h := fresh.until("history", inRoom("general"))["messages"].([]any)
		if len(h) != 4 {
			t.Fatalf("history on C: %d messages", len(h))
		}
		last := int64(h[3].(map[string]any)["id"].(float64))
		fresh.conn.Close()
		bob.send(map[string]any{"type": "send", "room": "general", "text": "while carol was away"})
		bob.until("message", nil)
		back := b.dialBearer(b.token("carol", pw))
		back.until("joined", inRoom("general"))
		back.send(map[string]any{"type": "join", "room": "general", "since": last})
		if m := back.until("message", nil); m["text"] != "while carol was away" {
			t.Fatalf("resumed on B: %v", m)
		}
	})

	t.Run("presence across nodes lists a user once", func(t *testing.T) {
		tab2 := onNode(t, b, b.token("alice", pw))
		presenceIs(carol, "general", "alice", "bob", "carol")
		tab2.conn.Close()
		// alice is still on A: the list does not change, so a later presence
		// change (dave arriving) must still include her.
		a.addUser("dave", pw)
		onNode(t, b, b.token("dave", pw))
		presenceIs(carol, "general", "alice", "bob", "carol", "dave")
	})

	t.Run("logout on A closes the session's socket on B", func(t *testing.T) {
		br := a.newBrowser()
		br.login("alice", pw)
		conn, _, err := b.dial("/ws", http.Header{"Cookie": {"securechat=" + br.sessionCookie()}, "Origin": {b.URL}})
		if err != nil {
			t.Fatal(err)
		}
		sock := &wsClient{t: t, conn: conn}
		sock.until("joined", nil)
		br.post("/logout", "/", nil)
		start := time.Now()
		if code, _ := sock.closeCode(5 * time.Second); code != 4401 || time.Since(start) > time.Second {
			t.Fatalf("close %d after %v, want 4401 within 1s", code, time.Since(start))
		}
	})

	t.Run("user deleted through the CLI is closed on every node", func(t *testing.T) {
		onA := onNode(t, a, a.token("carol", pw))
		onC := onNode(t, c, c.token("carol", pw))
		if out, err := b.cli("", "user", "delete", "carol"); err != nil {
			t.Fatalf("delete: %v %s", err, out)
		}
		start := time.Now()
		for _, x := range []*wsClient{onA, onC} {
			if code, _ := x.closeCode(5 * time.Second); code != 4401 || time.Since(start) > time.Second {
				t.Fatalf("close %d after %v", code, time.Since(start))
			}
		}
	})
}

// TestClusterNodeKilled kills a node with SIGKILL while its users chat: they
// reconnect to another node and resume without loss, and presence drops the
// dead node's users within a few seconds.
func TestClusterNodeKilled(t *testing.T) {
	_, natsURL := natsOn(t, -1)
	cl := newCluster(t, natsURL, postgresURL(t))
	a := cl.node(unlimited...)
	doomed := cl.procNode(binary(t), unlimited...)
	d := doomed.asServer(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		a.addUser(u, pw)
	}
	alice := onNode(t, a, a.token("alice", pw))
	bob := onNode(t, d, d.token("bob", pw))
	onNode(t, d, d.token("carol", pw))
	presenceIs(alice, "general", "alice", "bob", "carol")

	for i := range 5 {
		alice.send(map[string]any{"type": "send", "room": "general", "text": fmt.Sprintf("before %d", i)})
	}
	var last int64
	for range 5 {
		last = int64(bob.until("message", nil)["id"].(float64))
	}
	bob.send(map[string]any{"type": "send", "room": "general", "text": "bob's last word"})
	bob.until("message", func(f map[string]any) bool { return f["text"] == "bob's last word" })
	doomed.kill()

	// Alice keeps talking while bob is between nodes.
	for i := range 5 {
		alice.send(map[string]any{"type": "send", "room": "general", "text": fmt.Sprintf("after %d", i)})
	}
	back := a.dialBearer(a.token("bob", pw))
	back.until("joined", inRoom("general"))
	back.send(map[string]any{"type": "join", "room": "general", "since": last})
	var got []string
	for len(got) < 6 {
		m := back.until("message", nil)
		got = append(got, m["text"].(string))
	}
	want := []string{"bob's last word", "after 0", "after 1", "after 2", "after 3", "after 4"}
	if !slices.Equal(got, want) {
		t.Fatalf("bob resumed on another node with %q, want %q", got, want)
	}
	// carol never came back: she drops out of presence once her node's
	// heartbeats stop.
	start := time.Now()
	for {
		f, err := alice.read(15 * time.Second)
		if err != nil {
			t.Fatalf("carol still present %v after her node died: %v", time.Since(start), err)
		}
		if f["type"] == "presence" && slices.Equal(toStrings(f["users"]), []string{"alice", "bob"}) {
			break
		}
	}
	t.Logf("the dead node's users left presence after %v", time.Since(start))
}

// TestClusterNATSRestart stops NATS and starts it again: fan-out recovers, and
// messages sent while it was down reach the other node's members.
func TestClusterNATSRestart(t *testing.T) {
	addr := freeAddr(t)
	_, portText, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(portText)
	ns, natsURL := natsOn(t, port)
	cl := newCluster(t, natsURL, postgresURL(t))
	a, b := cl.node(), cl.node()
	a.addUser("alice", pw)
	a.addUser("bob", pw)
	alice := onNode(t, a, a.token("alice", pw))
	bob := onNode(t, b, b.token("bob", pw))
	alice.send(map[string]any{"type": "send", "room": "general", "text": "before"})
	bob.until("message", nil)

	ns.Shutdown()
	ns.WaitForShutdown()
	alice.send(map[string]any{"type": "send", "room": "general", "text": "during the outage"})
	alice.until("message", nil) // stored and acknowledged on A
	natsOn(t, port)

	if m := bob.until("message", nil); m["text"] != "during the outage" {
		t.Fatalf("bob got %v", m)
	}
	alice.send(map[string]any{"type": "send", "room": "general", "text": "after"})
	if m := bob.until("message", nil); m["text"] != "after" {
		t.Fatalf("bob got %v", m)
	}
}

// TestClusterPostgresConnectionsCut cuts every connection the nodes hold to
// PostgreSQL, as a restart or a network blip would: sends around it are either
// acknowledged and kept, or answered with an error; the nodes reconnect by
// themselves and the chat goes on.
func TestClusterPostgresConnectionsCut(t *testing.T) {
	_, natsURL := natsOn(t, -1)
	dsn := postgresURL(t)
	cl := newCluster(t, natsURL, dsn)
	a, b := cl.node(unlimited...), cl.node(unlimited...)
	a.addUser("alice", pw)
	a.addUser("bob", pw)
	alice := onNode(t, a, a.token("alice", pw))
	bob := onNode(t, b, b.token("bob", pw))

	admin, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	cut := func() {
		t.Helper()
		_, err := admin.Exec(context.Background(),
			`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
		if err != nil {
			t.Fatal(err)
		}
	}
	acked := map[string]bool{}
	for i := range 20 {
		if i == 5 || i == 12 {
			cut()
		}
		text := fmt.Sprintf("m%02d", i)
		alice.send(map[string]any{"type": "send", "room": "general", "text": text})
		for {
			f := alice.next()
			if f["type"] == "message" && f["text"] == text {
				acked[text] = true
				break
			}
			if f["type"] == "error" && f["code"] == "unavailable" {
				break
			}
		}
	}
	if len(acked) < 15 {
		t.Fatalf("only %d of 20 sends acknowledged around two cuts", len(acked))
	}
	// Every acknowledged message reached bob on the other node, and is in the history.
	alice.send(map[string]any{"type": "send", "room": "general", "text": "end"})
	got := map[string]bool{}
	for {
		m := bob.until("message", nil)
		if m["text"] == "end" {
			break
		}
		got[m["text"].(string)] = true
	}
	// A request that meets a connection cut underneath is answered 503 and
	// works when tried again.
	var tok string
	for try := 0; tok == "" && try < 10; try++ {
		resp, err := http.PostForm(b.URL+"/token", url.Values{"username": {"bob"}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("token after the cuts: %d", resp.StatusCode)
		}
		tok = body.AccessToken
	}
	fresh := b.dialBearer(tok)
	hist := map[string]bool{}
	for _, m := range fresh.until("history", inRoom("general"))["messages"].([]any) {
		hist[m.(map[string]any)["text"].(string)] = true
	}
	for text := range acked {
		if !got[text] || !hist[text] {
			t.Errorf("acknowledged %s: delivered on B %v, in history %v", text, got[text], hist[text])
		}
	}
	t.Logf("%d of 20 acknowledged around the cuts", len(acked))
}
