package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// hoard is issue 11's first attack: one user's sockets ask for the largest
// history pages and never read the answers, so whatever the server queues
// for them stays in its memory. Meanwhile another user sends to general and
// times the acknowledgements. The hoarders never read while hoarding; every
// write has a deadline, so a server that stops reading cannot hang the tool.
const (
	// maxHistoryLimit is the largest history page the protocol allows, the
	// default of -limit.
	maxHistoryLimit = 200
	// maxFillPages bounds the pages read to count what the room holds.
	maxFillPages = 100
	// hoardWriteWait bounds one hoarder's write: past it the server has
	// stopped reading (its TCP window is full), which is an outcome.
	hoardWriteWait = 2 * time.Second
	// hoardEndWait is how long each hoarder is read at the end, to find the
	// close frame the server may have sent after everything it had queued.
	hoardEndWait = 2 * time.Second
	// rssEvery is how often the server's RSS is sampled for its peak.
	rssEvery = 100 * time.Millisecond
	// fillTimeout bounds filling the room (200 messages at the default
	// message rate of 10/s take 20 s).
	fillTimeout = 3 * time.Minute
	// fillBackoff is the pause after a rate_limited refusal while filling:
	// the server closes a socket after 10 refusals in 10 s, and 1.5 s refills
	// 15 messages at the default rate.
	fillBackoff = 1500 * time.Millisecond
	// fillReadWait bounds the wait for any one answer while filling.
	fillReadWait = 30 * time.Second
)

// hoardResult is what `hoard` measured.
type hoardResult struct {
	Room         string         `json:"room"`
	Hoarders     int            `json:"hoarders"`
	Dial         dialStats      `json:"dial"`
	Filled       int            `json:"filled"`       // fill messages sent by this run
	RoomHeld     int            `json:"room_held"`    // fill messages the room held before (its newest, up to -fill)
	Limit        int            `json:"limit"`        // messages asked for in each history request
	AnswerBytes  int            `json:"answer_bytes"` // one answer to that request
	EveryMs      float64        `json:"every_ms"`
	Requests     int64          `json:"requests"` // history frames written
	Seconds      float64        `json:"seconds"`
	StoppedEarly string         `json:"stopped_early,omitempty"`
	RSSBeforeKiB int64          `json:"rss_before_kib"`
	RSSPeakKiB   int64          `json:"rss_peak_kib"`
	RSSAfterKiB  int64          `json:"rss_after_kib"`
	RSSRiseMiB   float64        `json:"rss_rise_mib"` // peak minus before
	Closed       int            `json:"closed"`       // hoarders the server closed
	Blocked      int            `json:"blocked"`      // hoarders whose writes stalled (the server stopped reading them)
	OpenAtEnd    int            `json:"open_at_end"`
	ByCloseCode  map[string]int `json:"closed_by_code,omitempty"` // "1013": 20; "none" without a close frame
	EndErrors    []string       `json:"end_errors,omitempty"`
	Bystander    bystanderStats `json:"bystander"`
	Targets      []targetCheck  `json:"targets"`
}

// bystanderStats is the other user's messages during the hoard.
type bystanderStats struct {
	User       string         `json:"user"`
	Sent       int64          `json:"sent"`
	Acked      int64          `json:"acked"`
	Refused    int64          `json:"refused"` // answered with an error frame (rate_limited)
	Lost       int64          `json:"lost"`    // sent, neither acknowledged nor refused by the end of the drain
	AckLatency latencySummary `json:"ack_latency"`
	Errors     []string       `json:"errors,omitempty"`
}

