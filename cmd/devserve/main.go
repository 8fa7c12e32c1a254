// Command devserve is the command `task dev` gives templ's watch mode: it
// builds the server and runs it, and when the build fails (or the server exits
// on its own) it answers on the server's address with a page showing why.
//
// Why a page: templ's proxy retries a refused connection 20 times, each delay
// half as long again as the one before (about 11 minutes in all), so with
// nothing listening a compile error looks like a hung browser. The page
// answers at once; templ's proxy inserts its reload script into it, and the
// next edit that builds restarts devserve and reloads the browser.
//
//	devserve [-addr host:port] [-pkg ./cmd/securechat] [-o tmp/devserve/securechat] [-- program flags]
//	devserve -free host:port,host:port
//
// With -free it only checks that each address can be listened on and says
// which cannot: templ logs a proxy that cannot listen and runs on without it,
// so `task dev` checks its ports first.
//
// Development only: nothing imports this package and `task build` builds
// ./cmd/securechat alone.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// tailBytes is how much of the server's last output the exit page shows: the
// panic or the error it printed, not its whole log.
const tailBytes = 8 << 10

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "devserve:", err)
		os.Exit(1)
	}
}

// run is main without the process. It returns when ctx ends (templ restarts
// the command on every change) or when the server exits cleanly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devserve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "localhost:8080", "the server's address, where the error page is served")
	pkg := fs.String("pkg", "./cmd/securechat", "the package to build and run")
	out := fs.String("o", filepath.Join("tmp", "devserve", "securechat"), "where to write the binary (overwritten by each build, so restarts leave nothing behind)")
	free := fs.String("free", "", "only check that these comma-separated addresses can be listened on, then exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *free != "" {
		return checkFree(strings.Split(*free, ","))
	}

	start := time.Now()
	fmt.Fprintf(stderr, "devserve: building %s\n", *pkg)
	output, err := build(ctx, *pkg, *out)
	if ctx.Err() != nil {
		return nil // restarted by a newer change while building
	}
	if err != nil {
		fmt.Fprintf(stderr, "devserve: build failed after %s; the errors are on http://%s until the next change\n%s",
			time.Since(start).Round(100*time.Millisecond), *addr, output)
		return serveProblem(ctx, *addr, problem{Title: "build failed", Detail: err.Error(), Output: string(output)})
	}
	fmt.Fprintf(stderr, "devserve: built in %s\n", time.Since(start).Round(100*time.Millisecond))
	return runProgram(ctx, *out, fs.Args(), *addr, stdout, stderr)
}

// build compiles pkg into out and returns the compiler's combined output.
func build(ctx context.Context, pkg, out string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, fmt.Errorf("make the build folder: %w", err)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", out, err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", abs, pkg)
	output, err := cmd.CombinedOutput()
	if err != nil {
		return output, fmt.Errorf("go build %s: %w", pkg, err)
	}
	return output, nil
}

// runProgram runs the built binary until ctx ends or it exits. An exit that
// nobody asked for is served as a page, like a build failure, with the end of
// what the program printed on its standard error.
func runProgram(ctx context.Context, bin string, args []string, addr string, stdout, stderr io.Writer) error {
	var last tail
	cmd := exec.Command(bin, args...)
	cmd.Stdin = os.Stdin
	cmd.Stdout = stdout
	cmd.Stderr = io.MultiWriter(stderr, &last)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	select {
	case <-ctx.Done():
		// templ signals the whole process group, so the server usually has the
		// interrupt already; this covers devserve being signalled alone.
		_ = cmd.Process.Signal(os.Interrupt)
		<-exited
		return nil
	case err := <-exited:
		if err == nil {
			return nil
		}
		fmt.Fprintf(stderr, "devserve: %s exited (%v); the reason is on http://%s until the next change\n", filepath.Base(bin), err, addr)
		return serveProblem(ctx, addr, problem{
			Title:  filepath.Base(bin) + " exited",
			Detail: err.Error(),
			Output: string(last.buf),
		})
	}
}

// problem is what the page says: what went wrong and the output that shows why.
type problem struct {
	Title  string
	Detail string
	Output string
}

// serveProblem answers every request on addr with the problem's page until ctx
// ends. The status is 500, not 502: templ's proxy retries a 502.
func serveProblem(ctx context.Context, addr string, p problem) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for the error page: %w", err)
	}
	srv := &http.Server{Handler: problemHandler(p), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve the error page: %w", err)
	}
	return nil
}

// problemPage has a <body> so that templ's proxy can insert its reload script.
var problemPage = template.Must(template.New("problem").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>securechat: {{.Title}}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2rem}pre{background:#f4f4f4;padding:1rem;overflow:auto;white-space:pre-wrap}</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>{{.Detail}}. The page reloads by itself after the next change that builds.</p>
<pre>{{.Output}}</pre>
</body>
</html>
`))

func problemHandler(p problem) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusInternalServerError)
		if r.Method != http.MethodHead {
			_ = problemPage.Execute(w, p)
		}
	})
}

// checkFree listens on each address and closes it again, and names every one
// that cannot be listened on.
func checkFree(addrs []string) error {
	var errs []error
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", strings.TrimSpace(addr))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s cannot be listened on (another server? choose another port): %w", addr, err))
			continue
		}
		_ = ln.Close()
	}
	return errors.Join(errs...)
}

// tail keeps the last tailBytes written to it.
type tail struct{ buf []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailBytes; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}
