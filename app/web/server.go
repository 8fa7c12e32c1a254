// Package web is the HTTP face of securechat: pages, the token endpoint, the
// socket gate and the static assets, on one Echo instance.
package web

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"securechat/app/accounts"
	"securechat/app/admission"
	"securechat/app/audit"
	"securechat/app/auth"
	"securechat/app/chat"
	"securechat/app/export"
	"securechat/app/forwarded"
	"securechat/app/metrics"
	"securechat/app/ratelog"
	"securechat/app/store"
	"securechat/app/throttle"
	"securechat/app/tokens"
	"securechat/app/twofactor"
)

// Config is the part of the server's settings the web layer uses.
type Config struct {
	Signup          bool
	FirstUserAdmin  bool     // the first account made at /signup on a store that never had one is an admin
	AllowedOrigins  []string // besides the same origin, for cookie-authenticated sockets
	TLS             bool
	TrustedProxies  []*net.IPNet   // reverse proxies whose X-Forwarded-For and -Proto are believed
	LoginLimitUser  throttle.Limit // failed logins per username, for browsers without its device cookie
	LoginLimitAddr  throttle.Limit // failed logins per client address
	LoginLimitPair  throttle.Limit // failed logins per username and address, and per device cookie
	SignupLimitAddr throttle.Limit // sign-up attempts per client address
	RefreshLimit    throttle.Limit // /token/refresh calls per session
	BodyTimeout     time.Duration  // for a request's body to arrive (0: no limit)

	TwoFactorAttempts int            // wrong codes per pending two-factor login
	TwoFactorLimit    throttle.Limit // wrong two-factor codes per user

	ExportConcurrency int // data exports streaming at once (0: 1)
}

// Deps are the services the handlers call.
type Deps struct {
	Accounts *accounts.Service
	Auth     *auth.Service
	Hub      *chat.Hub
	Tokens   *tokens.Codec // signs device cookies
	Static   fs.FS
	Log      *slog.Logger
	Now      func() time.Time
	Metrics  *metrics.Metrics // nil records nothing
	AuthLog  *ratelog.Logger  // writes the auth failure lines (nil: 5 a second per client address)

	TwoFactor *twofactor.Service // nil: nobody is asked for a second factor
	Audit     *audit.Recorder    // nil records nothing
	Export    *export.Exporter   // nil: no "Download my data"

	Handshakes *admission.Gate // socket handshakes worked on at once; nil: no bound
}

// Server holds the handlers' dependencies.
type Server struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	upgrader websocket.Upgrader
	proxies  *forwarded.Proxies // whose X-Forwarded-* headers are believed

	failsByUser *throttle.Keyed // login failures per username
	failsByAddr *throttle.Keyed // per client address
	failsByPair *throttle.Keyed // per username and address, and per device cookie
	signups     *throttle.Keyed // sign-up attempts per client address
	refreshes   *throttle.Keyed // /token/refresh calls per session

	twoFactorByLogin *throttle.Keyed // wrong codes per pending login
	twoFactorByUser  *throttle.Keyed // wrong codes per user

	exports chan struct{} // one slot per export streaming (--export-concurrency)
}

// newUpgrader returns the upgrader of both sockets.
func newUpgrader() websocket.Upgrader {
	return websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// gorilla reads through the small buffered reader hijackCapture gives it.
		ReadBufferSize:  chat.UpgraderReadBufferSize,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		// The gate has already checked the Origin of cookie-authenticated
		// requests; bearer requests may come from anywhere.
		CheckOrigin: func(*http.Request) bool { return true },
	}
}

// New returns the Echo instance with every route registered.
func New(cfg Config, deps Deps) *echo.Echo {
	s := &Server{
		cfg:         cfg,
		deps:        deps,
		log:         deps.Log,
		upgrader:    newUpgrader(),
		proxies:     forwarded.New(cfg.TrustedProxies),
		failsByUser: throttle.NewKeyed(cfg.LoginLimitUser, deps.Now),
		failsByAddr: throttle.NewKeyed(cfg.LoginLimitAddr, deps.Now),
		failsByPair: throttle.NewKeyed(cfg.LoginLimitPair, deps.Now),
		signups:     throttle.NewKeyed(cfg.SignupLimitAddr, deps.Now),
		refreshes:   throttle.NewKeyed(cfg.RefreshLimit, deps.Now),

		twoFactorByLogin: throttle.NewKeyed(pendingLoginLimit(cfg.TwoFactorAttempts), deps.Now),
		twoFactorByUser:  throttle.NewKeyed(cfg.TwoFactorLimit, deps.Now),

		exports: make(chan struct{}, max(1, cfg.ExportConcurrency)),
	}
	if deps.AuthLog == nil {
		s.deps.AuthLog = ratelog.New(deps.Log, "auth failure", throttle.Limit{Rate: 5, Burst: 10}, deps.Now)
	}

	e := echo.New()
	e.Pre(headAsGet)
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	// The client address is the connection's, or the one a trusted proxy
	// (--trusted-proxies) was given: X-Forwarded-For is anyone's to write,
	// and the login limits per address must not be dodged with it. Every
	// use of the address goes through c.RealIP().
	e.IPExtractor = s.proxies.ClientIP
	e.Use(middleware.Recover())
	e.Use(s.bodyDeadline)
	e.Use(s.securityHeaders)
	e.Use(middleware.BodyLimit("64K"))
	e.Use(s.csrfMiddleware())

	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	s.registerAuth(e)
	s.registerAccount(e)
	s.registerTwoFactor(e)
	s.registerSessions(e)
	s.registerExport(e)
	s.registerSockets(e)
	s.registerPages(e)
	s.registerStatic(e)
	return e
}