func runHoard(ctx context.Context, o *options, log io.Writer) (*hoardResult, error) {
	tokens, err := prepareTokens(ctx, o, log)
	if err != nil {
		return nil, err
	}
	res := &hoardResult{Room: o.room, Hoarders: o.sockets, Limit: o.limit, EveryMs: float64(o.every) / float64(time.Millisecond)}
	d := newSocketDialer(o)

	fmt.Fprintf(log, "filling %s with %d messages of %d '<' as %s\n", o.room, o.fill, o.size, o.userName(2))
	if err := fillRoom(ctx, o, d, tokens[2], res); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "room holds them (%d sent now); one answer to a history request for %d is %.1f MB\n",
		res.Filled, o.limit, float64(res.AnswerBytes)/1e6)

	by, err := startBystander(ctx, o, d, tokens[1])
	if err != nil {
		return nil, err
	}
	if res.RSSBeforeKiB, err = readRSS(o.pid); err != nil {
		closeAll([]*loadConn{by.conn})
		return nil, err
	}

	perSocket := make([]string, o.sockets)
	for i := range perSocket {
		perSocket[i] = tokens[0]
	}
	conns, st := dialAll(ctx, o, perSocket, log, func(_ int, ws *websocket.Conn) *loadConn {
		return newLoadConn(ws) // no reader: hoarders never read while hoarding
	})
	res.Dial = st
	fmt.Fprintf(log, "%d hoarders open (%d failed); hoarding for %v, a history request each every %v\n",
		st.Opened, st.Failed, o.duration, o.every)

	hoardCtx, stop := context.WithCancel(ctx)
	defer stop()
	sampler := startRSSSampler(o.pid, res.RSSBeforeKiB, int64(o.maxRSSRise)<<10, stop)
	var requests atomic.Int64
	ends := make([]hoarderEnd, len(conns))
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range conns {
		if c != nil {
			wg.Go(func() { ends[i] = hoardOn(hoardCtx, c, o.room, historyFrame(o.room, o.limit, 0), o.every, &requests) })
		}
	}
	wg.Go(func() { by.sendLoop(hoardCtx, o.sendEvery) })
	stopProgress := progress(log, func() string {
		return fmt.Sprintf("%d history requests; server RSS %.0f MiB; bystander sent %d, acked %d",
			requests.Load(), float64(sampler.last.Load())/1024, by.sent.Load(), by.acked.Load())
	})
	sleepCtx(hoardCtx, o.duration)
	stop()
	sampler.armed.Store(false)
	wg.Wait()
	res.Seconds = round2(time.Since(start).Seconds())
	res.Requests = requests.Load()
	by.drain(ctx, o.drain)
	stopProgress()

	// What became of each hoarder: read what the server left, up to its
	// close frame, then close what is still open.
	for i, c := range conns {
		if c != nil {
			wg.Go(func() { ends[i].finish(c) })
		}
	}
	wg.Wait()
	res.tallyEnds(ends, conns)
	closeAll([]*loadConn{by.conn})
	res.Bystander = by.stats()

	fmt.Fprintf(log, "hoarders closed; settling %v before the last RSS reading\n", o.settle)
	sleepCtx(ctx, o.settle)
	if res.RSSAfterKiB, err = readRSS(o.pid); err != nil {
		fmt.Fprintln(log, "warning:", err)
	}
	// The peak covers the settling too: the server may still be answering
	// requests it had read when the hoarders closed.
	res.RSSPeakKiB, res.StoppedEarly = sampler.end()
	res.RSSPeakKiB = max(res.RSSPeakKiB, res.RSSAfterKiB)
	res.RSSRiseMiB = round1(float64(res.RSSPeakKiB-res.RSSBeforeKiB) / 1024)
	res.Targets = []targetCheck{
		{Target: "server RSS rises by at most 64 MiB", Measured: fmt.Sprintf("%.1f MiB (peak %.1f, before %.1f)",
			res.RSSRiseMiB, float64(res.RSSPeakKiB)/1024, float64(res.RSSBeforeKiB)/1024), Met: res.RSSRiseMiB <= 64},
		{Target: "the other user's ack p99 under 50 ms", Measured: fmt.Sprintf("p99 %.1f ms, %d lost", res.Bystander.AckLatency.P99Ms, res.Bystander.Lost),
			Met: res.Bystander.Acked > 0 && res.Bystander.AckLatency.P99Ms < 50 && res.Bystander.Lost == 0},
	}
	return res, ctx.Err()
}

