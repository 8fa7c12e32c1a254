package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// slowbody is issue 11's second attack: one address opens as many
// connections as it can, each a POST that declares a body it never finishes,
// and holds them; meanwhile a bystander from another address asks for
// /healthz and logs in, each time on a new connection (a kept-alive one would
// not notice a server that can no longer accept).
const (
	// attackWriteWait bounds writing one slow request's head and first bytes.
	attackWriteWait = 5 * time.Second
	// fdEvery is how often the server's open files are counted.
	fdEvery = 500 * time.Millisecond
)

// slowbodyResult is what `slowbody` measured.
type slowbodyResult struct {
	From            string         `json:"from"`
	ProbeFrom       string         `json:"probe_from"`
	Asked           int            `json:"asked"`
	Tried           int            `json:"tried"` // asked, capped by this process's open-file limit
	FileLimit       uint64         `json:"file_limit,omitempty"`
	Connected       int            `json:"connected"`         // TCP connected and the request's head written
	Refused         int            `json:"refused"`           // the connection or the write failed
	NotTried        int            `json:"not_tried"`         // -ramp ended first
	ClosedByServer  int            `json:"closed_by_server"`  // connected, then closed by the server before the end
	HeldToEnd       int            `json:"held_to_end"`       // still open when the run ended
	PeakHeld        int64          `json:"peak_held"`         // open at once, at most
	Answers         map[string]int `json:"answers,omitempty"` // status the server sent before closing, "none" for a bare close
	KeptFor         latencySummary `json:"kept_for"`          // connect to the server's close, for those it closed
	RampSeconds     float64        `json:"ramp_seconds"`
	HeldSeconds     float64        `json:"held_seconds"`
	RefusedErrors   []string       `json:"refused_errors,omitempty"`
	ServerFilesPeak int            `json:"server_files_peak,omitempty"`
	Healthz         *probeResult   `json:"healthz"`
	Token           *probeResult   `json:"token"`
	Targets         []targetCheck  `json:"targets"`
}

// slowConn is one attacking connection; its reader goroutine notices the
// server closing it.
type slowConn struct {
	conn     net.Conn
	opened   time.Time
	closing  atomic.Bool // the tool is closing it
	done     chan struct{}
	closedAt time.Time // set by the reader when the server closed it
	answer   string    // the status code the server sent, if any
}

func runSlowbody(ctx context.Context, o *options, log io.Writer) (*slowbodyResult, error) {
	if err := ensureUsers(ctx, o, log); err != nil {
		return nil, err
	}
	res := &slowbodyResult{From: o.from.String(), ProbeFrom: o.probeFrom.String(), Asked: o.sockets, Tried: o.sockets}
	if limit, err := raiseFileLimit(); err == nil && limit > fileReserve {
		res.FileLimit = limit
		res.Tried = min(o.sockets, int(limit-fileReserve))
	}
	probeIP := o.probeFrom.at(0)
	healthClient := clientFrom(probeIP, false, probeTimeout, nil)
	tokenClient := clientFrom(probeIP, false, probeTimeout, nil)
	user := o.userName(0)
	if err := checkBystander(ctx, tokenClient, o); err != nil {
		return nil, err
	}

	fmt.Fprintf(log, "holding up to %d slow bodies (%d of %d bytes to %s) from %s; probing from %s every %v\n",
		res.Tried, o.bodyBytes, o.declared, o.attackPath, o.from.String(), o.probeFrom.String(), o.every)
	health := startProbe(ctx, "GET /healthz", o.every, http.StatusOK, func(ctx context.Context) (answer, error) {
		return get(ctx, healthClient, o.base, "/healthz")
	})
	token := startProbe(ctx, "POST /token", o.every, http.StatusOK, func(ctx context.Context) (answer, error) {
		return tokenAttempt(ctx, tokenClient, o.base, user, o.password)
	})
	files := startFDSampler(o.pid)

	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		o.attackPath, o.base.Host, o.declared, strings.Repeat("a", o.bodyBytes))
	conns := make([]*slowConn, res.Tried)
	var held, peak, failed atomic.Int64
	errs := newErrorTally()
	stopProgress := progress(log, func() string {
		return fmt.Sprintf("holding %d (peak %d, %d refused); /healthz %s",
			held.Load(), peak.Load(), failed.Load(), formatCounts(health.counts.snapshot()))
	})

	rampCtx, endRamp := context.WithTimeout(ctx, o.ramp)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(o.concurrency, res.Tried) {
		wg.Go(func() {
			for rampCtx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				c, err := openSlow(rampCtx, o.from.at(i), o.base.Host, head)
				if err != nil {
					if rampCtx.Err() == nil {
						failed.Add(1)
						errs.add(err)
					}
					continue
				}
				conns[i] = c
				storeMax(&peak, held.Add(1))
				go c.read(&held)
			}
		})
	}
	wg.Wait()
	endRamp()
	res.RampSeconds = round2(time.Since(start).Seconds())
	fmt.Fprintf(log, "opened for %.1fs: holding %d; holding for %v\n", res.RampSeconds, held.Load(), o.hold)
	holdStart := time.Now()
	sleepCtx(ctx, o.hold)
	res.HeldSeconds = round2(time.Since(holdStart).Seconds())
	res.Healthz, res.Token = health.end(), token.end()
	res.ServerFilesPeak = files.end()
	stopProgress()

	end := time.Now()
	for _, c := range conns {
		if c != nil {
			c.closing.Store(true)
			c.conn.Close()
		}
	}
	var kept histogram
	answers := newOutcomes()
	for _, c := range conns {
		if c == nil {
			continue
		}
		<-c.done
		res.Connected++
		if c.closedAt.IsZero() || c.closedAt.After(end) {
			res.HeldToEnd++
			continue
		}
		res.ClosedByServer++
		kept.record(int64(c.closedAt.Sub(c.opened)))
		answers.add(c.answer)
	}
	res.Refused = int(failed.Load())
	res.NotTried = res.Tried - res.Connected - res.Refused
	res.RefusedErrors = errs.list()
	res.PeakHeld = peak.Load()
	res.KeptFor = kept.summary()
	if res.ClosedByServer > 0 {
		res.Answers = answers.snapshot()
	}
	res.Targets = []targetCheck{latencyTarget(res.Healthz, 200*time.Millisecond), latencyTarget(res.Token, 200*time.Millisecond)}
	return res, ctx.Err()
}

