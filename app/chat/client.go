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
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"securechat/app/metrics"
	"securechat/app/store"
)

// Client is one socket. Its read loop runs in the goroutine that called
// Hub.Serve; its write pump runs only while it has something to send, and is
// the only writer of the connection.
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
	expiry    Timer
	// queueBytes is the data in queue; flightBytes what the pump took and is
	// writing. Their sum is bounded by Limits.SendQueueBytes: a frame's bytes
	// are held until the connection has taken them.
	queueBytes  int
	flightBytes int

	// Touched only by the read loop.
	strikes     int
	strikeStart time.Time

	closeOnce sync.Once
	closed    chan struct{}
	closeSent atomic.Bool // the close frame was written
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
	c.expiry = h.afterFunc(p.ExpiresAt.Sub(h.now()), c.expire)
	return c
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
	c.closeWith(CloseAuthEnded, true)
}

// recheckSession runs once the socket is registered: the session may have been
// revoked after the gate checked it and before KickSession could see the
// socket, and then nothing else would close it.
func (c *Client) recheckSession() {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := c.hub.sessions.Expiry(ctx, c.peer.SessionID); err != nil {
		c.hub.log.Info("session ended before the socket registered", "user", c.peer.User, "err", err)
		c.closeWith(CloseAuthEnded, true)
	}
}

