package chat

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"securechat/app/metrics"
)

// Client is one socket. Its read loop runs on a goroutine of its own, which
// Hub.Serve starts, and is the only reader; its write pump runs only while it
// has something to send, and is the only writer of the connection. The
// package comment (doc.go) lists its goroutines, timers and closes.
type Client struct {
	hub  *Hub
	conn *websocket.Conn
	br   *bufio.Reader // what gorilla reads through, when known (see awaitFrame)
	echo bool          // the recipe's /secured-ws: plain-text echo instead of the protocol

	mu        sync.Mutex
	peer      Peer
	queue     []outFrame
	spare     []outFrame // the other half of a double buffer, so the pump does not allocate
	writing   bool
	closing   bool          // a close is queued or sent: nothing else is queued
	closeCode CloseCode     // the code the server closed with, for the log
	drained   chan struct{} // closed by the pump when the queue empties or bytes are written, if someone waits
	rooms     map[string]struct{}
	removed   uint64 // removals of the user from a room that reached this socket (removeFromRoom)
	expiry    Timer
	// queueBytes is the data in queue; flightBytes what the pump took and is
	// writing. Their sum is bounded by Limits.SendQueueBytes: a frame's bytes
	// are held until the connection has taken them.
	queueBytes  int
	flightBytes int

	// Touched only by the read loop.
	strikes     int
	strikeStart time.Time
	// The room and time of the last typing frame passed on, so a flood of
	// them for one room is dropped without taking the hub's or the room's
	// lock (the room's member keeps the time per room: notify.go).
	typingRoom string
	typingAt   time.Time

	closeOnce sync.Once
	closed    chan struct{}
	closeSent atomic.Bool // the close frame was written

	// Parking (Hub.read, park, wake): unpark takes back the Poller's wait
	// of a parked socket; connClosed is set by closeConn, after which the
	// socket never parks. Both under mu.
	unpark     func() bool
	connClosed bool
	wakeFn     func()       // c.wake, made once: the Poller is handed it at each park
	done       func()       // Serve's done, run when the socket has ended
	lastRead   atomic.Int64 // when the peer last sent a frame or pong, unix ns (silentFor)
}

type frameKind uint8

const (
	kindData frameKind = iota
	kindPing
	kindClose
)

type outFrame struct {
	kind frameKind
	data []byte
	code CloseCode
}

func newClient(h *Hub, conn *websocket.Conn, br *bufio.Reader, p Peer) *Client {
	c := &Client{hub: h, conn: conn, br: br, peer: p, rooms: make(map[string]struct{}), closed: make(chan struct{})}
	c.wakeFn = c.wake
	c.expiry = h.afterFunc(p.ExpiresAt.Sub(h.now()), c.expire)
	return c
}

// send queues a data frame. A socket whose queue is full, in frames or in
// bytes, has fallen behind: it is closed with 1013 rather than let it hold up
// its rooms or hold the server's memory. O(1) and allocation-free (but for
// the queue's growth), as the fan-out calls it once per member.
func (c *Client) send(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sendLocked(frame)
}

// sendIn queues frame only if the socket is still in room: what answers a
// join must not follow the removed frame of a removal that came meanwhile.
func (c *Client) sendIn(room string, frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.rooms[room]; ok {
		c.sendLocked(frame)
	}
}

// sendUnlessRemoved queues frame only if no removal of the user reached the
// socket since c.removals was removals (an answer read before it must not
// follow it).
func (c *Client) sendUnlessRemoved(removals uint64, frame []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed != removals {
		return false
	}
	c.sendLocked(frame)
	return true
}

// enter records that the socket is in room, unless a removal of the user
// reached it since c.removals was removals. The room's lock is held (the
// order is room, then client), so a removal either comes first and the
// socket stays out, or comes after and finds it in.
func (c *Client) enter(room string, removals uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed != removals {
		return false
	}
	c.rooms[room] = struct{}{}
	return true
}

func (c *Client) sendLocked(frame []byte) {
	if c.closing {
		return
	}
	if len(c.queue) >= c.hub.limits.SendQueue {
		c.hub.metrics.QueueDropped(metrics.BoundFrames)
		c.queueCloseLocked(CloseTryLater)
		return
	}
	if held := c.queueBytes + c.flightBytes; held > 0 && held+len(frame) > c.hub.limits.SendQueueBytes {
		c.hub.metrics.QueueDropped(metrics.BoundBytes)
		c.queueCloseLocked(CloseTryLater)
		return
	}
	c.queue = append(c.queue, outFrame{kind: kindData, data: frame})
	c.queueBytes += len(frame)
	c.startPumpLocked()
}

// queuedBytes is what the socket holds: queued and being written.
func (c *Client) queuedBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queueBytes + c.flightBytes
}

// sendWait queues a frame after waiting for the queue to drain to half (in
// frames and in bytes), for bulk senders such as a replay that must not
// overflow it. A frame of at most a quarter of the byte bound then always fits.
// The frame is for room: if the socket is no longer in it (removed), it is
// not queued and the answer is forbidden.
func (c *Client) sendWait(ctx context.Context, room string, frame []byte) error {
	c.mu.Lock()
	for (len(c.queue) >= c.hub.limits.SendQueue/2 || c.queueBytes+c.flightBytes >= c.hub.limits.SendQueueBytes/2) && !c.closing {
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		ch := c.drained
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.closed:
			return errors.New("socket closed")
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	defer c.mu.Unlock()
	if _, ok := c.rooms[room]; !ok {
		return forbidden(room)
	}
	c.sendLocked(frame)
	return nil
}

func (c *Client) ping() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.queue = append(c.queue, outFrame{kind: kindPing})
	c.startPumpLocked()
}