// openSlow connects from ip and writes head: a request whose body will
// never be finished.
func openSlow(ctx context.Context, ip net.IP, host, head string) (*slowConn, error) {
	conn, err := dialerFrom(ip).DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	c := &slowConn{conn: conn, opened: time.Now(), done: make(chan struct{})}
	conn.SetWriteDeadline(time.Now().Add(attackWriteWait))
	if _, err := io.WriteString(conn, head); err != nil {
		conn.Close()
		return nil, fmt.Errorf("write the request: %w", err)
	}
	return c, nil
}

// read waits for the server to answer or close, noting when and with what
// status; held counts the connections still open.
func (c *slowConn) read(held *atomic.Int64) {
	defer close(c.done)
	buf := make([]byte, 256)
	var first []byte
	for {
		n, err := c.conn.Read(buf)
		if len(first) < 16 {
			first = append(first, buf[:n]...)
		}
		if err != nil {
			break
		}
	}
	held.Add(-1)
	if !c.closing.Load() {
		c.closedAt = time.Now()
		c.answer = statusOf(first)
	}
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// statusOf reads the status code from the start of an HTTP answer, "none"
// when the server closed without one.
func statusOf(head []byte) string {
	f := strings.Fields(string(head))
	if len(f) >= 2 && strings.HasPrefix(f[0], "HTTP/") && len(f[1]) == 3 {
		return f[1]
	}
	return "none"
}

// fdSampler counts the server's open files (/proc/PID/fd) for their peak.
type fdSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak int
}

func startFDSampler(pid int) *fdSampler {
	s := &fdSampler{done: make(chan struct{})}
	if pid == 0 {
		return s
	}
	s.wg.Go(func() {
		t := time.NewTicker(fdEvery)
		defer t.Stop()
		for {
			if n, err := countFiles(pid); err == nil {
				s.peak = max(s.peak, n)
			}
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	})
	return s
}

func (s *fdSampler) end() int {
	close(s.done)
	s.wg.Wait()
	return s.peak
}

// countFiles is how many files a process has open.
func countFiles(pid int) (int, error) {
	d, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("count server files: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("count server files: %w", err)
	}
	return len(names), nil
}

func slowbodyVerdict(s *slowbodyResult) []string {
	var p []string
	if s.Connected == 0 {
		p = append(p, "no slow-body connection was made")
	}
	if s.Healthz == nil || s.Healthz.Attempts == 0 || s.Token == nil || s.Token.Attempts == 0 {
		p = append(p, "the bystander made no request")
	}
	return p
}

func printSlowbody(w io.Writer, s *slowbodyResult) {
	capped := ""
	if s.Tried < s.Asked {
		capped = fmt.Sprintf(" (asked %d; this process may open %d files)", s.Asked, s.FileLimit)
	}
	fmt.Fprintf(w, "attacker       %s: %d%s to open in %.1fs: %d connected, %d refused, %d not tried (-ramp ended); peak %d open at once\n",
		s.From, s.Tried, capped, s.RampSeconds, s.Connected, s.Refused, s.NotTried, s.PeakHeld)
	for _, e := range s.RefusedErrors {
		fmt.Fprintf(w, "  refused      %s\n", e)
	}
	fmt.Fprintf(w, "server kept    %d closed by the server (answers: %s), %d held to the end (%.1fs after the last opened)\n",
		s.ClosedByServer, formatCounts(s.Answers), s.HeldToEnd, s.HeldSeconds)
	if s.ClosedByServer > 0 {
		printLatency(w, "  kept for", s.KeptFor)
	}
	if s.ServerFilesPeak > 0 {
		fmt.Fprintf(w, "server files   %d open at the peak\n", s.ServerFilesPeak)
	}
	fmt.Fprintf(w, "bystander      from %s, a new connection each time\n", s.ProbeFrom)
	printProbe(w, s.Healthz)
	printProbe(w, s.Token)
	printTargets(w, s.Targets)
}