// historyFrame asks for limit messages of room before the id before (0:
// the newest).
func historyFrame(room string, limit int, before int64) []byte {
	b, _ := json.Marshal(struct { // cannot fail: plain values
		Type   string `json:"type"`
		Room   string `json:"room"`
		Before int64  `json:"before,omitempty"`
		Limit  int    `json:"limit"`
	}{"history", room, before, limit})
	return b
}

// hoarderEnd is how one hoarder's run ended.
type hoarderEnd struct {
	writeErr error // why hoarding stopped before the end, if it did
	closed   bool
	code     int // the close code found, 0 for none
	endErr   error
}

// hoardOn joins room and writes frame (a history request) every interval,
// never reading, until ctx ends or a write fails.
func hoardOn(ctx context.Context, c *loadConn, room string, frame []byte, every time.Duration, requests *atomic.Int64) hoarderEnd {
	write := func(frame []byte) error {
		c.ws.SetWriteDeadline(time.Now().Add(hoardWriteWait))
		return c.ws.WriteMessage(websocket.TextMessage, frame)
	}
	if err := write(joinFrame(room)); err != nil {
		return hoarderEnd{writeErr: fmt.Errorf("join: %w", err)}
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := write(frame); err != nil {
			return hoarderEnd{writeErr: fmt.Errorf("history request: %w", err)}
		}
		requests.Add(1)
		select {
		case <-tick.C:
		case <-ctx.Done():
			return hoarderEnd{}
		}
	}
}

// finish reads what the server sent the hoarder, discarding it, until its
// close frame, the connection's end, or hoardEndWait; then closes it.
func (e *hoarderEnd) finish(c *loadConn) {
	c.closing.Store(true)
	defer c.ws.Close()
	c.ws.SetReadDeadline(time.Now().Add(hoardEndWait))
	var err error
	for err == nil {
		var r io.Reader
		if _, r, err = c.ws.NextReader(); err == nil {
			_, err = io.Copy(io.Discard, r)
		}
	}
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		e.closed, e.code = true, ce.Code
	case errors.As(err, &ne) && ne.Timeout():
		// Still open after the wait: the server kept it (or, with a failed
		// write, closed it without a close frame we could read).
		e.closed = e.writeErr != nil && !isTimeout(e.writeErr)
	default:
		e.closed, e.endErr = true, err
	}
	if !e.closed {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWriteWait))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tallyEnds counts how the hoarders ended.
func (res *hoardResult) tallyEnds(ends []hoarderEnd, conns []*loadConn) {
	errs := newErrorTally()
	for i, e := range ends {
		if conns[i] == nil {
			continue
		}
		errs.add(e.writeErr)
		errs.add(e.endErr)
		switch {
		case e.closed:
			res.Closed++
			if res.ByCloseCode == nil {
				res.ByCloseCode = map[string]int{}
			}
			code := "none"
			if e.code != 0 {
				code = fmt.Sprint(e.code)
			}
			res.ByCloseCode[code]++
		case e.writeErr != nil:
			res.Blocked++
		default:
			res.OpenAtEnd++
		}
	}
	res.EndErrors = errs.list()
}

// rssSampler reads the server's RSS every rssEvery, keeping the peak, and
// calls stop once it has grown by more than maxRise KiB (0: never).
type rssSampler struct {
	last   atomic.Int64
	armed  atomic.Bool // stop is called only while armed (hoarding)
	done   chan struct{}
	wg     sync.WaitGroup
	peak   int64
	reason string
}

