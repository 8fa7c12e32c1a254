package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"securechat/app/admission"
	"securechat/app/auth"
	"securechat/app/chat"
)

// The socket handshakes' paths: routed below, and admitted before routing (admit).
const (
	chatSocketPath = "/ws"
	echoSocketPath = "/secured-ws"
)

func (s *Server) registerSockets(e *echo.Echo) {
	e.Pre(s.admit)
	e.GET(chatSocketPath, s.chatSocket)
	e.GET(echoSocketPath, s.echoSocket)
	e.GET("/ws/ready", s.socketReady)
}

// admit holds one of the server's handshake slots (Deps.Handshakes) while
// the rest of the chain checks the credentials, upgrades and sets the
// socket up: the work a reconnect storm multiplies. Past the slots a
// handshake waits briefly, then is answered 503 with Retry-After before
// anything else is done for it.
//
// It runs before routing and the other middleware (echo's Pre), so that a
// handshake waits on a shallow stack: in a storm 15,000 of them wait at
// once, and waiting at the end of the middleware chain made the runtime
// grow and copy each one's stack there (3 % of a storm's CPU, in the
// profile of docs/BENCHMARKS.md's session 7).
func (s *Server) admit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if s.deps.Handshakes == nil || r.Method != http.MethodGet || !isSocketPath(r.URL.Path) {
			return next(c)
		}
		release, err := s.deps.Handshakes.Acquire(r.Context())
		if errors.Is(err, admission.ErrBusy) {
			reason := "slots"
			if errors.Is(err, admission.ErrQueueFull) {
				reason = "queue"
			}
			// Answered before the middleware that sets these on every other response.
			s.setSecurityHeaders(c)
			return s.handshakeBusy(c, r.URL.Path, reason, !fromBrowser(r))
		}
		if err != nil {
			return err // the client went away while waiting
		}
		// The socket handler returns once the socket is set up: its read loop runs on.
		defer release()
		return next(c)
	}
}

// isSocketPath reports whether path is a socket handshake's, which takes an admission slot.
func isSocketPath(path string) bool {
	return path == chatSocketPath || path == echoSocketPath
}

// handshakeBusy answers a handshake (or a /ws/ready) refused by the
// admission (reason: slots, none came free within the wait; queue, more were
// already waiting than the wait could serve). Its Retry-After is a
// reservation (admission.Gate.Reserve): a time of its own, at the pace the
// server completes handshakes, so the refused come back spread over exactly
// the time the server needs for them. Without reserve it only says when the
// next place is: for a browser's handshake, whose page cannot read the
// answer and reserves through /ws/ready instead.
func (s *Server) handshakeBusy(c echo.Context, path, reason string, reserve bool) error {
	// No log line: in a storm it would be one per request; the counter has them.
	s.deps.Metrics.HandshakeRefused(path, reason)
	var wait time.Duration
	if reserve {
		wait = s.deps.Handshakes.Reserve()
	} else {
		wait = s.deps.Handshakes.Peek()
	}
	retryAfter(c, wait)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.String(http.StatusServiceUnavailable, "too many sockets are opening at once; try again after Retry-After seconds")
}

// fromBrowser reports whether a socket handshake is a browser's: it would be
// let in by the session cookie (no Authorization header, which a browser's
// WebSocket cannot send) and names its Origin (which a browser's always
// does). A browser's WebSocket shows the page neither the status nor the
// headers of a refused handshake.
func fromBrowser(r *http.Request) bool {
	return r.Header.Get("Origin") != "" && len(r.Header.Values("Authorization")) == 0
}

// socketReady answers whether a socket would open now: 204 if it would,
// 503 with Retry-After when the handshake slots are all taken (it does not
// wait for one), and the gate's own refusal (401, 403) when the credentials
// would not pass. It is for the page: a browser's WebSocket API shows neither
// the status nor the headers of a refused handshake, so after one the page
// asks here how long to wait, and whether its session has ended.
func (s *Server) socketReady(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if g := s.deps.Handshakes; g != nil {
		release, ok := g.TryAcquire()
		if !ok {
			return s.handshakeBusy(c, c.Path(), "slots", true)
		}
		// The token check is what a handshake's slot pays for: so does this.
		defer release()
	}
	if _, gerr := s.gate(c); gerr != nil {
		return s.reject(c, gerr)
	}
	return c.NoContent(http.StatusNoContent)
}

// gateError is a rejection before the upgrade.
type gateError struct {
	status int
	reason string // for the log and the response body
}

// gate decides whether a socket may open, before any upgrade: a Bearer header
// wins; else the session cookie, but only from an allowed Origin, which is
// what stops cross-site WebSocket hijacking. It is the one place these rules live.
func (s *Server) gate(c echo.Context) (auth.Identity, *gateError) {
	r := c.Request()
	var token string
	if hs := r.Header.Values("Authorization"); len(hs) > 0 {
		if len(hs) > 1 {
			return auth.Identity{}, &gateError{http.StatusForbidden, "more than one Authorization header"}
		}
		t, err := auth.ParseBearer(hs[0])
		if err != nil {
			return auth.Identity{}, &gateError{http.StatusForbidden, "Authorization must be Bearer <token>"}
		}
		token = t
	} else {
		ck, err := r.Cookie(s.names(c).session)
		if err != nil || ck.Value == "" {
			return auth.Identity{}, &gateError{http.StatusUnauthorized, "no credentials: send Authorization: Bearer <token> or log in"}
		}
		if origin := r.Header.Get("Origin"); origin != "" && !s.originAllowed(origin, r) {
			return auth.Identity{}, &gateError{http.StatusForbidden, "cookie sent from an origin that is not allowed"}
		}
		token = ck.Value
	}
	id, err := s.deps.Auth.Authenticate(r.Context(), token)
	if errors.Is(err, auth.ErrInvalidToken) {
		return auth.Identity{}, &gateError{http.StatusUnauthorized, "invalid or expired token"}
	}
	if err != nil {
		s.log.Error("check token", "err", err)
		return auth.Identity{}, &gateError{http.StatusServiceUnavailable, "could not check the token; try again"}
	}
	return id, nil
}

