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

	"securechat/app/auth"
	"securechat/app/chat"
)

func (s *Server) registerSockets(e *echo.Echo) {
	e.GET("/ws", s.chatSocket)
	e.GET("/secured-ws", s.echoSocket)
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
	id, gerr := s.gate(c)
	if gerr != nil {
		return s.reject(c, gerr)
	}
	return s.upgrade(c, id, s.deps.Hub.Serve)
}

// upgrade admits one more socket for the user, upgrades, and runs serve.
func (s *Server) upgrade(c echo.Context, id auth.Identity, serve func(context.Context, *websocket.Conn, *bufio.Reader, chat.Peer, func()) error) error {
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
	serve(context.Background(), conn, hc.br, p, release)
	return nil
}

// echoSocket is the recipe's /secured-ws, behind the same gate.
func (s *Server) echoSocket(c echo.Context) error {
	id, gerr := s.gate(c)
	if gerr != nil {
		return s.reject(c, gerr)
	}
	return s.upgrade(c, id, s.deps.Hub.ServeEcho)
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
