package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const nginxPath = "/usr/sbin/nginx"

// requireNginx skips a test when Debian's nginx is missing, except under CI,
// which installs it (.ci/run).
func requireNginx(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(nginxPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("no nginx at %s (install the nginx package): %v", nginxPath, err)
		}
		t.Fatalf("CI is set but there is no nginx at %s: %v", nginxPath, err)
	}
}

// deployNginxBlock returns the nginx configuration of docs/DEPLOY.md (its
// first nginx block) for a proxy on listen, with the test's certificate,
// in front of upstream (host:port). Every line it replaces must be there
// exactly as the document has it, so the document is what is tested.
func deployNginxBlock(t *testing.T, listen, certFile, keyFile, upstream string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "DEPLOY.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```nginx\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no nginx block in docs/DEPLOY.md")
	}
	conf := string(m[1])
	for _, r := range []struct {
		re, with string
		min      int
	}{
		{`(?m)^(\s*)listen 443 ssl;$`, "${1}listen " + listen + " ssl;", 1},
		{`(?m)^(\s*)ssl_certificate\s+\S+;$`, "${1}ssl_certificate " + certFile + ";", 1},
		{`(?m)^(\s*)ssl_certificate_key\s+\S+;$`, "${1}ssl_certificate_key " + keyFile + ";", 1},
		{`http://127\.0\.0\.1:8080;`, "http://" + upstream + ";", 2},
	} {
		re := regexp.MustCompile(r.re)
		if n := len(re.FindAllString(conf, -1)); n < r.min || (r.min == 1 && n != 1) {
			t.Fatalf("docs/DEPLOY.md's nginx block has %d lines matching %s, want %d", n, r.re, r.min)
		}
		conf = re.ReplaceAllString(conf, r.with)
	}
	return conf
}

