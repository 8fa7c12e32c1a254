package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// handshakeTimeout bounds one WebSocket opening handshake, token check included.
	handshakeTimeout = 30 * time.Second
	// closeWait is how long closing waits for the server to answer the close
	// frames before dropping the connections.
	closeWait = 5 * time.Second
	// closeWriteWait bounds writing one close frame.
	closeWriteWait = time.Second
	// progressEvery is how often long phases print progress.
	progressEvery = 2 * time.Second
	// maxErrorKinds is how many distinct error texts a report keeps.
	maxErrorKinds = 8
)

// socketDialer opens chat sockets with a bearer token.
type socketDialer struct {
	ws  websocket.Dialer
	url string
}

func newSocketDialer(o *options) *socketDialer {
	d := &socketDialer{url: socketURL(o.base, o.target.socketPath())}
	d.ws = websocket.Dialer{
		HandshakeTimeout: handshakeTimeout,
		Proxy:            nil, // never through a proxy: the target is this machine
		ReadBufferSize:   4096,
		WriteBufferSize:  1024, // client frames are small; thousands of sockets add up
	}
	if o.spread && spreadsSources(o.base) {
		d.ws.NetDialContext = (&sourceSpreader{}).dialContext
	} else {
		d.ws.NetDialContext = (&netDialer{}).dialContext
	}
	return d
}

// netDialer is a plain bounded TCP dial, for targets other than 127.0.0.1.
type netDialer struct{}

func (netDialer) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	return d.DialContext(ctx, network, addr)
}

// dial opens one socket, sending the token the way scripts do.
func (d *socketDialer) dial(ctx context.Context, token string) (*websocket.Conn, error) {
	h := http.Header{"Authorization": {"Bearer " + token}}
	conn, resp, err := d.ws.DialContext(ctx, d.url, h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("open socket: status %d: %w", resp.StatusCode, err)
		}
		return nil, fmt.Errorf("open socket: %w", err)
	}
	return conn, nil
}

// loadConn is one open socket and what its reader goroutine reports.
type loadConn struct {
	ws      *websocket.Conn
	closing atomic.Bool   // the tool is closing it: an error after this is expected
	done    chan struct{} // closed when the reader returns
	dropped bool          // the socket ended before the tool closed it (read after done)
	code    int           // the close code the server sent, if it closed first
	err     error         // what ended it, if it dropped
}

func newLoadConn(ws *websocket.Conn) *loadConn {
	return &loadConn{ws: ws, done: make(chan struct{})}
}

// read runs the socket's reader until the socket ends, handing every frame
// to onFrame, or only counting frames into count when onFrame is nil. Reading
// continuously matters: a socket that does not read fills its queue on the
// server and is closed with 1013. An onFrame error ends the socket. The
// slice onFrame gets is reused for the next frame.
func (c *loadConn) read(onFrame func([]byte) error, count *atomic.Int64) {
	defer close(c.done)
	var buf bytes.Buffer // one per socket, reused: the tool reads 100,000s of frames a second
	for {
		_, r, err := c.ws.NextReader()
		if err == nil {
			if onFrame == nil {
				_, err = io.Copy(io.Discard, r)
				count.Add(1)
			} else {
				buf.Reset()
				if _, err = buf.ReadFrom(r); err == nil {
					err = onFrame(buf.Bytes())
				}
			}
		}
		if err == nil {
			continue
		}
		if !c.closing.Load() {
			c.dropped = true
			c.err = err
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.code = ce.Code
			}
			c.ws.Close()
		}
		return
	}
}

// abandon drops a socket the run no longer uses, without counting it as
// dropped by the server.
func (c *loadConn) abandon() {
	c.closing.Store(true)
	c.ws.Close()
}

// closeAll closes every socket with a normal close frame, waits up to
// closeWait for the server's answers, then drops what is left.
func closeAll(conns []*loadConn) {
	for _, c := range conns {
		if c == nil {
			continue
		}
		c.closing.Store(true)
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWriteWait))
	}
	deadline := time.NewTimer(closeWait)
	defer deadline.Stop()
	for _, c := range conns {
		if c == nil {
			continue
		}
		select {
		case <-c.done:
		case <-deadline.C:
			deadline.Reset(0) // the rest are dropped at once
		}
		c.ws.Close()
	}
	for _, c := range conns {
		if c != nil {
			<-c.done // the connection is closed, so the reader has returned or is returning
		}
	}
}

