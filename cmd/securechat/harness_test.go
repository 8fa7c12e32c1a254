package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"securechat/app/store/postgres/pgtest"
)

// testServer is the real securechat, started through run() on a loopback port
// with its own data folder, as the binary would be.
type testServer struct {
	t      *testing.T
	URL    string // http://127.0.0.1:PORT
	Data   string
	env    map[string]string
	flags  []string // the server's flags, which its CLI commands share (--database-url)
	cancel context.CancelFunc
	done   chan error
	log    *testLog // the server's log lines
}

// startServer runs the server on a free loopback port with data in dir (a new
// temporary folder when dir is ""). Extra flags go before the defaults' end.
func startServer(t *testing.T, dir string, flags ...string) *testServer {
	t.Helper()
	return startServerEnv(t, dir, nil, flags...)
}

// startServerEnv is startServer with SECURECHAT_* environment variables for
// the server and its CLI.
func startServerEnv(t *testing.T, dir string, env map[string]string, flags ...string) *testServer {
	t.Helper()
	return startServerOpts(t, dir, env, options{}, flags...)
}

// startServerClock is startServer on a clock the test moves (see fakeClock).
func startServerClock(t *testing.T, clk clock, flags ...string) *testServer {
	t.Helper()
	return startServerOpts(t, "", nil, options{clock: clk}, flags...)
}

func startServerOpts(t *testing.T, dir string, env map[string]string, opt options, flags ...string) *testServer {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if env == nil {
		env = map[string]string{}
	}
	s := &testServer{t: t, Data: dir, env: env, flags: flags, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	log := newTestLog(t)
	s.log = log
	pr, pw := io.Pipe()
	args := append([]string{"--addr", "127.0.0.1:0", "--data", dir}, flags...)
	go func() {
		err := runWith(ctx, opt, args, s.getenv, strings.NewReader(""), pw, log)
		pw.CloseWithError(io.EOF)
		s.done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		s.cancel = nil
		t.Fatalf("server did not start: %v", <-s.done)
	}
	m := regexp.MustCompile(`(https?://\S+)`).FindString(line)
	if m == "" {
		t.Fatalf("no address in %q", line)
	}
	go io.Copy(io.Discard, pr)
	s.URL = m
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *testServer) getenv(k string) string { return s.env[k] }

// Stop shuts the server down as SIGTERM would and waits for run to return.
func (s *testServer) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("server exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		s.t.Errorf("server did not stop within 15s")
	}
}

// testLog sends the server's log lines to the test log until the test's
// cleanup ends (testing panics on a Log after the test has finished).
type testLog struct {
	t     *testing.T
	mu    sync.Mutex
	done  bool
	lines []string // every line, for tests that check what was logged
}

func newTestLog(t *testing.T) *testLog {
	l := &testLog{t: t}
	t.Cleanup(func() {
		l.mu.Lock()
		l.done = true
		l.mu.Unlock()
	})
	return l
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := strings.TrimRight(string(p), "\n")
	l.lines = append(l.lines, line)
	if !l.done {
		l.t.Log(line)
	}
	return len(p), nil
}

