package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// readyTimeout bounds the wait for every socket to be in its room after
	// the last handshake (securechat answers a join with `joined`).
	readyTimeout = 60 * time.Second
	// sendWriteWait bounds writing one message frame.
	sendWriteWait = 10 * time.Second
	// drainPoll is how often the drain phase checks whether everything arrived.
	drainPoll = 50 * time.Millisecond
	// histogramShards spreads the receivers' latency recording over this many locks.
	histogramShards = 64
)

// fanoutResult is what `fanout` measured.
type fanoutResult struct {
	Rooms               int            `json:"rooms"`
	ReceiversPerRoom    int            `json:"receivers_per_room"`
	SendersPerRoom      int            `json:"senders_per_room"`
	Users               int            `json:"users"`
	RatePerRoom         float64        `json:"rate_per_room"`
	SizeBytes           int            `json:"size_bytes"`
	Dial                dialStats      `json:"dial"`
	NotReady            int            `json:"not_ready"`
	SendSeconds         float64        `json:"send_seconds"`
	Sent                int64          `json:"sent"`
	SentPerSecond       float64        `json:"sent_per_second"`
	SendErrors          []string       `json:"send_errors,omitempty"`
	Acked               int64          `json:"acked"`
	DuplicateAcks       int64          `json:"duplicate_acks"`
	Refused             int64          `json:"refused"` // sends answered with an error frame (rate limits)
	AckLatency          latencySummary `json:"ack_latency"`
	Expected            int64          `json:"expected"`  // acked messages × ready receivers in their room
	Delivered           int64          `json:"delivered"` // of those, how many arrived
	Missing             int64          `json:"missing"`
	LossPct             float64        `json:"loss_pct"`
	UnackedDeliveries   int64          `json:"unacked_deliveries"` // arrived though the sender never saw the ack
	Duplicates          int64          `json:"duplicates"`
	Foreign             int64          `json:"foreign"` // messages in the rooms that were not this run's
	DeliveriesPerSecond float64        `json:"deliveries_per_second"`
	Latency             latencySummary `json:"latency"`
	DrainSeconds        float64        `json:"drain_seconds"`
	CPU                 cpuUse         `json:"cpu"` // while sending and draining
	ErrorFrames         int64          `json:"error_frames"`
	ErrorFrameTexts     []string       `json:"error_frame_texts,omitempty"`
	Drops               dropStats      `json:"drops"`
	RSSBeforeKiB        int64          `json:"rss_before_kib,omitempty"`
	RSSAfterKiB         int64          `json:"rss_after_kib,omitempty"`
	Storm               *stormResult   `json:"storm,omitempty"`
}