// dropStats summarises sockets that ended before the tool closed them.
type dropStats struct {
	Dropped int            `json:"dropped"`
	ByCode  map[string]int `json:"dropped_by_close_code,omitempty"` // "1013": 5; "none" when there was no close frame
	Errors  []string       `json:"drop_errors,omitempty"`
}

// collectDrops reads what the readers reported; every reader has returned.
func collectDrops(conns []*loadConn) dropStats {
	var d dropStats
	errs := newErrorTally()
	for _, c := range conns {
		if c == nil || !c.dropped {
			continue
		}
		d.Dropped++
		if d.ByCode == nil {
			d.ByCode = map[string]int{}
		}
		code := "none"
		if c.code != 0 {
			code = fmt.Sprint(c.code)
		}
		d.ByCode[code]++
		errs.add(c.err)
	}
	d.Errors = errs.list()
	return d
}

// dialStats is how opening the sockets went.
type dialStats struct {
	Attempted     int            `json:"attempted"`
	Opened        int            `json:"opened"`
	Failed        int            `json:"failed"`
	Seconds       float64        `json:"seconds"`
	PerSecond     float64        `json:"handshakes_per_second"`
	Handshake     latencySummary `json:"handshake"`
	FailureErrors []string       `json:"failure_errors,omitempty"`
}

// dialAll opens one socket per token, concurrency at a time, and calls
// onOpen (from the dialing goroutine) for each that opens; conns[i] is nil for
// a socket that failed. A failure does not stop the others: the report counts them.
func dialAll(ctx context.Context, o *options, tokens []string, log io.Writer, onOpen func(i int, ws *websocket.Conn) *loadConn) ([]*loadConn, dialStats) {
	d := newSocketDialer(o)
	conns := make([]*loadConn, len(tokens))
	hist := newShardedHistogram(o.concurrency)
	errs := newErrorTally()
	var opened, failed atomic.Int64

	stopProgress := progress(log, func() string {
		return fmt.Sprintf("dialed %d/%d (%d failed)", opened.Load(), len(tokens), failed.Load())
	})
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range min(o.concurrency, len(tokens)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(tokens) {
					return
				}
				t0 := time.Now()
				ws, err := d.dial(ctx, tokens[i])
				if err != nil {
					failed.Add(1)
					errs.add(err)
					continue
				}
				hist.recordSince(w, t0)
				opened.Add(1)
				conns[i] = onOpen(i, ws)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()

	st := dialStats{
		Attempted:     int(opened.Load() + failed.Load()),
		Opened:        int(opened.Load()),
		Failed:        int(failed.Load()),
		Seconds:       round2(elapsed.Seconds()),
		PerSecond:     rate(float64(opened.Load()), elapsed),
		Handshake:     hist.merged().summary(),
		FailureErrors: errs.list(),
	}
	return conns, st
}

// progress prints line() every progressEvery until the returned stop is called.
func progress(log io.Writer, line func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintln(log, "  "+line())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// errorTally counts distinct error texts, keeping the first maxErrorKinds.
type errorTally struct {
	mu     sync.Mutex
	counts map[string]int
	other  int
}

func newErrorTally() *errorTally { return &errorTally{counts: map[string]int{}} }

func (e *errorTally) add(err error) {
	if err == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := err.Error()
	if _, ok := e.counts[s]; ok || len(e.counts) < maxErrorKinds {
		e.counts[s]++
		return
	}
	e.other++
}

// list is "N× text" per kind, most frequent first.
func (e *errorTally) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	kinds := make([]string, 0, len(e.counts))
	for s := range e.counts {
		kinds = append(kinds, s)
	}
	sort.Slice(kinds, func(i, j int) bool { return e.counts[kinds[i]] > e.counts[kinds[j]] })
	var out []string
	for _, s := range kinds {
		out = append(out, fmt.Sprintf("%d× %s", e.counts[s], s))
	}
	if e.other > 0 {
		out = append(out, fmt.Sprintf("%d× other errors", e.other))
	}
	return out
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
