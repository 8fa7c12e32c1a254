package chat

import (
	"context"
	"errors"
	"math"
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

// awaitFrame blocks until the next frame has begun to arrive. Most of a
// socket's life is spent here, so it blocks with a stack much shallower than
// gorilla's reader, one the runtime shrinks to a few kilobytes while the
// socket is idle. A pong (the answer to the server's ping) is read here too,
// whole, so a ping does not leave the goroutine waiting deep inside gorilla
// until the next message. It works at a frame boundary, where ReadMessage
// leaves the reader. c.br must be the reader gorilla reads through
// (reader.go says how that is ensured); nil skips the wait.
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
	return code
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
