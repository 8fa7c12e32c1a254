//go:build unix

package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// port only names the socket file (.s.PGSQL.<port>): the server listens on no
// TCP port, and each cluster has a socket directory of its own.
const port = 5432

// Cluster is a running throwaway PostgreSQL server. Its methods are safe for
// concurrent use.
type Cluster struct {
	dir     string // everything: data, socket, log; removed by Stop
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the server process has exited
	waitErr error         // how it exited; read after exited is closed

	mu    sync.Mutex // guards admin and next
	admin *pgx.Conn  // to the postgres database, for CREATE and DROP DATABASE
	next  int

	stopOnce sync.Once
	stopErr  error
}

// StartCluster initializes a cluster in a new temporary directory and starts
// its server, listening only on a unix socket in that directory, with
// durability off (fsync, full-page writes, synchronous commit): its data need
// not survive a crash. ctx bounds the start. The error wraps ErrUnavailable if
// PostgreSQL cannot be run here. The caller must call Stop.
func StartCluster(ctx context.Context) (*Cluster, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := makeDir(cred)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, logPath: filepath.Join(dir, "postgres.log"), exited: make(chan struct{})}
	if err := c.start(ctx, bin, cred); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, bin string, cred *syscall.Credential) error {
	data := filepath.Join(c.dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C",
		"--no-sync", "--no-instructions")
	initdb.Dir = c.dir
	initdb.Env = serverEnv()
	initdb.SysProcAttr = sysProcAttr(cred)
	initdb.WaitDelay = 5 * time.Second
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}

	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("create server log: %w", err)
	}
	defer logFile.Close() // the server has its own copy of the descriptor
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-k", c.dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB",
		"-c", "timezone=UTC", "-c", "log_timezone=UTC")
	c.cmd.Dir = c.dir
	c.cmd.Env = serverEnv()
	c.cmd.Stdout = logFile
	c.cmd.Stderr = logFile
	c.cmd.SysProcAttr = sysProcAttr(cred)

	started := make(chan error, 1)
	go func() {
		// Linux sends the parent-death signal (which stops the server if the
		// test process dies without calling Stop) when the thread that started
		// the child exits, not the process. So the starting goroutine keeps its
		// thread locked, and alive, until the server has exited.
		runtime.LockOSThread()
		if err := c.cmd.Start(); err != nil {
			started <- err
			close(c.exited)
			return
		}
		started <- nil
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		c.cmd = nil
		return fmt.Errorf("start postgres: %w", err)
	}
	return c.waitReady(ctx)
}

// waitReady connects as soon as the server accepts connections, and keeps the
// connection for creating databases.
func (c *Cluster) waitReady(ctx context.Context) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attempt, c.DSN("postgres"))
		cancel()
		if err == nil {
			c.admin = conn
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited during start-up (%v):\n%s", c.waitErr, c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections: %w (last: %v):\n%s", ctx.Err(), err, c.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DSN returns the connection string of database name on the cluster.
func (c *Cluster) DSN(name string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", quote(c.dir), port, quote(name))
}

// NewDatabase creates an empty database for t, dropped (with any connections
// still open to it) when t ends, and returns its connection string.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin == nil {
		t.Fatal("pgtest: cluster is stopped")
	}
	c.next++
	name := databaseName(c.next, t.Name())
	if _, err := c.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.admin == nil {
			return // stopped already: the whole cluster is gone
		}
		// FORCE: a test that failed half-way may have left connections open.
		if _, err := c.admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return c.DSN(name)
}

// databaseName names a test's database after the test, for reading the
// server log, within PostgreSQL's 63 bytes.
func databaseName(n int, test string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t%d_", n)
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 63 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Stop shuts the server down and removes its directory. It may be called more
// than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	c.mu.Lock()
	if c.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.admin.Close(ctx)
		cancel()
		c.admin = nil
	}
	c.mu.Unlock()

	var errs []error
	if c.cmd != nil {
		// SIGINT is the fast shutdown (disconnect clients, checkpoint, exit);
		// if that hangs, SIGQUIT is the immediate one, SIGKILL the last resort.
		stopped := false
		for _, step := range []struct {
			sig  os.Signal
			wait time.Duration
		}{{os.Interrupt, 20 * time.Second}, {syscall.SIGQUIT, 5 * time.Second}, {os.Kill, 5 * time.Second}} {
			if err := c.cmd.Process.Signal(step.sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, fmt.Errorf("signal postgres: %w", err))
			}
			select {
			case <-c.exited:
				stopped = true
			case <-time.After(step.wait):
				errs = append(errs, fmt.Errorf("postgres did not stop on %v", step.sig))
				continue
			}
			break
		}
		if !stopped {
			return errors.Join(append(errs, fmt.Errorf("postgres (pid %d) is still running; left %s", c.cmd.Process.Pid, c.dir))...)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove cluster: %w", err))
	}
	return errors.Join(errs...)
}

// logTail is the end of the server log, for errors.
func (c *Cluster) logTail() string {
	f, err := os.Open(c.logPath)
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	defer f.Close()
	const max = 4096
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		f.Seek(fi.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// findBinDir finds the directory holding initdb and postgres.
func findBinDir() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv("PGTEST_BINDIR"); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w: no initdb and postgres in PGTEST_BINDIR=%s", ErrUnavailable, dir)
	}
	// Debian keeps each major version's server out of $PATH.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int {
		va, vb := version(a), version(b)
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("%w: no initdb and postgres in /usr/lib/postgresql/*/bin or on PATH", ErrUnavailable)
}

// serverUser returns whom the server must run as: nil for this process's own
// user, the postgres user when running as root (which PostgreSQL refuses).
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: running as root, and PostgreSQL refuses root: %v", ErrUnavailable, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user: gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// makeDir creates the cluster's directory, owned by the server's user. The
// socket lives in it, so its path must fit in a unix socket address (108
// bytes); and the server's user must be able to reach it. $TMPDIR is used if it
// allows both, /tmp otherwise.
func makeDir(cred *syscall.Credential) (string, error) {
	base := os.TempDir()
	if len(base) > 60 || (cred != nil && !searchable(base, cred)) {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "pgtest-")
	if err != nil {
		return "", fmt.Errorf("create cluster directory: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("give cluster directory to the postgres user: %w", err)
		}
	}
	return dir, nil
}

// searchable reports whether the user in cred may traverse every directory
// down to dir (by its others, group or owner permission bits).
func searchable(dir string, cred *syscall.Credential) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return false
		}
		perm := fi.Mode().Perm()
		ok = perm&0o001 != 0 ||
			st.Gid == cred.Gid && perm&0o010 != 0 ||
			st.Uid == cred.Uid && perm&0o100 != 0
		if !ok {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// serverEnv is this process's environment without the PG* variables, which
// would otherwise point initdb and the server elsewhere (PGDATA, PGPORT…).
func serverEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
}
