package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// The reconnect storm (issue 14): sockets held in rooms while a sender in
// each room sends a numbered sequence; the server, which the tool started
// from the command after "--", is stopped with SIGTERM and started again with
// the same command; every socket reconnects, as the page does, at a 503's
// Retry-After (the server's reservation, plus a random share of at most a
// second) or else with full-jitter backoff, and resumes its room with
// join+since. The run reports how long after the new process listened every
// socket had resumed, the gaps and duplicates each socket saw, the messages
// missing at the end, the server's RSS before and after, and the handshakes
// the server refused.

const (
	// serverStartTimeout bounds a server start: its address line and /healthz.
	serverStartTimeout = 60 * time.Second
	// serverStopTimeout bounds its graceful stop (it gives itself 10 s) before it is killed.
	serverStopTimeout = 30 * time.Second
)

// listeningLine is what securechat prints on stdout once it listens.
var listeningLine = regexp.MustCompile(`listening on (https?://\S+)`)

// reconnectResult is what `reconnect` measured.
type reconnectResult struct {
	Sockets      int     `json:"sockets"`
	Restarts     int     `json:"restarts"` // the figures are the last one's
	Rooms        int     `json:"rooms"`
	Users        int     `json:"users"`
	RatePerRoom  float64 `json:"rate_per_room"`
	OpenSeconds  float64 `json:"open_seconds"`  // opening every socket the first time
	StopSeconds  float64 `json:"stop_seconds"`  // SIGTERM to the old process's exit
	StartSeconds float64 `json:"start_seconds"` // the new process's start to its listening
	// ResumeSeconds is from the new process listening to the last socket
	// resumed (its join+since answered); -1 if some never did within -resume-wait.
	ResumeSeconds float64        `json:"resume_seconds"`
	Resume        latencySummary `json:"resume"` // each socket's time from listening to resumed
	NotResumed    int            `json:"not_resumed"`
	Refused       int64          `json:"refused_handshakes"` // 503s, all phases
	RefusedStorm  int64          `json:"refused_handshakes_storm"`
	DialErrors    []string       `json:"dial_errors,omitempty"`
	Reconnects    int64          `json:"reconnects"` // sockets opened after the first time
	AckedBefore   int64          `json:"acked_before_restart"`
	Acked         int64          `json:"acked"`       // numbered messages acknowledged in all rooms, by the end
	Gaps          int64          `json:"gaps"`        // a socket saw a number skipped
	Duplicates    int64          `json:"duplicates"`  // a socket saw a number (or message id) again
	Missing       int64          `json:"missing"`     // acknowledged messages some socket never got
	Unavailable   int64          `json:"unavailable"` // sends refused as the server stopped, sent again
	ErrorFrames   int64          `json:"error_frames"`
	ErrorTexts    []string       `json:"error_frame_texts,omitempty"`
	RSSBeforeKiB  int64          `json:"rss_before_kib"` // the old process, every socket in its room
	RSSAfterKiB   int64          `json:"rss_after_kib"`  // the new process, every socket resumed, after -settle
	RSSChangePct  float64        `json:"rss_change_pct"`
	ServerLog     string         `json:"server_log"`
}