const csrfField = "_csrf"

// cookieNames are the cookies' names for one request's scheme.
type cookieNames struct {
	session string // the session cookie
	device  string // the device cookie
	csrf    string // the CSRF cookie
}

// cookieNamesFor returns the cookies' names for a scheme. __Host- makes the
// browser insist on Secure, Path=/ and no Domain: a sibling subdomain cannot
// plant a __Host- cookie, so it cannot choose the token a form is checked against.
func cookieNamesFor(secure bool) cookieNames {
	if secure {
		return cookieNames{session: "__Host-securechat", device: "__Host-securechat-device", csrf: "__Host-csrf"}
	}
	return cookieNames{session: "securechat", device: "securechat-device", csrf: "_csrf"}
}

// secure reports whether the client reached us over HTTPS: our own TLS, or
// a trusted proxy's (X-Forwarded-Proto: https). It decides the cookies'
// names and Secure flag, HSTS and the sockets' same-origin scheme, per
// request: the same server may be reached both ways.
func (s *Server) secure(c echo.Context) bool {
	return s.cfg.TLS || s.proxies.Secure(c.Request())
}

// names returns the cookies' names for this request. A browser always comes
// the same way (https behind the proxy), so it reads the names it was given.
func (s *Server) names(c echo.Context) cookieNames {
	return cookieNamesFor(s.secure(c))
}

// csrfMiddleware is Echo's CSRF check with the cookie named and flagged for
// the request's scheme: one instance for each, chosen per request.
func (s *Server) csrfMiddleware() echo.MiddlewareFunc {
	config := func(names cookieNames, secure bool) echo.MiddlewareFunc {
		return middleware.CSRFWithConfig(middleware.CSRFConfig{
			// The token endpoints take no cookie; the sockets, health check and
			// assets are GETs with no form to protect (and no cookie to mint for).
			Skipper: func(c echo.Context) bool {
				switch c.Path() {
				case "/token", "/token/refresh", "/ws", "/secured-ws", "/ws/ready", "/healthz", "/static/*":
					return true
				}
				return skipCSRF(c)
			},
			// A state-changing request from another origin passes only from
			// --allowed-origins; Echo would let a same-site one fall back to the
			// token, which a sibling subdomain can plant.
			AllowSecFetchSiteFunc: s.allowOtherOrigin,
			TokenLookup:           "form:" + csrfField + ",header:" + echo.HeaderXCSRFToken, // the header for scripts calling /api with the cookie
			CookieName:            names.csrf,
			CookiePath:            "/",
			CookieMaxAge:          int(csrfMaxAge.Seconds()),
			CookieHTTPOnly:        true,
			CookieSecure:          secure,
			CookieSameSite:        http.SameSiteStrictMode,
			ErrorHandler: func(err error, c echo.Context) error {
				return echo.NewHTTPError(http.StatusForbidden, "This form came from another site or has expired. Reload the page and try again.")
			},
		})
	}
	plain, secure := config(cookieNamesFor(false), false), config(cookieNamesFor(true), true)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		plainNext, secureNext := plain(next), secure(next)
		return func(c echo.Context) error {
			if s.secure(c) {
				return secureNext(c)
			}
			return plainNext(c)
		}
	}
}

// headAsGet routes HEAD like GET, so health checkers and curl -I work wherever
// a page does (Echo routes only the methods registered). The request becomes
// a GET before routing (Echo routes on the request as it came), and the body
// the GET handler writes is dropped: the status and headers are the GET's.
func headAsGet(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if r := c.Request(); r.Method == http.MethodHead {
			r.Method = http.MethodGet
			c.Response().Writer = headWriter{c.Response().Writer}
		}
		return next(c)
	}
}

// headWriter answers a HEAD: headers and status pass, the body is dropped.
type headWriter struct{ http.ResponseWriter }

func (headWriter) Write(b []byte) (int, error) { return len(b), nil }

