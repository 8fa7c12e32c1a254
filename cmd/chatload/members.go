package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// fanoutRoom is one room's shared state.
type fanoutRoom struct {
	name   string
	budget int64        // most messages its senders send (rate × duration)
	next   atomic.Int64 // last sequence number handed out
	sent   atomic.Int64 // message frames written

	mu    sync.Mutex
	acked bitset // sequence numbers the server acknowledged
	ackN  int64

	receivers []*receiver // the ready ones, fixed before sending starts
}

// ack records that the server acknowledged seq; it reports false for a
// second acknowledgement of the same message.
func (r *fanoutRoom) ack(seq int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.acked.set(seq) {
		return false
	}
	r.ackN++
	return true
}

func (r *fanoutRoom) ackCount() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ackN
}

// fanoutRun is the state every socket of one fanout run shares.
type fanoutRun struct {
	o          *options
	runID      string // in every payload: messages of other runs are not counted
	rooms      []*fanoutRoom
	latency    *shardedHistogram // send to delivery, every receiver
	ackLatency *shardedHistogram // send to acknowledgement, every sender
	delivered  atomic.Int64      // unique deliveries of this run's messages, for the drain
	acked      atomic.Int64
	dupAcks    atomic.Int64
	refused    atomic.Int64 // error frames to senders: a send the server did not take
	errFrames  atomic.Int64
	errTexts   *errorTally
}

// member is what receivers and senders have in common: a socket in a room
// that is ready once the server confirms the join.
type member struct {
	run       *fanoutRun
	room      *fanoutRoom
	idx       int // receiver index, or sender index carried in payloads
	conn      *loadConn
	ready     chan struct{}
	readyOnce sync.Once
}

func (m *member) markReady() { m.readyOnce.Do(func() { close(m.ready) }) }

// common handles the events both roles care about; it reports whether ev was one.
func (m *member) common(ev event) bool {
	switch ev.kind {
	case evJoined:
		if ev.room == m.room.name {
			m.markReady()
		}
		return true
	case evError:
		m.run.errFrames.Add(1)
		m.run.errTexts.add(fmt.Errorf("server error frame: %s", ev.text))
		return true
	}
	return ev.kind != evMessage
}

// inRoom reports whether a message event belongs to the member's room (the
// seed has only one room; securechat sockets also sit in general).
func (m *member) inRoom(ev event) bool {
	return m.run.o.target == targetSeed || ev.room == m.room.name
}

// receiver counts what one receiving socket got. Only its reader goroutine
// writes the fields; they are read after it has returned.
type receiver struct {
	member
	seen      bitset
	delivered int64 // unique deliveries of this run's messages
	dups      int64
	foreign   int64 // messages in the room that are not this run's
	lastNs    int64 // when the last delivery arrived
}

func (r *receiver) onFrame(data []byte) error {
	return decodeFrame(r.run.o.target, data, r.onEvent)
}

func (r *receiver) onEvent(ev event) {
	if r.common(ev) || !r.inRoom(ev) || ev.own {
		return
	}
	now := time.Now().UnixNano()
	p, ok := parsePayload(ev.text)
	if !ok || p.run != r.run.runID || p.seq < 1 || p.seq > r.room.budget {
		r.foreign++
		return
	}
	if r.seen.set(p.seq) {
		r.dups++
		return
	}
	r.delivered++
	r.lastNs = now
	r.run.delivered.Add(1)
	r.run.latency.record(r.idx, now-p.sentNs)
}

// sender writes messages on a ticker and counts its acknowledgements.
type sender struct {
	member
	writeErr error // set by the send loop before it returns
}

func (s *sender) onFrame(data []byte) error {
	return decodeFrame(s.run.o.target, data, s.onEvent)
}

func (s *sender) onEvent(ev event) {
	if ev.kind == evError {
		s.run.refused.Add(1)
	}
	if s.common(ev) || !s.inRoom(ev) {
		return
	}
	now := time.Now().UnixNano()
	p, ok := parsePayload(ev.text)
	if !ok || p.run != s.run.runID || p.sender != s.idx {
		return // someone else's message: read and dropped
	}
	if !s.room.ack(p.seq) {
		s.run.dupAcks.Add(1)
		return
	}
	s.run.acked.Add(1)
	s.run.ackLatency.record(s.idx, now-p.sentNs)
}

// sendLoop sends one message per interval, after waiting offset so the room's
// senders take turns instead of sending together, until the room's budget is
// spent, until end, or until ctx ends.
func (s *sender) sendLoop(ctx context.Context, start time.Time, offset, interval time.Duration, end <-chan struct{}) {
	o := s.run.o
	select {
	case <-time.After(time.Until(start.Add(offset))):
	case <-end:
		return
	case <-ctx.Done():
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	buf := make([]byte, 0, max(o.size, payloadMaxHeader)+1)
	for {
		seq := s.room.next.Add(1)
		if seq > s.room.budget {
			return
		}
		buf = appendPayload(buf[:0], payload{run: s.run.runID, sender: s.idx, seq: seq, sentNs: time.Now().UnixNano()}, o.size)
		s.conn.ws.SetWriteDeadline(time.Now().Add(sendWriteWait))
		if err := s.conn.ws.WriteMessage(websocket.TextMessage, sendFrame(o.target, s.room.name, string(buf))); err != nil {
			s.writeErr = fmt.Errorf("send message: %w", err)
			return
		}
		s.room.sent.Add(1)
		select {
		case <-tick.C:
		case <-end:
			return
		case <-ctx.Done():
			return
		}
	}
}