// startNginx runs nginx in the foreground as the current user, everything
// under a temporary prefix, with conf in its http context, and stops it at
// cleanup. It returns once the proxy answers.
func startNginx(t *testing.T, conf, probeURL string, client *http.Client) {
	t.Helper()
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		// Else the workers run as nobody and cannot use the 0700 folder.
		user = "user root;\n"
	}
	main := fmt.Sprintf(`%[2]sworker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/securechat.conf;
}
`, dir, user)
	os.WriteFile(filepath.Join(dir, "securechat.conf"), []byte(conf), 0o600)
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o600)
	cmd := exec.Command(nginxPath, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT) // graceful stop of master and worker
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nnginx error.log:\n%s", out, log)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %v\n%s\n%s", err, out, log)
		default:
		}
		resp, err := client.Get(probeURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not answer %s within 15s: %v", probeURL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNginxInFront runs Debian's nginx with docs/DEPLOY.md's configuration
// in front of a server started with --trusted-proxies 127.0.0.1/32. The test
// talks to nginx from 127.0.0.2, so the address nginx was given differs from
// nginx's own (127.0.0.1) towards the server. Through nginx: the login gets
// the __Host- cookies of https, the chat socket opens with the cookie from
// the public origin, and the server names the client 127.0.0.2 even when the
// client forges X-Forwarded-For. Straight to the server, a forged
// X-Forwarded-For is not believed.
func TestNginxInFront(t *testing.T) {
	requireNginx(t)
	s := startServer(t, "", "--trusted-proxies", "127.0.0.1/32", "--login-limit-addr", "3/1h", "--login-limit-user-addr", "100/1h")
	s.addUser("alice", pw)
	certFile, keyFile, pool := selfSignedCert(t, t.TempDir())

	const client = "127.0.0.2"
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(client)}, Timeout: 5 * time.Second}
	tlsConfig := &tls.Config{RootCAs: pool}
	jar, _ := cookiejar.New(nil)
	httpClient := &http.Client{
		Transport:     &http.Transport{DialContext: dialer.DialContext, TLSClientConfig: tlsConfig},
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	listen := freeAddr(t)
	public := "https://" + listen
	upstream := strings.TrimPrefix(s.URL, "http://")
	startNginx(t, deployNginxBlock(t, listen, certFile, keyFile, upstream), public+"/healthz", httpClient)

	// Log in through nginx like a browser: the CSRF cookie, then the form.
	b := &browser{s: &testServer{t: t, URL: public}, client: httpClient}
	login := b.post("/login", "/login", url.Values{"username": {"alice"}, "password": {pw}})
	if login.StatusCode != http.StatusSeeOther {
		t.Fatalf("login through nginx: %d", login.StatusCode)
	}
	if !strings.Contains(login.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS through nginx over https")
	}
	var session *http.Cookie
	for _, c := range login.Cookies() {
		if c.Name == "__Host-securechat" {
			session = c
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly {
		t.Fatalf("session cookie through nginx: %+v (cookies %v)", session, login.Cookies())
	}
	if home, err := httpClient.Get(public + "/"); err != nil || home.StatusCode != http.StatusOK {
		t.Fatalf("home through nginx with the session: %v %v", err, statusOf(home))
	} else {
		home.Body.Close()
	}

	// The chat socket through nginx, with the cookie, from the public origin;
	// the client's own X-Forwarded-For is to the left of nginx's entry.
	wsDialer := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: dialer.DialContext, TLSClientConfig: tlsConfig}
	conn, resp, err := wsDialer.Dial("wss://"+listen+"/ws", http.Header{
		"Cookie":          {session.Name + "=" + session.Value},
		"Origin":          {public},
		"X-Forwarded-For": {"198.51.100.66"},
	})
	if err != nil {
		t.Fatalf("chat socket through nginx: %v (status %v)", err, statusOf(resp))
	}
	ws := &wsClient{t: t, conn: conn}
	t.Cleanup(func() { conn.Close() })
	if f := ws.next(); f["type"] != "welcome" || f["user"] != "alice" {
		t.Fatalf("first frame through nginx: %v", f)
	}
	ws.send(map[string]any{"type": "send", "room": "general", "text": "through the proxy"})
	ws.until("message", func(f map[string]any) bool { return f["text"] == "through the proxy" })
	if n := len(s.log.matching("msg=connect", "user=alice", "remote="+client)); n != 1 {
		t.Errorf("%d connect lines name %s, want 1:\n%s", n, client, strings.Join(s.log.matching("msg=connect"), "\n"))
	}
	// The sockets' same-origin check wants the public https origin.
	if _, r, err := wsDialer.Dial("wss://"+listen+"/ws", http.Header{"Cookie": {session.Name + "=" + session.Value}, "Origin": {"http://" + listen}}); err == nil || statusOf(r) != http.StatusForbidden {
		t.Errorf("socket from the http origin through nginx: %v %v; want 403", err, statusOf(r))
	}

	// Failed logins through nginx under forged addresses count against the
	// address nginx was given, and the log names it.
	forge := func(i int) http.Header { return http.Header{"X-Forwarded-For": {fmt.Sprintf("198.51.100.%d", 10+i)}} }
	if got := failedTokens(t, httpClient, &testServer{t: t, URL: public}, 4, forge); got[2] != http.StatusBadRequest || got[3] != http.StatusTooManyRequests {
		t.Fatalf("failed logins through nginx under forged addresses: %v; want the 4th refused", got)
	}
	if n := len(s.log.matching(`msg="auth failure"`, "where=token", "remote="+client+" ")); n != 4 {
		t.Errorf("%d auth failure lines name %s, want 4", n, client)
	}

	// Straight to the server from 127.0.0.3 (not a trusted proxy): the forged
	// header is ignored, the limit counts 127.0.0.3.
	direct := from("127.0.0.3")
	if got := failedTokens(t, direct, s, 4, forge); got[2] != http.StatusBadRequest || got[3] != http.StatusTooManyRequests {
		t.Fatalf("failed logins straight to the server under forged addresses: %v; want the 4th refused", got)
	}
	if n := len(s.log.matching(`msg="auth failure"`, "where=token", "remote=127.0.0.3 ")); n != 4 {
		t.Errorf("%d auth failure lines name 127.0.0.3, want 4", n)
	}
	if forged := s.log.matching("remote=198.51.100."); len(forged) != 0 {
		t.Errorf("a forged address was believed: %q", forged)
	}
}