// Unwrap lets http.ResponseController reach the connection's writer.
func (h headWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// csrfMaxAge is how long a CSRF cookie lasts (Echo's default, said once here
// because renewCSRF sets the same cookie).
const csrfMaxAge = 24 * time.Hour

// allowOtherOrigin decides a state-changing request that the browser says
// came from another origin of this site or from another site (Sec-Fetch-Site
// same-site or cross-site): it passes only when its Origin is one of
// --allowed-origins.
func (s *Server) allowOtherOrigin(c echo.Context) (bool, error) {
	r := c.Request()
	if origin := r.Header.Get("Origin"); origin != "" && s.originAllowed(origin, r) {
		return true, nil
	}
	return false, echo.NewHTTPError(http.StatusForbidden, "This form came from another site. Open the page from this server and try again.")
}

// renewCSRF gives the browser a new CSRF token, in place of the cookie the
// middleware set for this request: after a login a token known before it
// (planted, or read on a shared machine) is worth nothing.
func (s *Server) renewCSRF(c echo.Context) {
	h := c.Response().Header()
	old := h.Values("Set-Cookie")
	h.Del("Set-Cookie")
	name := s.names(c).csrf
	for _, v := range old {
		if !strings.HasPrefix(v, name+"=") {
			h.Add("Set-Cookie", v)
		}
	}
	token := rand.Text()
	c.SetCookie(&http.Cookie{
		Name: name, Value: token, Path: "/", Expires: s.deps.Now().Add(csrfMaxAge),
		HttpOnly: true, Secure: s.secure(c), SameSite: http.SameSiteStrictMode,
	})
	c.Set("csrf", token)
}

func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		s.setSecurityHeaders(c)
		return next(c)
	}
}

// setSecurityHeaders sets the headers every response carries: what the
// page may load, and that no other site may frame it.
func (s *Server) setSecurityHeaders(c echo.Context) {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	if s.secure(c) {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
}

// authFailure is the one place a failed authentication (a login, a token
// request, a socket's credentials) is counted and logged. Every one is
// counted; the lines are rate-limited per client address (--auth-log-rate),
// so that a client sending bad tokens in a loop cannot flood the log.
//
// It reports whether the line was written: refused attempts (which cost the
// server nothing else) go to the audit log only then, so a client looping
// against a limit cannot make the server write a row per request.
func (s *Server) authFailure(c echo.Context, where string, attrs ...any) bool {
	s.deps.Metrics.AuthFailed(where)
	remote := c.RealIP()
	if !s.deps.AuthLog.Log(remote, append([]any{"where", where, "remote", remote}, attrs...)...) {
		s.deps.Metrics.AuthLogSuppressed()
		return false
	}
	return true
}

// record appends a security event to the audit log with the request's
// client address (the one the limits use) and user agent.
func (s *Server) record(c echo.Context, event, actor, subject, sessionID, detail string) {
	s.deps.Audit.Record(c.Request().Context(), store.AuditEvent{
		Event: event, Actor: actor, Subject: subject, SessionID: sessionID, Detail: detail,
		Address: c.RealIP(), UserAgent: c.Request().UserAgent(),
	})
}

// bodyDeadline gives a request's body --body-timeout to arrive, so that a
// client that declares a body and never sends it loses its connection. It
// is a read deadline on the connection from the handler's start until the
// body's end: not the server's ReadTimeout, which would also cancel the
// context of a handler that is merely slow (a login waiting for the hasher)
// and would stay on upgraded sockets. Requests without a body (the socket
// handshakes among them) get no deadline; their headers have the server's
// ReadHeaderTimeout.
func (s *Server) bodyDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if s.cfg.BodyTimeout <= 0 || r.Body == nil || r.Body == http.NoBody {
			return next(c)
		}
		rc := http.NewResponseController(c.Response())
		// A writer without deadlines (a test recorder) has no connection to hold.
		if err := rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)); err == nil {
			r.Body = &timedBody{ReadCloser: r.Body, rc: rc, metrics: s.deps.Metrics}
		}
		return next(c)
	}
}

// timedBody lifts the body's read deadline at its end, and counts its
// request once if a read hits the deadline. A body left unread keeps the
// deadline for the server, which reads the rest before the next request.
type timedBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	metrics *metrics.Metrics
	ended   bool
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.ended {
		b.ended = true
		if errors.Is(err, os.ErrDeadlineExceeded) {
			b.metrics.BodyTimedOut()
		} else if err == io.EOF {
			b.rc.SetReadDeadline(time.Time{})
		}
	}
	return n, err
}

// handleError is the one place errors become HTTP answers. Internals are logged,
// never shown.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	// An error that is not an HTTP answer comes from a dependency (the store,
	// the bus): the request was fine and may work a moment later.
	code := http.StatusServiceUnavailable
	msg := "Temporarily unavailable; try again in a moment."
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(code)
		}
	} else if errors.Is(err, context.Canceled) {
		return
	} else {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		c.Response().Header().Set("Retry-After", "1")
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(code)
		return
	}
	if strings.Contains(c.Request().Header.Get("Accept"), "application/json") {
		c.JSON(code, map[string]string{"error": msg})
		return
	}
	c.String(code, msg)
}