// runReconnect runs the storm.
func runReconnect(ctx context.Context, o *options, log io.Writer) (*reconnectResult, error) {
	res := &reconnectResult{Restarts: o.restarts, Sockets: o.sockets, Rooms: o.rooms, Users: o.users, RatePerRoom: o.rate, ResumeSeconds: -1, ServerLog: o.serverLog}
	logFile, err := os.Create(o.serverLog)
	if err != nil {
		return nil, fmt.Errorf("create the server log: %w", err)
	}
	defer logFile.Close()
	srv, err := startServerProc(ctx, o.serverCmd, logFile)
	if err != nil {
		return res, err
	}
	defer func() { srv.stop() }()
	if o.base, err = parseBaseURL(srv.url); err != nil {
		return res, fmt.Errorf("the server's address: %w", err)
	}
	fmt.Fprintf(log, "server %d listening on %s (log: %s)\n", srv.pid, srv.url, o.serverLog)

	tokens, err := prepareTokens(ctx, o, log)
	if err != nil {
		return res, err
	}
	st := &stormState{dialer: newSocketDialer(o), backoff: o.backoff, backoffCap: o.backoffCap, errs: newErrorTally(), frameErrs: newErrorTally()}
	socks := make([]*rsock, 0, o.sockets+o.rooms)
	for i := range o.sockets {
		socks = append(socks, &rsock{st: st, token: tokens[i%len(tokens)], room: o.roomName(i % o.rooms)})
	}
	var senders []*rsock
	for k := range o.rooms {
		s := &rsock{st: st, token: tokens[k%len(tokens)], room: o.roomName(k), every: time.Duration(float64(time.Second) / o.rate)}
		senders = append(senders, s)
		socks = append(socks, s)
	}
	runCtx, stopSockets := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopSockets()

	// The first opening, -c at a time: a storm of its own would measure nothing.
	fmt.Fprintf(log, "opening %d sockets in %d rooms (and a sender in each), %d at a time\n", o.sockets, o.rooms, o.concurrency)
	start := time.Now()
	err = forEach(ctx, len(socks), o.concurrency, func(ctx context.Context, i int) error {
		conn := socks[i].dialUntilOpen(runCtx)
		if conn == nil {
			return ctx.Err()
		}
		wg.Go(func() { socks[i].run(runCtx, conn) })
		return nil
	})
	if err != nil {
		return res, err
	}
	if err := waitAll(ctx, log, "in their rooms", readyTimeout, socks, func(s *rsock) bool { return s.joins.Load() >= 1 }); err != nil {
		return res, err
	}
	res.OpenSeconds = round2(time.Since(start).Seconds())

	for _, s := range senders {
		s.sending.Store(true)
	}
	fmt.Fprintf(log, "sending %.1f/s in each room for %v\n", o.rate, o.duration)
	sleepCtx(ctx, o.duration)
	// Every restart but the last is a warm-up: after one, the server has
	// served only reconnects, as the last restart's new process will, so
	// RSS before and after compare like with like (the first process also
	// did the logins, whose hashing leaves memory behind). The figures are
	// the last restart's.
	for r := 1; r <= o.restarts && ctx.Err() == nil; r++ {
		last := r == o.restarts
		if last {
			sleepCtx(ctx, o.settle)
			if res.RSSBeforeKiB, err = readRSS(srv.pid); err != nil {
				return res, err
			}
			for _, s := range senders {
				res.AckedBefore += int64(s.seq())
			}
		}
		fmt.Fprintf(log, "stopping server %d with SIGTERM (restart %d of %d)\n", srv.pid, r, o.restarts)
		t0 := time.Now()
		if err := srv.stop(); err != nil {
			return res, fmt.Errorf("stop the server: %w", err)
		}
		res.StopSeconds = round2(time.Since(t0).Seconds())
		refusedBefore := st.refused.Load()
		t0 = time.Now()
		restarted, err := startServerProc(ctx, o.serverCmd, logFile)
		if err != nil {
			return res, fmt.Errorf("start the server again: %w", err)
		}
		srv = restarted
		listening := srv.listening
		res.StartSeconds = round2(listening.Sub(t0).Seconds())
		if srv.url != o.base.String() {
			return res, fmt.Errorf("the server came back on %s, not %s: give it a fixed --addr", srv.url, o.base)
		}
		fmt.Fprintf(log, "server %d listening again after %.1fs; waiting for every socket to resume\n", srv.pid, res.StartSeconds)
		joins := int32(r + 1)
		waitErr := waitAll(ctx, log, "resumed", o.resumeWait, socks, func(s *rsock) bool { return s.joins.Load() >= joins })
		res.RefusedStorm = st.refused.Load() - refusedBefore
		var hist histogram
		var slowest time.Duration
		res.NotResumed = 0
		for _, s := range socks {
			at, ok := s.resumedAt(joins)
			if !ok {
				res.NotResumed++
				continue
			}
			d := max(0, at.Sub(listening))
			hist.record(int64(d))
			slowest = max(slowest, d)
		}
		res.Resume = hist.summary()
		res.ResumeSeconds = -1
		if res.NotResumed == 0 {
			res.ResumeSeconds = round2(slowest.Seconds())
		}
		if waitErr != nil && (ctx.Err() != nil || !last) {
			return res, waitErr
		}
		if !last {
			fmt.Fprintf(log, "every socket resumed within %.2fs; sending for %v before the next restart\n", res.ResumeSeconds, o.duration)
			sleepCtx(ctx, o.duration)
		}
	}

	fmt.Fprintf(log, "sending for %v more\n", o.drain)
	sleepCtx(ctx, o.drain)
	for _, s := range senders {
		s.sending.Store(false)
	}
	final := map[string]int{}
	waitAll(ctx, log, "with their last message acknowledged", readyTimeout, senders, func(s *rsock) bool { return !s.outstanding() })
	for _, s := range senders {
		final[s.room] = s.seq()
		res.Acked += int64(s.seq())
	}
	waitAll(ctx, log, "with every acknowledged message", readyTimeout, socks, func(s *rsock) bool { return s.seq() >= final[s.room] })
	sleepCtx(ctx, o.settle)
	if res.RSSAfterKiB, err = readRSS(srv.pid); err != nil {
		return res, err
	}
	if res.RSSBeforeKiB > 0 {
		res.RSSChangePct = round1(percentOf(float64(res.RSSAfterKiB-res.RSSBeforeKiB), float64(res.RSSBeforeKiB)))
	}
	for _, s := range socks {
		s.mu.Lock()
		res.Gaps += s.gaps
		res.Duplicates += s.dups
		res.Missing += int64(max(0, final[s.room]-s.lastSeq))
		s.mu.Unlock()
	}
	res.Refused = st.refused.Load()
	res.Reconnects = st.opens.Load() - int64(len(socks))
	res.ErrorFrames = st.errorFrames.Load()
	res.Unavailable = st.unavailable.Load()
	res.ErrorTexts = st.frameErrs.list()
	res.DialErrors = st.errs.list()
	stopSockets()
	return res, ctx.Err()
}