// send queues a data frame. A socket whose queue is full, in frames or in
// bytes, has fallen behind: it is closed with 1013 rather than let it hold up
// its rooms or hold the server's memory. O(1) and allocation-free (but for
// the queue's growth), as the fan-out calls it once per member.
func (c *Client) send(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	if len(c.queue) >= c.hub.limits.SendQueue {
		c.hub.metrics.QueueDropped(metrics.BoundFrames)
		c.queueCloseLocked(CloseTryLater, true)
		return
	}
	if held := c.queueBytes + c.flightBytes; held > 0 && held+len(frame) > c.hub.limits.SendQueueBytes {
		c.hub.metrics.QueueDropped(metrics.BoundBytes)
		c.queueCloseLocked(CloseTryLater, true)
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
func (c *Client) sendWait(ctx context.Context, frame []byte) error {
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
	c.mu.Unlock()
	c.send(frame)
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

// closeWith closes the socket with code. urgent drops what is queued (a kick
// must not wait behind a backlog); otherwise the queue is written first.
func (c *Client) closeWith(code CloseCode, urgent bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queueCloseLocked(code, urgent)
}

func (c *Client) queueCloseLocked(code CloseCode, urgent bool) {
	if c.closing {
		return
	}
	c.closing = true
	c.closeCode = code
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

// extend moves the socket's expiry later after its session was refreshed.
func (c *Client) extend(exp time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp.After(c.peer.ExpiresAt) {
		c.peer.ExpiresAt = exp
		c.expiry.Reset(exp.Sub(c.hub.now()))
	}
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

func (c *Client) closeConn() {
	c.closeOnce.Do(func() {
		c.conn.Close()
		close(c.closed)
	})
}

func (c *Client) waitClosed() { <-c.closed }

func (c *Client) stopTimers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expiry.Stop()
}

// Frame header bits of RFC 6455, for the pongs awaitFrame reads itself.
const (
	frameFin    = 0x80
	frameMasked = 0x80
	opPong      = 0xA
)

// awaitFrame blocks until the next frame has begun to arrive. Most of a
// socket's life is spent here, so it blocks with a stack much shallower than
// gorilla's reader, one the runtime shrinks to a few kilobytes while the
// socket is idle. A pong (the answer to the server's ping) is read here too,
// whole, so a ping does not leave the goroutine waiting deep inside gorilla
// until the next message. It works at a frame boundary, where ReadMessage
// leaves the reader.
func (c *Client) awaitFrame() error {
	if c.br == nil {
		return nil
	}
	for {
		hdr, err := c.br.Peek(2)
		if err != nil {
			return err
		}
		n := int(hdr[1] & 0x7f)
		if hdr[0] != frameFin|opPong || hdr[1]&frameMasked == 0 || n > 125 {
			return nil // gorilla reads everything else
		}
		if _, err := c.br.Peek(2 + 4 + n); err != nil {
			return err
		}
		c.br.Discard(2 + 4 + n)
		if err := c.conn.SetReadDeadline(time.Now().Add(pongWait)); err != nil {
			return err
		}
	}
}

// readLoop reads client frames until the socket ends and returns the close
// code, for the log.
func (c *Client) readLoop(ctx context.Context) CloseCode {
	c.conn.SetReadLimit(c.hub.limits.ReadLimit)
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	code := closeNormalClose
	for {
		err := c.awaitFrame()
		var mt int
		var data []byte
		if err == nil {
			mt, data, err = c.conn.ReadMessage()
		}
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				// gorilla has already sent 1009.
				code = CloseTooBig
				c.mu.Lock()
				c.closing = true
				c.mu.Unlock()
			case errors.As(err, &ce):
				code = CloseCode(ce.Code)
			}
			break
		}
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		var f inbound
		switch {
		case mt != websocket.TextMessage:
			err = badFrame("bad_frame", "only text frames carry the protocol")
		case c.echo:
			c.echoFrame(data)
			continue
		default:
			f, err = decodeFrame(data, c.hub.limits.MaxText)
		}
		if err != nil && !c.allowRequest() {
			// A flood of garbage is limited like a flood of requests.
			err = rateLimited()
		} else if err == nil {
			err = c.admit(f)
		}
		if err == nil {
			err = c.handle(ctx, f)
		}
		// An error answering a send names it by its ref, if it had one.
		var ref string
		if f.Type == "send" {
			ref = f.Ref
		}
		var pe *protocolError
		if errors.As(err, &pe) {
			c.send(encodeErrorRef(pe.Code, pe.Message, ref))
			if pe.Code == codeRateLimited && c.strike() {
				c.hub.log.Warn("abuse", "user", c.peer.User, "last", pe.Code)
				// Not urgent: the warnings already queued go out first.
				c.closeWith(ClosePolicy, false)
			}
		} else if err != nil {
			c.hub.log.Error("handle frame", "user", c.peer.User, "type", f.Type, "err", err)
			c.send(encodeErrorRef("unavailable", "the server could not do that now; try again", ref))
		}
	}
	c.mu.Lock()
	if c.closing && c.closeCode != 0 {
		code = c.closeCode
	}
	c.mu.Unlock()
	c.closeConn()
	return code
}

// echoFrame answers one text frame of /secured-ws. Invalid UTF-8 closes the
// socket with 1007 (RFC 6455 forbids it in a text frame; echoing it would make
// the server the one that breaks the rule). The frames count against the
// user's request rate; one past it is dropped unanswered and is a strike,
// and sustained abuse closes the socket with 1008 as on /ws.
func (c *Client) echoFrame(data []byte) {
	if !utf8.Valid(data) {
		c.closeWith(CloseInvalidData, false)
		return
	}
	if !c.allowRequest() {
		if c.strike() {
			c.hub.log.Warn("abuse", "user", c.peer.User, "last", codeRateLimited)
			c.closeWith(ClosePolicy, false)
		}
		return
	}
	c.send(append([]byte("You wrote: "), data...))
}

// admit applies the rate limits: messages per user, other frames per user
// too, each across all the user's sockets.
func (c *Client) admit(f inbound) error {
	if f.Type == "send" {
		if ok, retry := c.hub.rates.Allow(c.peer.User); !ok {
			return badFrame(codeRateLimited, "too many messages; wait %.1fs", retry.Seconds())
		}
		return nil
	}
	if !c.allowRequest() {
		return rateLimited()
	}
	return nil
}

// allowRequest takes one frame other than a message from the user's bucket:
// a user's 20 sockets share one request rate, not 20.
func (c *Client) allowRequest() bool {
	if ok, _ := c.hub.requests.Allow(c.peer.User); !ok {
		c.hub.metrics.RequestRefused()
		return false
	}
	return true
}

// codeRateLimited is the error code of a frame refused by a rate limit; more
// of them than maxStrikes within strikeWindow close the socket with 1008.
const codeRateLimited = "rate_limited"

func rateLimited() error { return badFrame(codeRateLimited, "too many requests; slow down") }

// strike counts a rate-limited frame and reports whether the socket has now
// passed the bound of sustained abuse; only once, so a flood that goes on
// while the close is written logs one line, not one per frame.
func (c *Client) strike() bool {
	now := c.hub.now()
	if now.Sub(c.strikeStart) > strikeWindow {
		c.strikeStart, c.strikes = now, 0
	}
	c.strikes++
	return c.strikes == maxStrikes+1
}

func (c *Client) handle(ctx context.Context, f inbound) error {
	switch f.Type {
	case "send":
		if !c.inRoom(f.Room) {
			return badFrame("not_joined", "join %s before sending to it", f.Room)
		}
		return c.hub.submit(c, f.Room, f.Text, f.Ref)
	case "join":
		return c.join(ctx, f.Room, f.Since)
	case "leave":
		if !c.inRoom(f.Room) {
			return badFrame("not_joined", "not in %s", f.Room)
		}
		c.mu.Lock()
		delete(c.rooms, f.Room)
		c.mu.Unlock()
		c.hub.leave(c, f.Room)
		return nil
	case "history":
		var msgs []store.Message
		err := offload(ctx, func(ctx context.Context) (err error) {
			msgs, err = c.hub.store.MessagesBefore(ctx, f.Room, f.Before, f.Limit)
			return err
		})
		if err != nil {
			return err
		}
		c.send(encodeHistory(f.Room, msgs, c.hub.pageBytes))
		return nil
	case "refresh":
		return c.refresh(ctx, f.Token)
	case "rooms":
		return c.hub.listRooms(ctx, c, f)
	}
	return nil
}

// join makes c a member of room. Without since it sends the room's recent
// history; with since it replays every later message as message frames. Live
// messages that arrive meanwhile are held back and sent after, so the socket
// sees each id once and in order. Joining a room again with since replays what
// came after since and before the socket's live delivery began.
func (c *Client) join(ctx context.Context, name string, since *int64) error {
	if since == nil {
		return c.joinRecent(ctx, name)
	}
	var r *room
	var m *member
	var known int64
	var existed, ok bool
	for !ok {
		var err error
		if r, err = c.hub.openRoom(ctx, name, c.peer.User); err != nil {
			return fmt.Errorf("join %s: %w", name, err)
		}
		m, known, existed, ok = r.startReplay(c)
	}
	c.mu.Lock()
	c.rooms[name] = struct{}{}
	c.mu.Unlock()

	var last int64
	err := offload(ctx, func(ctx context.Context) (err error) {
		last, err = c.replay(ctx, name, *since, known, existed, m.liveFrom)
		return err
	})
	if err != nil {
		// Nothing was promised yet: take the membership back and report.
		if !existed {
			c.mu.Lock()
			delete(c.rooms, name)
			c.mu.Unlock()
			c.hub.leave(c, name)
		} else {
			r.finishReplay(c, m, m.liveFrom)
		}
		return fmt.Errorf("join %s: %w", name, err)
	}
	r.finishReplay(c, m, last)
	c.send(encodeJoined(name, last))
	c.send(r.presenceFrame())
	return nil
}

// joinRecent joins without since: the room's recent history comes from
// memory, queued in the same step that makes the socket a member, so it needs
// no store query and no replay.
func (c *Client) joinRecent(ctx context.Context, name string) error {
	for {
		r, err := c.hub.openRoom(ctx, name, c.peer.User)
		if err != nil {
			return fmt.Errorf("join %s: %w", name, err)
		}
		last, ok := r.joinLive(c)
		if !ok {
			continue // retired meanwhile: open it again
		}
		c.mu.Lock()
		c.rooms[name] = struct{}{}
		c.mu.Unlock()
		c.send(encodeJoined(name, last))
		c.send(r.presenceFrame())
		return nil
	}
}

// replay sends every message of room after since and returns the highest id
// it covered. For a socket already in the room (existed) it sends only what
// came before its live delivery began. known is the newest id the room had
// delivered when the replay began.
func (c *Client) replay(ctx context.Context, name string, since, known int64, existed bool, liveFrom int64) (int64, error) {
	if since > known {
		// A since past the room's newest message would mark every later
		// message as seen, and the socket would never hear the room again,
		// not even its own messages. It is clamped to the newest stored id
		// (the store may be ahead of this node's delivery).
		head, _, err := c.hub.store.RoomHead(ctx, name)
		if err != nil {
			return 0, fmt.Errorf("room head: %w", err)
		}
		since = min(since, max(known, head))
	}
	last := since
	for {
		msgs, err := c.hub.store.MessagesAfter(ctx, name, last, maxHistory)
		if err != nil {
			return 0, err
		}
		if existed {
			n := 0
			for n < len(msgs) && msgs[n].ID <= liveFrom {
				n++
			}
			msgs = msgs[:n]
		}
		if len(msgs) == 0 {
			break
		}
		// Each batch is one frame of at most a page of bytes (at least one message).
		frame, n := encodeMessages(msgs, c.hub.pageBytes)
		if err := c.sendWait(ctx, frame); err != nil {
			return 0, err
		}
		last = msgs[n-1].ID
		if n == len(msgs) && len(msgs) < maxHistory {
			break
		}
	}
	if existed && last < liveFrom {
		return liveFrom, nil
	}
	return last, nil
}

func (c *Client) refresh(ctx context.Context, token string) error {
	var p Peer
	err := offload(ctx, func(ctx context.Context) (err error) {
		p, err = c.hub.sessions.Refresh(ctx, token)
		return err
	})
	if err != nil {
		return badFrame("bad_token", "that token does not authenticate")
	}
	c.mu.Lock()
	if p.SessionID != c.peer.SessionID || p.User != c.peer.User {
		c.mu.Unlock()
		return badFrame("bad_token", "a refresh token must belong to the socket's session")
	}
	if p.ExpiresAt.After(c.peer.ExpiresAt) {
		c.peer.ExpiresAt = p.ExpiresAt
		c.expiry.Reset(p.ExpiresAt.Sub(c.hub.now()))
	}
	exp := c.peer.ExpiresAt
	c.mu.Unlock()
	c.send(encodeRefreshed(exp))
	return nil
}

func (c *Client) inRoom(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.rooms[name]
	return ok
}

func (c *Client) roomNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.rooms))
	for n := range c.rooms {
		out = append(out, n)
	}
	return out
}

// storeTimeout bounds one store call made for a socket.
const storeTimeout = 10 * time.Second

// offload runs a store call on a goroutine of its own and waits for it. The
// store's call stacks are deep (SQLite is translated C); run on a socket's
// long-lived reader goroutine they would leave its stack grown for as long as
// the socket lives, and with thousands of sockets that is most of the memory.
func offload(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	return <-done
}