// closeWith closes the socket with code. A code that drops the queue (a kick
// must not wait behind a backlog) puts the close frame first; otherwise the
// queue is written before it.
func (c *Client) closeWith(code CloseCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queueCloseLocked(code)
}

func (c *Client) queueCloseLocked(code CloseCode) {
	if c.closing {
		return
	}
	c.closing = true
	c.closeCode = code
	urgent := code.DropsQueue()
	if urgent {
		clear(c.queue)
		c.queue = c.queue[:0]
		c.queueBytes = 0
	}
	c.queue = append(c.queue, outFrame{kind: kindClose, code: code})
	c.startPumpLocked()
	// If the pump is stuck writing to a peer that does not read, the close
	// frame cannot get out; the connection goes anyway.
	wait := closeGrace
	if !urgent {
		wait += writeWait
	}
	time.AfterFunc(wait, c.abortIfStuck)
}

// abortIfStuck ends a connection whose close frame could not be written: the
// peer is not reading, so the kernel would otherwise hold its backlog (up to
// megabytes) and keep probing it. A reset frees it at once.
func (c *Client) abortIfStuck() {
	if !c.closeSent.Load() {
		if tc, ok := c.conn.NetConn().(interface{ SetLinger(int) error }); ok {
			tc.SetLinger(0)
		}
	}
	c.closeConn()
}

func (c *Client) startPumpLocked() {
	if !c.writing {
		c.writing = true
		go c.pump()
	}
}

// pump writes queued frames until the queue is empty, merging consecutive data
// frames into one WebSocket frame (objects separated by newlines) with one
// write deadline per batch.
func (c *Client) pump() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		batch := c.queue
		c.queue, c.spare = c.spare[:0], nil
		c.flightBytes, c.queueBytes = c.queueBytes, 0
		c.signalDrainedLocked()
		c.mu.Unlock()

		err := c.writeBatch(batch)
		clear(batch)
		c.mu.Lock()
		c.spare = batch[:0]
		c.flightBytes = 0
		c.signalDrainedLocked() // a sendWait may be waiting for the bytes written
		c.mu.Unlock()
		if err != nil {
			c.closeConn()
			c.mu.Lock()
			c.closing = true
			clear(c.queue)
			c.queue = c.queue[:0]
			c.queueBytes = 0
			c.writing = false
			c.mu.Unlock()
			return
		}
	}
}

func (c *Client) signalDrainedLocked() {
	if c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

func (c *Client) writeBatch(batch []outFrame) error {
	deadline := time.Now().Add(writeWait)
	if err := c.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	for i := 0; i < len(batch); {
		f := batch[i]
		switch f.kind {
		case kindPing:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, deadline); err != nil {
				return fmt.Errorf("write ping: %w", err)
			}
			i++
		case kindClose:
			msg := websocket.FormatCloseMessage(int(f.code), f.code.Reason())
			err := c.conn.WriteControl(websocket.CloseMessage, msg, deadline)
			if err != nil {
				return fmt.Errorf("write close: %w", err)
			}
			c.closeSent.Store(true)
			// Give the peer a moment to answer the close, then drop the connection.
			time.AfterFunc(closeGrace, c.closeConn)
			return nil
		default:
			w, err := c.conn.NextWriter(websocket.TextMessage)
			if err != nil {
				return fmt.Errorf("write frame: %w", err)
			}
			size := 0
			for j := i; i < len(batch) && batch[i].kind == kindData && (i == j || size+len(batch[i].data) <= maxBatchBytes); i++ {
				if i > j {
					io.WriteString(w, "\n")
				}
				w.Write(batch[i].data)
				size += len(batch[i].data) + 1
			}
			if err := w.Close(); err != nil {
				return fmt.Errorf("write frame: %w", err)
			}
		}
	}
	return nil
}

// closeConn closes the connection, once. A parked socket has no reader to
// notice, so its wait is taken back first (the Poller must stop watching
// the descriptor before it closes) and its read loop started, to fail and
// end the socket as any reader's would.
func (c *Client) closeConn() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.connClosed = true
		unpark := c.unpark
		c.unpark = nil
		c.mu.Unlock()
		parked := unpark != nil && unpark()
		c.conn.Close()
		close(c.closed)
		if parked {
			c.wakeFn() // through the field: a call of wake here would make clientFrames an initialization cycle
		}
	})
}

func (c *Client) waitClosed() { <-c.closed }

func (c *Client) stopTimers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expiry.Stop()
}

// expire runs at the socket's expiry: the session may have been renewed since
// (by the page, on any node), in which case the socket lives on.
func (c *Client) expire() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if exp, err := c.hub.sessions.Expiry(ctx, c.peer.SessionID); err == nil && exp.After(c.hub.now()) {
		c.extend(exp)
		return
	}
	c.closeWith(CloseAuthEnded)
}

// extend moves the socket's expiry later after its session was refreshed.
func (c *Client) extend(exp time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp.After(c.peer.ExpiresAt) {
		c.peer.ExpiresAt = exp
		c.expiry.Reset(exp.Sub(c.hub.now()))
	}
}

// recheckSession runs once the socket is registered, if a session was kicked
// since the gate checked this one (Hub.needsRecheck): the session may have
// been revoked after the gate checked it and before KickSession could see
// the socket, and then nothing else would close it.
func (c *Client) recheckSession() {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := c.hub.sessions.Expiry(ctx, c.peer.SessionID); err != nil {
		c.hub.log.Info("session ended before the socket registered", "user", c.peer.User, "err", err)
		c.closeWith(CloseAuthEnded)
	}
}