// runFanout fills the rooms with receivers and senders, sends for o.duration
// at o.rate per room, waits for stragglers, and counts what arrived.
func runFanout(ctx context.Context, o *options, log io.Writer) (*fanoutResult, error) {
	tokens, err := prepareTokens(ctx, o, log)
	if err != nil {
		return nil, err
	}
	res := &fanoutResult{Rooms: o.rooms, ReceiversPerRoom: o.receivers, SendersPerRoom: o.senders,
		Users: o.users, RatePerRoom: o.rate, SizeBytes: o.size}
	if o.pid != 0 {
		if res.RSSBeforeKiB, err = readRSS(o.pid); err != nil {
			return nil, err
		}
	}
	run := &fanoutRun{o: o, runID: newRunID(), latency: newShardedHistogram(histogramShards),
		ackLatency: newShardedHistogram(histogramShards), errTexts: newErrorTally()}
	for k := range o.rooms {
		run.rooms = append(run.rooms, &fanoutRoom{name: o.roomName(k), budget: o.budget(), acked: newBitset(o.budget() + 1)})
	}

	// Sockets 0..S·K-1 are the senders, the rest receivers; user = socket mod
	// users, so with at least S·K users every sender has a user of its own.
	nSenders := o.rooms * o.senders
	total := o.socketCount()
	senders := make([]*sender, nSenders)
	receivers := make([]*receiver, total-nSenders)
	perSocket := make([]string, total)
	for i := range perSocket {
		perSocket[i] = tokens[i%len(tokens)]
	}
	fmt.Fprintf(log, "run %s: %d rooms × (%d receivers + %d senders) = %d sockets as %d users\n",
		run.runID, o.rooms, o.receivers, o.senders, total, o.users)
	conns, st := dialAll(ctx, o, perSocket, log, func(i int, ws *websocket.Conn) *loadConn {
		c := newLoadConn(ws)
		var m *member
		var onFrame func([]byte) error
		if i < nSenders {
			s := &sender{member: member{run: run, idx: i, room: run.rooms[i%o.rooms], conn: c, ready: make(chan struct{})}}
			senders[i], m, onFrame = s, &s.member, s.onFrame
		} else {
			j := i - nSenders
			r := &receiver{member: member{run: run, idx: j, room: run.rooms[j%o.rooms], conn: c, ready: make(chan struct{})},
				seen: newBitset(o.budget() + 1)}
			receivers[j], m, onFrame = r, &r.member, r.onFrame
		}
		go c.read(onFrame, nil)
		switch {
		case o.target == targetSeed:
			// The seed has no join: a socket is in the room once accepted
			// (-settle covers the moment before the server lists it).
			m.markReady()
		case m.room.name != "general":
			ws.SetWriteDeadline(time.Now().Add(sendWriteWait))
			if err := ws.WriteMessage(websocket.TextMessage, joinFrame(m.room.name)); err != nil {
				run.errTexts.add(fmt.Errorf("join %s: %w", m.room.name, err))
			}
		}
		return c
	})
	res.Dial = st
	fmt.Fprintf(log, "opened %d sockets in %.1fs (%d failed); waiting for joins\n", st.Opened, st.Seconds, st.Failed)

	// Only sockets in their room by the deadline take part; the others are
	// counted as not ready and closed (so their deliveries do not count
	// towards the drain), and the loss figure is about delivery, not joins.
	readyCtx, cancelReady := context.WithTimeout(ctx, readyTimeout)
	defer cancelReady()
	isReady := func(m *member) bool {
		select {
		case <-m.ready: // checked first: once the deadline has passed, a ready socket still counts
			return true
		default:
		}
		select {
		case <-m.ready:
			return true
		case <-readyCtx.Done():
			return false
		}
	}
	var active []*sender
	for _, s := range senders {
		if s == nil {
			continue
		}
		if isReady(&s.member) {
			active = append(active, s)
		} else {
			res.NotReady++
			s.conn.abandon()
		}
	}
	for _, r := range receivers {
		if r == nil {
			continue
		}
		if isReady(&r.member) {
			r.room.receivers = append(r.room.receivers, r)
		} else {
			res.NotReady++
			r.conn.abandon()
		}
	}
	fmt.Fprintf(log, "%d sockets ready (%d not); settling %v\n", st.Opened-res.NotReady, res.NotReady, o.settle)
	sleepCtx(ctx, o.settle)

	// Send: each room's senders share its rate, each on its own ticker, and
	// the starts are staggered over one interval across every sender of every
	// room, so the load is even rather than in bursts.
	interval := time.Duration(float64(o.senders) / o.rate * float64(time.Second))
	step := time.Duration(float64(time.Second) / (o.rate * float64(o.rooms)))
	end := make(chan struct{})
	var sendWG sync.WaitGroup
	fmt.Fprintf(log, "sending %.1f msgs/s per room (%.1f total) of %d bytes for %v\n", o.rate, o.rate*float64(o.rooms), o.size, o.duration)
	var storm *stormResult
	var stormWG sync.WaitGroup
	if o.stormRate > 0 {
		stormWG.Go(func() { storm = runStorm(ctx, o, o.stormRate, o.duration, log) })
	}
	cpu0 := sampleCPU(o.pid)
	sendStart := time.Now()
	for _, s := range active {
		g := s.idx // sender g sits in room g mod K as its (g div K)-th sender
		sendWG.Go(func() { s.sendLoop(ctx, sendStart, time.Duration(g)*step, interval, end) })
	}
	stopProgress := progress(log, func() string {
		return fmt.Sprintf("sent %d, acked %d, delivered %d", sentTotal(run), run.acked.Load(), run.delivered.Load())
	})
	sleepCtx(ctx, o.duration)
	close(end)
	sendWG.Wait()
	res.SendSeconds = round2(time.Since(sendStart).Seconds())
	stormWG.Wait()
	res.Storm = storm

	// Drain: give acknowledgements and deliveries already under way until
	// everything expected has arrived, or o.drain.
	drainStart := time.Now()
	for time.Since(drainStart) < o.drain && ctx.Err() == nil && !run.complete() {
		sleepCtx(ctx, drainPoll)
	}
	res.DrainSeconds = round2(time.Since(drainStart).Seconds())
	res.CPU = cpuBetween(cpu0, sampleCPU(o.pid))
	stopProgress()
	if o.pid != 0 {
		if res.RSSAfterKiB, err = readRSS(o.pid); err != nil {
			fmt.Fprintln(log, "warning:", err)
		}
	}
	closeAll(conns)

	run.tally(res, sendStart, active)
	res.Drops = collectDrops(conns)
	return res, ctx.Err()
}

// complete reports whether every message sent was acknowledged (or refused)
// and delivered to every ready receiver of its room.
func (run *fanoutRun) complete() bool {
	var sent, want int64
	for _, r := range run.rooms {
		sent += r.sent.Load()
		want += r.ackCount() * int64(len(r.receivers))
	}
	return run.acked.Load()+run.refused.Load() >= sent && run.delivered.Load() >= want
}

func sentTotal(run *fanoutRun) int64 {
	var n int64
	for _, r := range run.rooms {
		n += r.sent.Load()
	}
	return n
}

// tally fills in the counts; every reader and sender has returned.
func (run *fanoutRun) tally(res *fanoutResult, sendStart time.Time, senders []*sender) {
	var last int64
	for _, room := range run.rooms {
		res.Sent += room.sent.Load()
		res.Acked += room.ackN
		for _, r := range room.receivers {
			got := r.seen.countAnd(room.acked)
			res.Expected += room.ackN
			res.Delivered += got
			res.Missing += room.ackN - got
			res.UnackedDeliveries += r.delivered - got
			res.Duplicates += r.dups
			res.Foreign += r.foreign
			last = max(last, r.lastNs)
		}
	}
	errs := newErrorTally()
	for _, s := range senders {
		errs.add(s.writeErr)
	}
	res.SendErrors = errs.list()
	res.SentPerSecond = rate(float64(res.Sent), time.Duration(res.SendSeconds*float64(time.Second)))
	if last > 0 {
		res.DeliveriesPerSecond = rate(float64(res.Delivered+res.UnackedDeliveries), time.Unix(0, last).Sub(sendStart))
	}
	res.LossPct = round2(percentOf(float64(res.Missing), float64(res.Expected)))
	res.DuplicateAcks = run.dupAcks.Load()
	res.Refused = run.refused.Load()
	res.AckLatency = run.ackLatency.merged().summary()
	res.Latency = run.latency.merged().summary()
	res.ErrorFrames = run.errFrames.Load()
	res.ErrorFrameTexts = run.errTexts.list()
}

// newRunID is 8 random hex digits naming this run in its payloads.
func newRunID() string {
	b := make([]byte, 4)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(b)
}