// originAllowed reports whether origin is this server's own or a configured one.
func (s *Server) originAllowed(origin string, r *http.Request) bool {
	for _, o := range s.cfg.AllowedOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	// The public scheme: ours, or a trusted proxy's. The public host is the
	// Host header, which the proxy passes on (proxy_set_header Host
	// $http_host); X-Forwarded-Host is not read.
	wantScheme := "http"
	if s.cfg.TLS || s.proxies.Secure(r) {
		wantScheme = "https"
	}
	return strings.EqualFold(u.Scheme, wantScheme) && strings.EqualFold(u.Host, r.Host)
}

func (s *Server) reject(c echo.Context, e *gateError) error {
	s.deps.Metrics.Rejected(e.status)
	s.authFailure(c, c.Path(), "status", e.status, "reason", e.reason)
	if e.status == http.StatusUnauthorized {
		v := "Bearer"
		if c.Request().Header.Get("Authorization") != "" || e.reason == "invalid or expired token" {
			v = `Bearer error="invalid_token"`
		}
		c.Response().Header().Set("WWW-Authenticate", v)
	}
	return c.String(e.status, e.reason)
}

func (s *Server) chatSocket(c echo.Context) error {
	kicks := s.deps.Hub.Kicks() // before the session is checked: see chat.Peer.Kicks
	id, gerr := s.gate(c)
	if gerr != nil {
		return s.reject(c, gerr)
	}
	return s.upgrade(c, id, kicks, s.deps.Hub.Serve)
}

// upgrade admits one more socket for the user, upgrades, and runs serve.
func (s *Server) upgrade(c echo.Context, id auth.Identity, kicks uint64, serve func(context.Context, *websocket.Conn, *bufio.Reader, chat.Peer, func()) error) error {
	release, err := s.deps.Hub.Admit(id.User)
	if errors.Is(err, chat.ErrTooManySockets) {
		return s.reject(c, &gateError{http.StatusTooManyRequests, "too many open sockets for this user"})
	}
	if err != nil {
		return c.String(http.StatusServiceUnavailable, "shutting down")
	}
	hc := &hijackCapture{ResponseWriter: c.Response().Writer}
	conn, err := s.upgrader.Upgrade(hc, c.Request(), nil)
	if err != nil {
		release()
		// The upgrader has already answered with a 4xx.
		return nil
	}

	// The hub sets the socket up on this goroutine and gives its read loop a
	// goroutine of its own, so the handler returns at once: its stack, grown
	// checking the token, goes with it instead of staying for the socket's
	// life. The request's context ends with the handler; the socket's store
	// calls have their own timeouts.
	p := peer(id)
	p.Remote = c.RealIP()
	p.Kicks = kicks
	serve(context.Background(), conn, hc.br, p, release)
	return nil
}

// echoSocket is the recipe's /secured-ws, behind the same gate.
func (s *Server) echoSocket(c echo.Context) error {
	kicks := s.deps.Hub.Kicks()
	id, gerr := s.gate(c)
	if gerr != nil {
		return s.reject(c, gerr)
	}
	return s.upgrade(c, id, kicks, s.deps.Hub.ServeEcho)
}

func peer(id auth.Identity) chat.Peer {
	return chat.Peer{UserID: id.UserID, User: id.User, SessionID: id.SessionID, ExpiresAt: id.ExpiresAt}
}

// TokenPeers lets the hub check credentials of open sockets with the same
// rules as the gate: a token presented in a refresh frame, and whether a
// session was renewed.
type TokenPeers struct{ Auth *auth.Service }

// Expiry returns when a live session ends.
func (t TokenPeers) Expiry(ctx context.Context, sessionID string) (time.Time, error) {
	return t.Auth.SessionExpiry(ctx, sessionID)
}

// Refresh returns the peer a token speaks for.
func (t TokenPeers) Refresh(ctx context.Context, token string) (chat.Peer, error) {
	id, err := t.Auth.Authenticate(ctx, token)
	if err != nil {
		return chat.Peer{}, err
	}
	return peer(id), nil
}

// hijackCapture hands gorilla a small buffered reader of our own for the
// socket (chat.NewReader: gorilla reuses the hijacked reader with the
// upgrader's chat.UpgraderReadBufferSize), so the hub can see what is already
// buffered: it waits for the next frame itself, with a shallow stack, instead
// of inside gorilla's reader.
type hijackCapture struct {
	http.ResponseWriter
	br *bufio.Reader
}

func (h *hijackCapture) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	// A read deadline set for the request (--body-timeout, when a handshake
	// declared a body) comes with the connection. A socket lives for hours
	// and its reader sets deadlines of its own (the pong wait).
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("clear the request's read deadline: %w", err)
	}
	if brw.Reader.Buffered() > 0 {
		return conn, brw, nil // gorilla refuses data sent before the handshake ends
	}
	h.br = chat.NewReader(conn)
	return conn, bufio.NewReadWriter(h.br, brw.Writer), nil
}