// matching returns the lines logged so far that contain every one of parts.
func (l *testLog) matching(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
next:
	for _, line := range l.lines {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

// cli runs a securechat subcommand against the server's data folder, as an
// operator would in another process, and returns its output.
func (s *testServer) cli(stdin string, args ...string) (string, error) {
	var out strings.Builder
	var shared []string
	for i := 0; i+1 < len(s.flags); i += 2 {
		if s.flags[i] == "--database-url" {
			shared = append(shared, s.flags[i], s.flags[i+1])
		}
	}
	args = append(append([]string{"--data", s.Data}, shared...), args...)
	err := run(context.Background(), args, s.getenv, strings.NewReader(stdin), &out, io.Discard)
	return out.String(), err
}

// addUser creates an account through the CLI.
func (s *testServer) addUser(name, password string) {
	s.t.Helper()
	if out, err := s.cli(password+"\n", "user", "add", name); err != nil {
		s.t.Fatalf("user add %s: %v (%s)", name, err, out)
	}
}

// noRedirect is an HTTP client that reports redirects instead of following them.
func noRedirect(jar http.CookieJar) *http.Client {
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// token gets a bearer token from /token.
func (s *testServer) token(name, password string) string {
	s.t.Helper()
	resp, err := http.PostForm(s.URL+"/token", url.Values{"username": {name}, "password": {password}})
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.AccessToken == "" {
		s.t.Fatalf("token for %s: status %d, err %v", name, resp.StatusCode, err)
	}
	return body.AccessToken
}

// browser is a cookie-keeping client that logs in through the form like a browser.
type browser struct {
	s      *testServer
	client *http.Client
}

func (s *testServer) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{s: s, client: noRedirect(jar)}
}

// csrf fetches a form page and returns its CSRF field value.
func (b *browser) csrf(path string) string {
	b.s.t.Helper()
	resp, err := b.client.Get(b.s.URL + path)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		b.s.t.Fatalf("no CSRF field on %s (status %d)", path, resp.StatusCode)
	}
	return string(m[1])
}

// post submits a form with the CSRF field filled in.
func (b *browser) post(path, formPage string, form url.Values) *http.Response {
	b.s.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", b.csrf(formPage))
	resp, err := b.client.PostForm(b.s.URL+path, form)
	if err != nil {
		b.s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// login logs in through the form and fails the test if it does not succeed.
func (b *browser) login(name, password string) {
	b.s.t.Helper()
	resp := b.post("/login", "/login", url.Values{"username": {name}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		b.s.t.Fatalf("login %s: status %d", name, resp.StatusCode)
	}
}

// sessionCookie returns the browser's session cookie value.
func (b *browser) sessionCookie() string {
	u, _ := url.Parse(b.s.URL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "securechat" {
			return c.Value
		}
	}
	return ""
}

// dial opens /ws (or another socket path) with the given headers.
func (s *testServer) dial(path string, h http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	return d.Dial("ws"+strings.TrimPrefix(s.URL, "http")+path, h)
}

// dialBearer opens /ws with a bearer token and fails the test if it cannot.
func (s *testServer) dialBearer(token string) *wsClient {
	s.t.Helper()
	conn, resp, err := s.dial("/ws", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		s.t.Fatalf("dial: %v (status %d)", err, status)
	}
	c := &wsClient{t: s.t, conn: conn}
	s.t.Cleanup(func() { conn.Close() })
	return c
}

// wsClient reads protocol frames, splitting batched server frames.
type wsClient struct {
	t       *testing.T
	conn    *websocket.Conn
	pending []map[string]any
}

// next returns the next protocol object, waiting up to 5 s.
func (c *wsClient) next() map[string]any {
	c.t.Helper()
	f, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	return f
}

func (c *wsClient) read(wait time.Duration) (map[string]any, error) {
	for len(c.pending) == 0 {
		c.conn.SetReadDeadline(time.Now().Add(wait))
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(data), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				return nil, fmt.Errorf("bad server frame %q: %v", line, err)
			}
			c.pending = append(c.pending, m)
		}
	}
	f := c.pending[0]
	c.pending = c.pending[1:]
	return f, nil
}

// until reads until a frame of type typ (and room, if given) arrives.
func (c *wsClient) until(typ string, match func(map[string]any) bool) map[string]any {
	c.t.Helper()
	for {
		f := c.next()
		if f["type"] == typ && (match == nil || match(f)) {
			return f
		}
	}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// closeCode waits for the server to close the socket and returns the code and
// how long it took.
func (c *wsClient) closeCode(wait time.Duration) (int, time.Duration) {
	c.t.Helper()
	start := time.Now()
	for {
		c.conn.SetReadDeadline(time.Now().Add(wait))
		_, _, err := c.conn.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); ok {
			return ce.Code, time.Since(start)
		}
		c.t.Fatalf("socket ended without a close frame: %v", err)
	}
}

// TestMain shares one throwaway PostgreSQL cluster among the tests that need
// one (started on first use).
// scrape reads one value from the server's /metrics; -1 if it is not there.
func scrape(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Errorf("scrape: %v", err)
		return -1
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m))
}
