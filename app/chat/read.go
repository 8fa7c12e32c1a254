package chat

import (
	"context"
	"errors"
	"math"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// Frame header bits of RFC 6455, for the pongs awaitFrame reads itself.
const (
	frameFin    = 0x80
	frameMasked = 0x80
	opPong      = 0xA
)

// errParked ends a read loop whose socket was handed to the Poller.
var errParked = errors.New("parked")

// awaitFrame returns when the next frame has begun to arrive, or errParked
// once the socket waits for it without a goroutine (park). Most of a
// socket's life is spent waiting, so without a Poller it blocks with a stack
// much shallower than gorilla's reader, one the runtime shrinks to 4 KiB
// while the socket is idle. A pong (the answer to the server's ping) is read
// here too, whole, so a ping does not leave the socket waiting deep inside
// gorilla until the next message. It works at a frame boundary, where
// ReadMessage leaves the reader. c.br must be the reader gorilla reads
// through (reader.go says how that is ensured); nil skips the wait.
//
// A socket just woken does not park before it reads: its bytes are in the
// kernel, not yet in c.br, and the Poller would only report them again.
func (c *Client) awaitFrame(mayPark bool) error {
	if c.br == nil {
		return nil
	}
	for ; ; mayPark = true {
		if mayPark && c.park() {
			return errParked
		}
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
		if err := c.heard(); err != nil {
			return err
		}
	}
}

// park hands the wait for the socket's next bytes to the hub's Poller, if
// there is one and nothing is buffered above the connection, and reports
// whether it did: the caller's goroutine then returns, and wake starts the
// read loop again when bytes arrive. A closed connection never parks.
func (c *Client) park() bool {
	sc, ok := c.parkable()
	if !ok || c.br.Buffered() > 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.connClosed {
		return false
	}
	cancel, err := c.hub.poller.Wait(sc, c.wakeFn)
	if err != nil {
		return false // read on this goroutine, the ordinary way
	}
	c.unpark = cancel
	return true
}

// parkable reports whether the socket can park: the hub has a Poller, the
// hub reads through its own buffer, and the Poller can watch the connection.
func (c *Client) parkable() (syscall.Conn, bool) {
	if c.hub.poller == nil || c.br == nil {
		return nil, false
	}
	sc, ok := c.conn.NetConn().(syscall.Conn)
	return sc, ok
}

// wake is the Poller's call when a parked socket has bytes (or failed): the
// read loop goes on, on a new goroutine.
func (c *Client) wake() { go c.hub.readOn(c) }

// startReading sets what the read loop keeps across parks: the read limit,
// and the pong wait, which heard moves on.
func (c *Client) startReading() {
	c.conn.SetReadLimit(c.hub.limits.ReadLimit)
	c.conn.SetPongHandler(func(string) error { return c.heard() })
	c.heard()
}

// heard records that the peer sent something: it is alive for another
// pongWait (the read deadline of a blocked reader, silentFor for a parked one).
func (c *Client) heard() error {
	now := time.Now()
	c.lastRead.Store(now.UnixNano())
	return c.conn.SetReadDeadline(now.Add(pongWait))
}

// silentFor is how long the peer has sent nothing at now.
func (c *Client) silentFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, c.lastRead.Load()))
}

// readLoop reads client frames until the socket ends, and returns the close
// code, for the log; or until it parks, and reports that.
func (c *Client) readLoop(ctx context.Context) (code CloseCode, parked bool) {
	code = closeNormalClose
	for woken := true; ; woken = false {
		err := c.awaitFrame(!woken)
		if err == errParked {
			return 0, true
		}
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
		c.heard()
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
		// An error answering a send (or an edit or delete) names it by its ref, if it had one.
		var ref string
		if f.Type == typeSend || f.Type == typeEdit || f.Type == typeDelete {
			ref = f.Ref
		}
		var pe *protocolError
		if errors.As(err, &pe) {
			c.send(encodeProblem(pe, ref))
			if pe.Code == codeRateLimited && c.strike() {
				c.hub.log.Warn("abuse", "user", c.peer.User, "last", pe.Code)
				// 1008 keeps the queue: the warnings already queued go out first.
				c.closeWith(ClosePolicy)
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
	return code, false
}

// echoFrame answers one text frame of /secured-ws. Invalid UTF-8 closes the
// socket with 1007 (RFC 6455 forbids it in a text frame; echoing it would make
// the server the one that breaks the rule). The frames count against the
// user's request rate; one past it is dropped unanswered and is a strike,
// and sustained abuse closes the socket with 1008 as on /ws.
func (c *Client) echoFrame(data []byte) {
	if !utf8.Valid(data) {
		c.closeWith(CloseInvalidData)
		return
	}
	if !c.allowRequest() {
		if c.strike() {
			c.hub.log.Warn("abuse", "user", c.peer.User, "last", codeRateLimited)
			c.closeWith(ClosePolicy)
		}
		return
	}
	c.send(append([]byte("You wrote: "), data...))
}

// admit applies the rate limits the dispatch table names: messages per user,
// other frames per user too, each across all the user's sockets.
func (c *Client) admit(f inbound) error {
	if clientFrames[f.Type].ownLimit {
		return nil
	}
	if clientFrames[f.Type].message {
		if ok, retry := c.hub.rates.Allow(c.peer.User); !ok {
			// Whole seconds, rounded up: "wait 0.0s" reads as "now", and fails again.
			secs := max(1, int(math.Ceil(retry.Seconds())))
			pe := badFrame(codeRateLimited, "too many messages; wait %ds", secs)
			pe.RetryAfter = secs
			return pe
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