func startRSSSampler(pid int, before, maxRise int64, stop func()) *rssSampler {
	s := &rssSampler{done: make(chan struct{}), peak: before}
	s.last.Store(before)
	s.armed.Store(true)
	s.wg.Go(func() {
		t := time.NewTicker(rssEvery)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
			}
			kib, err := readRSS(pid)
			if err != nil {
				continue // the peak is of the readings that worked
			}
			s.last.Store(kib)
			s.peak = max(s.peak, kib)
			if maxRise > 0 && kib-before > maxRise && s.armed.Load() && s.reason == "" {
				s.reason = fmt.Sprintf("the server's RSS grew past -max-rss-rise %d MiB (to %.0f MiB)", maxRise>>10, float64(kib)/1024)
				stop()
			}
		}
	})
	return s
}

// end stops sampling and returns the peak and why the run was stopped early, if it was.
func (s *rssSampler) end() (int64, string) {
	close(s.done)
	s.wg.Wait()
	return s.peak, s.reason
}

// fillRoom makes sure the newest o.fill messages of o.room are messages of
// o.size '<' (sending what is missing as user PREFIX2 and pacing itself by
// the server's refusals), then measures one answer to the hoarders' request.
func fillRoom(ctx context.Context, o *options, d *socketDialer, token string, res *hoardResult) error {
	ctx, cancel := context.WithTimeout(ctx, fillTimeout)
	defer cancel()
	ws, err := d.dial(ctx, token)
	if err != nil {
		return fmt.Errorf("fill the room: %w", err)
	}
	defer ws.Close()
	stopOnCancel := context.AfterFunc(ctx, func() { ws.Close() })
	defer stopOnCancel()
	f := &filler{ws: ws, room: o.room, text: strings.Repeat("<", o.size), limit: o.limit, backoff: fillBackoff}
	if err := f.run(o.fill, res); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("fill the room: %w", context.Cause(ctx))
		}
		return fmt.Errorf("fill the room: %w", err)
	}
	return nil
}

// filler is the socket that fills the room, read and written by one goroutine.
type filler struct {
	ws      *websocket.Conn
	room    string
	text    string
	user    string
	limit   int           // messages asked for in a history request
	backoff time.Duration // after a rate_limited refusal
}