// stormState is what the sockets of a storm share.
type stormState struct {
	dialer              *socketDialer
	backoff, backoffCap time.Duration
	opens               atomic.Int64
	refused             atomic.Int64
	errorFrames         atomic.Int64
	unavailable         atomic.Int64 // sends answered unavailable, sent again
	errs, frameErrs     *errorTally
}

// rsock is one socket that keeps itself connected and in its room, and
// checks the room's numbered messages: each once, in order. A sender also
// sends the next number once its last came back (stop and wait), so after a
// reconnect it sends again only what the resumed room lacks.
type rsock struct {
	st          *stormState
	token, room string
	every       time.Duration // a sender's pace; 0: only receives

	sending atomic.Bool
	joins   atomic.Int32 // joined frames of its room: one per connection

	mu       sync.Mutex
	lastID   int64 // the next join's since
	lastSeq  int
	pending  int // a sender's number not yet seen back
	gaps     int64
	dups     int64
	joinedAt time.Time // the last joined frame
}

// dialUntilOpen opens the socket, retrying after retryDelay, until it
// opens or ctx ends (nil).
func (s *rsock) dialUntilOpen(ctx context.Context) *websocket.Conn {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		conn, retryAfter := s.dial(ctx)
		if conn != nil {
			return conn
		}
		sleepCtx(ctx, s.st.retryDelay(attempt, retryAfter, rand.N[time.Duration]))
	}
	return nil
}

// reservationSpread is Retry-After's unit: the sockets given the same whole
// second spread over it.
const reservationSpread = time.Second

// retryDelay is how long a socket waits before attempt (0: the first
// retry), as the page does. A 503's Retry-After is the server's reservation,
// a time of this socket's own at the pace it admits handshakes: it is kept,
// plus a random share of at most reservationSpread. Without one (the server
// is down, the socket closed): full jitter, anywhere in a window that
// doubles with each failure. n(d) draws in [0, d).
func (st *stormState) retryDelay(attempt int, retryAfter time.Duration, n func(time.Duration) time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter + n(reservationSpread)
	}
	return n(min(st.backoffCap, st.backoff<<min(attempt, 20)) + 1)
}

