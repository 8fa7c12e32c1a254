package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The tests build tiny throwaway modules with the real go command, as `task
// dev` does, and talk to devserve over a real socket.

func TestProblemPage(t *testing.T) {
	tests := []struct {
		name, method string
		p            problem
		want         []string
		wantEmpty    bool
	}{
		{"compiler output is shown and escaped", http.MethodGet,
			problem{Title: "build failed", Detail: "go build: exit status 1", Output: "./main.go:3:1: syntax error near <script>"},
			[]string{"<body>", "build failed", "exit status 1", "syntax error near &lt;script&gt;", "reloads by itself"}, false},
		{"HEAD gets the status without a body", http.MethodHead,
			problem{Title: "build failed", Output: "x"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			problemHandler(tt.p).ServeHTTP(rec, httptest.NewRequest(tt.method, "/chat?room=general", nil))
			// 500, not 502: templ's proxy retries a 502 for minutes.
			if rec.Code != http.StatusInternalServerError {
				t.Errorf("status %d, want 500", rec.Code)
			}
			// text/html, or templ's proxy does not insert its reload script.
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type %q, want text/html", ct)
			}
			body := rec.Body.String()
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
			if tt.wantEmpty && body != "" {
				t.Errorf("HEAD body %q, want none", body)
			}
		})
	}
}

func TestCheckFree(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	freeAddr := freePort(t)

	if err := checkFree([]string{freeAddr}); err != nil {
		t.Errorf("free address %s: %v", freeAddr, err)
	}
	err = checkFree([]string{freeAddr, taken.Addr().String()})
	if err == nil {
		t.Fatalf("taken address %s passed the check", taken.Addr())
	}
	if msg := err.Error(); !strings.Contains(msg, taken.Addr().String()) || strings.Contains(msg, freeAddr) {
		t.Errorf("error %q should name the taken address only", msg)
	}
	// The same check through the flag, as the Taskfile calls it.
	if err := run(context.Background(), []string{"-free", freeAddr + "," + taken.Addr().String()}, io.Discard, io.Discard); err == nil {
		t.Error("-free passed with a taken address")
	}
}

func TestBuildFailureServesCompilerOutput(t *testing.T) {
	module(t, "package main\n\nfunc main() { undefinedThing() }\n")
	addr := freePort(t)
	stop := startRun(t, "-addr", addr, "-pkg", ".", "-o", filepath.Join(t.TempDir(), "prog"))

	status, body := getUntilAnswered(t, addr)
	if status != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", status)
	}
	for _, w := range []string{"build failed", "undefined: undefinedThing"} {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q:\n%s", w, body)
		}
	}
	stop()
}

func TestUnexpectedExitServesItsOutput(t *testing.T) {
	module(t, `package main

import "os"

func main() {
	os.Stderr.WriteString("listen: address already in use\n")
	os.Exit(3)
}
`)
	addr := freePort(t)
	stop := startRun(t, "-addr", addr, "-pkg", ".", "-o", filepath.Join(t.TempDir(), "prog"))

	status, body := getUntilAnswered(t, addr)
	if status != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", status)
	}
	for _, w := range []string{"prog exited", "exit status 3", "listen: address already in use"} {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q:\n%s", w, body)
		}
	}
	stop()
}

func TestGoodBuildRunsProgramWithItsFlags(t *testing.T) {
	module(t, `package main

import (
	"context"
	"net/http"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	srv := &http.Server{Addr: os.Args[2], Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("served with " + os.Args[1]))
	})}
	go func() { <-ctx.Done(); srv.Close() }()
	srv.ListenAndServe()
}
`)
	addr := freePort(t)
	stop := startRun(t, "-addr", addr, "-pkg", ".", "-o", filepath.Join(t.TempDir(), "prog"), "--", "--addr", addr)

	status, body := getUntilAnswered(t, addr)
	if status != http.StatusOK || body != "served with --addr" {
		t.Errorf("got %d %q, want 200 %q", status, body, "served with --addr")
	}
	stop() // fails the test if the program does not stop on interrupt
}

func TestTail(t *testing.T) {
	var tl tail
	tl.Write([]byte(strings.Repeat("a", tailBytes)))
	tl.Write([]byte("the panic"))
	if len(tl.buf) != tailBytes || !strings.HasSuffix(string(tl.buf), "the panic") {
		t.Errorf("kept %d bytes ending %q", len(tl.buf), tl.buf[len(tl.buf)-10:])
	}
}

// module makes a one-file main module in a temporary folder and moves there.
func module(t *testing.T, src string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module prog\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
}

// startRun runs devserve with args; the returned stop ends it and fails the
// test if it does not return, or returns an error.
func startRun(t *testing.T, args ...string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, io.Discard, io.Discard) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("devserve: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("devserve did not stop within a minute")
		}
	}
	t.Cleanup(stop)
	return stop
}

// getUntilAnswered polls addr until something answers (the build comes first)
// and returns the status and body.
func getUntilAnswered(t *testing.T, addr string) (int, string) {
	t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing answered on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