// fillFrame is the subset of server objects the filler reads.
type fillFrame struct {
	Type     string `json:"type"`
	Room     string `json:"room"`
	User     string `json:"user"`
	Text     string `json:"text"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	Messages []struct {
		ID   int64  `json:"id"`
		User string `json:"user"`
		Text string `json:"text"`
	} `json:"messages"`
}

func (f *filler) run(want int, res *hoardResult) error {
	if _, err := f.await(func(fr *fillFrame, _ int) bool { f.user = fr.User; return fr.Type == "welcome" }); err != nil {
		return err
	}
	if err := f.write(joinFrame(f.room)); err != nil {
		return err
	}
	var refused string
	if _, err := f.await(func(fr *fillFrame, _ int) bool {
		if fr.Type == "error" {
			refused = fr.Code + ": " + fr.Message
		}
		return fr.Type == "error" || fr.Type == "joined" && fr.Room == f.room
	}); err != nil {
		return err
	}
	if refused != "" {
		return fmt.Errorf("the server refused to join %s: %s", f.room, refused)
	}
	held, err := f.count(want)
	if err != nil {
		return err
	}
	res.RoomHeld = held
	for sent := 0; sent < want-held; {
		if err := f.write(sendFrame(targetSecurechat, f.room, f.text)); err != nil {
			return err
		}
		refused = ""
		if _, err := f.await(func(fr *fillFrame, _ int) bool {
			if fr.Type == "error" {
				refused = fr.Code + ": " + fr.Message
				return true
			}
			return fr.Type == "message" && fr.Room == f.room && fr.User == f.user && fr.Text == f.text
		}); err != nil {
			return err
		}
		switch {
		case refused == "":
			sent++
			res.Filled = sent
		case strings.HasPrefix(refused, "rate_limited"):
			time.Sleep(f.backoff)
		default:
			return fmt.Errorf("the server refused a message: %s", refused)
		}
	}
	_, res.AnswerBytes, err = f.page(0)
	return err
}

// count returns how many of the room's newest messages, up to want, are
// fill messages in a row, paging back with before: a server may answer a
// history request with fewer messages than asked.
func (f *filler) count(want int) (int, error) {
	held := 0
	var before int64
	for range maxFillPages {
		if held >= want {
			break
		}
		page, _, err := f.page(before)
		if err != nil {
			return 0, err
		}
		if len(page.Messages) == 0 {
			break
		}
		for i := len(page.Messages) - 1; i >= 0; i-- { // oldest first: count from the newest
			if page.Messages[i].Text != f.text {
				return held, nil
			}
			held++
		}
		before = page.Messages[0].ID
	}
	return min(held, want), nil
}

// page sends the hoarders' history request (before: 0 for the newest) and
// returns the answer and its size in bytes. A refusal is an error: the
// server may not allow -limit.
func (f *filler) page(before int64) (*fillFrame, int, error) {
	if err := f.write(historyFrame(f.room, f.limit, before)); err != nil {
		return nil, 0, err
	}
	var page *fillFrame
	size, err := f.await(func(fr *fillFrame, _ int) bool {
		if fr.Type == "error" || fr.Type == "history" && fr.Room == f.room {
			page = fr
			return true
		}
		return false
	})
	if err != nil {
		return nil, 0, err
	}
	if page.Type == "error" {
		return nil, 0, fmt.Errorf("the server refused a history request for %d (see -limit): %s: %s", f.limit, page.Code, page.Message)
	}
	return page, size, nil
}

func (f *filler) write(frame []byte) error {
	f.ws.SetWriteDeadline(time.Now().Add(sendWriteWait))
	return f.ws.WriteMessage(websocket.TextMessage, frame)
}

// await reads server objects until done returns true for one, and returns
// that object's size. An object that does not decode is an error.
func (f *filler) await(done func(fr *fillFrame, size int) bool) (int, error) {
	for {
		f.ws.SetReadDeadline(time.Now().Add(fillReadWait))
		_, data, err := f.ws.ReadMessage()
		if err != nil {
			return 0, err
		}
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			var fr fillFrame
			if err := json.Unmarshal(line, &fr); err != nil {
				return 0, fmt.Errorf("decode server object %.80q: %w", line, err)
			}
			if done(&fr, len(line)) {
				return len(line), nil
			}
		}
	}
}

// bystander is the other user: it sends to general on a ticker and times
// each acknowledgement (its own message coming back).
type bystander struct {
	conn  *loadConn
	runID string
	user  string
	ws    *websocket.Conn

	sent, acked, refused atomic.Int64
	budget               int64
	// Written by the reader goroutine only; read after it has returned.
	seen     bitset
	hist     histogram
	frameErr error
	writeErr error
}

func startBystander(ctx context.Context, o *options, d *socketDialer, token string) (*bystander, error) {
	ws, err := d.dial(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("open the bystander's socket: %w", err)
	}
	budget := int64(o.duration/o.sendEvery) + 2
	b := &bystander{conn: newLoadConn(ws), ws: ws, runID: newRunID(), user: o.userName(1), budget: budget, seen: newBitset(budget + 1)}
	go b.conn.read(func(data []byte) error { return decodeFrame(targetSecurechat, data, b.onEvent) }, nil)
	return b, nil
}

func (b *bystander) onEvent(ev event) {
	switch {
	case ev.kind == evError:
		b.refused.Add(1)
		if b.frameErr == nil {
			b.frameErr = fmt.Errorf("server error frame: %s", ev.text)
		}
	case ev.kind == evMessage && ev.room == "general" && ev.user == b.user:
		now := time.Now().UnixNano()
		p, ok := parsePayload(ev.text)
		if !ok || p.run != b.runID || b.seen.set(p.seq) {
			return
		}
		b.acked.Add(1)
		b.hist.record(now - p.sentNs)
	}
}

func (b *bystander) sendLoop(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var buf []byte
	for seq := int64(1); seq <= b.budget; seq++ {
		buf = appendPayload(buf[:0], payload{run: b.runID, seq: seq, sentNs: time.Now().UnixNano()}, 0)
		b.ws.SetWriteDeadline(time.Now().Add(sendWriteWait))
		if err := b.ws.WriteMessage(websocket.TextMessage, sendFrame(targetSecurechat, "general", string(buf))); err != nil {
			b.writeErr = fmt.Errorf("send message: %w", err)
			return
		}
		b.sent.Add(1)
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// drain waits up to d for every message sent to be acknowledged or refused.
func (b *bystander) drain(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil && b.acked.Load()+b.refused.Load() < b.sent.Load() {
		sleepCtx(ctx, drainPoll)
	}
}

// stats is called after the reader has returned (closeAll).
func (b *bystander) stats() bystanderStats {
	s := bystanderStats{User: b.user, Sent: b.sent.Load(), Acked: b.acked.Load(), Refused: b.refused.Load(), AckLatency: b.hist.summary()}
	s.Lost = max(0, s.Sent-s.Acked-s.Refused)
	errs := newErrorTally()
	errs.add(b.frameErr)
	errs.add(b.writeErr)
	if b.conn.dropped {
		errs.add(fmt.Errorf("the server closed the bystander's socket (code %d): %w", b.conn.code, b.conn.err))
	}
	s.Errors = errs.list()
	return s
}

func hoardVerdict(o *options, h *hoardResult) []string {
	var p []string
	if h.Dial.Opened == 0 {
		p = append(p, "no hoarding socket opened")
	}
	b := h.Bystander
	if b.Sent == 0 {
		p = append(p, "the bystander sent nothing")
	}
	if b.Lost > 0 && percentOf(float64(b.Lost), float64(b.Sent)) > o.maxLossPct {
		p = append(p, fmt.Sprintf("the bystander's messages never acknowledged: %d of %d", b.Lost, b.Sent))
	}
	return p
}

func printHoard(w io.Writer, h *hoardResult) {
	fmt.Fprintf(w, "room           %s: %d fill messages sent now (%d were there); one answer to a history request for %d is %.1f MB\n",
		h.Room, h.Filled, h.RoomHeld, h.Limit, float64(h.AnswerBytes)/1e6)
	fmt.Fprintf(w, "hoarders       %d opened, %d failed; %d history requests in %.1fs (one each every %.0f ms)\n",
		h.Dial.Opened, h.Dial.Failed, h.Requests, h.Seconds, h.EveryMs)
	for _, e := range h.Dial.FailureErrors {
		fmt.Fprintf(w, "  failure      %s\n", e)
	}
	if h.StoppedEarly != "" {
		fmt.Fprintf(w, "stopped early  %s\n", h.StoppedEarly)
	}
	fmt.Fprintf(w, "server RSS     %.1f MiB before, %.1f MiB peak, %.1f MiB after: rise %.1f MiB\n",
		float64(h.RSSBeforeKiB)/1024, float64(h.RSSPeakKiB)/1024, float64(h.RSSAfterKiB)/1024, h.RSSRiseMiB)
	fmt.Fprintf(w, "ended          %d closed by the server (by close code: %s), %d writes stalled, %d open at the end\n",
		h.Closed, formatCounts(h.ByCloseCode), h.Blocked, h.OpenAtEnd)
	for _, e := range h.EndErrors {
		fmt.Fprintf(w, "  end          %s\n", e)
	}
	b := h.Bystander
	fmt.Fprintf(w, "bystander      %s sent %d, acked %d, refused %d, lost %d\n", b.User, b.Sent, b.Acked, b.Refused, b.Lost)
	printLatency(w, "  ack latency", b.AckLatency)
	for _, e := range b.Errors {
		fmt.Fprintf(w, "  error        %s\n", e)
	}
	printTargets(w, h.Targets)
}