// dial opens the socket once; on a 503 it returns the Retry-After.
func (s *rsock) dial(ctx context.Context) (*websocket.Conn, time.Duration) {
	h := http.Header{"Authorization": {"Bearer " + s.token}}
	conn, resp, err := s.st.dialer.ws.DialContext(ctx, s.st.dialer.url, h)
	if err == nil {
		s.st.opens.Add(1)
		return conn, 0
	}
	if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
		s.st.refused.Add(1)
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return nil, time.Duration(secs) * time.Second
	}
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, syscall.ECONNREFUSED):
		// The server is down (restarting): one line for them all, not one per source address.
		s.st.errs.add(errors.New("connection refused (the server was not listening)"))
	case resp != nil:
		s.st.errs.add(fmt.Errorf("status %d: %w", resp.StatusCode, err))
	default:
		s.st.errs.add(err)
	}
	return nil, 0
}

// run serves the open socket, and reconnects each time it ends, until ctx ends.
func (s *rsock) run(ctx context.Context, conn *websocket.Conn) {
	for conn != nil {
		s.serve(ctx, conn)
		conn = s.dialUntilOpen(ctx)
	}
}

// serve resumes the room and reads until the socket ends.
func (s *rsock) serve(ctx context.Context, conn *websocket.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	s.mu.Lock()
	since := s.lastID
	s.pending = 0
	s.mu.Unlock()
	join, _ := json.Marshal(map[string]any{"type": "join", "room": s.room, "since": since}) // cannot fail
	conn.SetWriteDeadline(time.Now().Add(sendWriteWait))
	if conn.WriteMessage(websocket.TextMessage, join) != nil {
		return
	}
	var joined atomic.Bool
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(done)
	if s.every > 0 {
		wg.Go(func() { s.send(conn, &joined, done) })
	}
	var buf bytes.Buffer
	for {
		_, r, err := conn.NextReader()
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		if err != nil {
			return
		}
		for line := range bytes.SplitSeq(buf.Bytes(), []byte("\n")) {
			s.handle(line, &joined)
		}
	}
}

// send sends the next number every s.every while sending, once the last came back.
func (s *rsock) send(conn *websocket.Conn, joined *atomic.Bool, done <-chan struct{}) {
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		if !s.sending.Load() || !joined.Load() {
			continue
		}
		s.mu.Lock()
		n := 0
		if s.pending == 0 {
			n = s.lastSeq + 1
			s.pending = n
		}
		s.mu.Unlock()
		if n == 0 {
			continue
		}
		conn.SetWriteDeadline(time.Now().Add(sendWriteWait))
		if conn.WriteMessage(websocket.TextMessage, sendFrame(targetSecurechat, s.room, "seq "+strconv.Itoa(n))) != nil {
			return
		}
	}
}

// handle reads one server object.
func (s *rsock) handle(line []byte, joined *atomic.Bool) {
	if len(line) == 0 {
		return
	}
	if ev, ok := fastMessage(line); ok {
		if id, ok := messageID(line); ok {
			s.saw(id, ev.room, ev.text)
			return
		}
	}
	// Presence lists (up to 200 names, to every socket of a room at each
	// change, and every socket is in general) are most of the bytes a storm
	// sends and nothing the check needs: decoding them took the tool's
	// share of the two cores from the server under test.
	if bytes.HasPrefix(line, []byte(presencePrefix)) {
		return
	}
	type msg struct {
		ID   int64  `json:"id"`
		Room string `json:"room"`
		Text string `json:"text"`
	}
	var f struct {
		msg
		Type     string `json:"type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		Messages []msg  `json:"messages"`
	}
	if err := json.Unmarshal(line, &f); err != nil {
		s.st.errorFrames.Add(1)
		s.st.frameErrs.add(fmt.Errorf("undecodable server object %.80q", line))
		return
	}
	switch f.Type {
	case "message":
		s.saw(f.ID, f.Room, f.Text)
	case "history":
		for _, m := range f.Messages {
			s.saw(m.ID, m.Room, m.Text)
		}
	case "joined":
		if f.Room == s.room {
			s.mu.Lock()
			s.joinedAt = time.Now()
			s.mu.Unlock()
			joined.Store(true)
			s.joins.Add(1)
		}
	case "error":
		if f.Code == "unavailable" {
			// A send refused while the server stops (or the store failed): it
			// was not stored, so the same number goes again.
			s.mu.Lock()
			s.pending = 0
			s.mu.Unlock()
			s.st.unavailable.Add(1)
			return
		}
		s.st.errorFrames.Add(1)
		s.st.frameErrs.add(errors.New(f.Code + ": " + f.Message))
	}
}

// saw checks one message against the numbers seen so far in the room.
func (s *rsock) saw(id int64, room, text string) {
	if room != s.room {
		return // general, which every socket is in
	}
	n, err := strconv.Atoi(text[min(len(text), len("seq ")):])
	if err != nil || len(text) < 4 || text[:4] != "seq " {
		s.st.errorFrames.Add(1)
		s.st.frameErrs.add(fmt.Errorf("a message not of this run in %s: %.40q (use a fresh --data or another -room)", room, text))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case id <= s.lastID || n <= s.lastSeq:
		s.dups++
		return
	case n != s.lastSeq+1:
		s.gaps++
	}
	s.lastSeq, s.lastID = n, id
	if s.pending != 0 && n >= s.pending {
		s.pending = 0
	}
}

func (s *rsock) seq() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq
}

func (s *rsock) outstanding() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending != 0
}

// resumedAt is when the socket last joined its room, if it has joined at
// least joins times (once, then once after each restart).
func (s *rsock) resumedAt(joins int32) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.joinedAt, s.joins.Load() >= joins
}

// messageID reads the id of a message object ({"type":"message","id":N,…})
// without encoding/json.
func messageID(line []byte) (int64, bool) {
	const key = `"id":`
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return 0, false
	}
	v := line[i+len(key):]
	end := bytes.IndexAny(v, ",}")
	if end < 0 {
		return 0, false
	}
	id, err := strconv.ParseInt(string(v[:end]), 10, 64)
	return id, err == nil
}

// waitAll polls until ok holds for every socket, or d passes (an error
// saying how many did not).
func waitAll(ctx context.Context, log io.Writer, what string, d time.Duration, socks []*rsock, ok func(*rsock) bool) error {
	deadline := time.Now().Add(d)
	lastPrint := time.Now()
	for {
		left := 0
		for _, s := range socks {
			if !ok(s) {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d sockets not %s within %v", left, len(socks), what, d)
		}
		if time.Since(lastPrint) >= progressEvery {
			fmt.Fprintf(log, "  %d of %d sockets not yet %s\n", left, len(socks), what)
			lastPrint = time.Now()
		}
		time.Sleep(drainPoll)
	}
}

// serverProc is a server process the tool started.
type serverProc struct {
	cmd       *exec.Cmd
	pid       int
	url       string
	listening time.Time // when it printed its address
	exited    chan error
	stopped   bool
}

// startServerProc starts argv with its output in log and waits for it to
// print its address and answer /healthz.
func startServerProc(ctx context.Context, argv []string, log io.Writer) (*serverProc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &serverProc{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(log, sc.Text())
			if m := listeningLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		p.exited <- cmd.Wait()
	}()
	timer := time.NewTimer(serverStartTimeout)
	defer timer.Stop()
	select {
	case p.url = <-addr:
		p.listening = time.Now()
	case err := <-p.exited:
		p.stopped = true
		return nil, fmt.Errorf("%s exited before listening: %v (see the server log)", argv[0], err)
	case <-timer.C:
		p.stop()
		return nil, fmt.Errorf("%s printed no address within %v (see the server log)", argv[0], serverStartTimeout)
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-timer.C:
			p.stop()
			return nil, fmt.Errorf("%s did not answer /healthz within %v", p.url, serverStartTimeout)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(drainPoll):
		}
	}
}

// stop sends SIGTERM and waits for the process to exit, killing it past
// serverStopTimeout. It returns the exit error, if the process failed.
func (p *serverProc) stop() error {
	if p.stopped {
		return nil
	}
	p.stopped = true
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		return err
	case <-time.After(serverStopTimeout):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("did not stop within %v of SIGTERM: killed", serverStopTimeout)
	}
}

// serverArgv is the server command from the arguments after "--".
func serverArgv(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, errors.New("reconnect needs the server's command after --, e.g. -- ./securechat --addr 127.0.0.1:8080 --data D (a fixed port: it is started twice)")
	}
	return slices.Clone(args), nil
}
