package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"securechat"
	"securechat/app/accounts"
	"securechat/app/admission"
	"securechat/app/audit"
	"securechat/app/auth"
	"securechat/app/chat"
	"securechat/app/config"
	"securechat/app/connlimit"
	"securechat/app/datadir"
	"securechat/app/export"
	"securechat/app/metrics"
	"securechat/app/natsbus"
	"securechat/app/ratelog"
	"securechat/app/readiness"
	"securechat/app/relief"
	"securechat/app/retention"
	"securechat/app/store"
	"securechat/app/store/postgres"
	"securechat/app/store/sqlite"
	"securechat/app/tokens"
	"securechat/app/twofactor"
	"securechat/app/web"
)

// shutdownWait is how long SIGINT/SIGTERM may take: stop accepting, close every
// socket with 1001, finish writing messages.
const shutdownWait = 10 * time.Second

// authLogSummaryEvery is how often the count of auth failure lines left out
// past --auth-log-rate is logged.
const authLogSummaryEvery = 10 * time.Second

// lastSeenEvery is how often the sessions used since are written as last
// seen, together (auth.Service.RunLastSeen); the sessions page shows minutes.
const lastSeenEvery = 5 * time.Second

// A burst of at least reliefBurst handshakes followed by reliefQuiet with
// none has its freed memory given back (app/relief): a restart's storm, not
// the trickle of a normal day.
const (
	reliefBurst = 1000
	reliefQuiet = 2 * time.Second
)

// backend is everything the services need from storage: SQLite by default,
// PostgreSQL with --database-url.
type backend interface {
	accounts.Store
	audit.Store
	auth.SessionStore
	auth.SessionLister
	auth.RevocationStore
	auth.PruneStore
	chat.Store
	export.Store
	retention.Store
	twofactor.Store
	Close() error
}

func openBackend(ctx context.Context, cfg config.Config) (backend, error) {
	if cfg.DatabaseURL != "" {
		return postgres.Open(ctx, cfg.DatabaseURL)
	}
	return openSQLite(ctx, cfg.Data)
}

// sqliteBackend is the SQLite store holding the data folder's lock, shared,
// while it is open: a restore takes it exclusively, so it never replaces the
// database under a server or a command.
type sqliteBackend struct {
	*sqlite.DB
	unlock func()
}

func (b sqliteBackend) Close() error {
	err := b.DB.Close()
	b.unlock()
	return err
}

func openSQLite(ctx context.Context, dir string) (sqliteBackend, error) {
	if err := os.MkdirAll(dir, datadir.DirMode); err != nil {
		return sqliteBackend{}, fmt.Errorf("create data folder: %w", err)
	}
	unlock, err := datadir.Lock(dir, false)
	if errors.Is(err, datadir.ErrLocked) {
		return sqliteBackend{}, fmt.Errorf("a restore is running on %s: start again once it has finished", dir)
	}
	if err != nil {
		return sqliteBackend{}, err
	}
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		unlock()
		return sqliteBackend{}, err
	}
	return sqliteBackend{DB: db, unlock: unlock}, nil
}

// services are the parts every command builds from the configuration.
type services struct {
	db       backend
	accounts *accounts.Service
	auth     *auth.Service
	tokens   *tokens.Codec

	twoFactor *twofactor.Service
	audit     *audit.Recorder
}

func (s *services) close() { s.db.Close() }

// cliEvent records what the command line did, with actor "cli".
func (s *services) cliEvent(ctx context.Context, event, subject, detail string) {
	s.audit.Record(ctx, store.AuditEvent{Event: event, Actor: audit.ActorCLI, Subject: subject, Address: "command line", Detail: detail})
}

// openServices builds the services; log is where the audit recorder reports
// a row it could not write.
func openServices(ctx context.Context, cfg config.Config, getenv func(string) string, now func() time.Time, log *slog.Logger) (*services, error) {
	envKeys := getenv(config.EnvPrefix + "TOKEN_KEYS")
	if cfg.NATSURL != "" && envKeys == "" {
		return nil, errors.New("several nodes need the same token keys: set SECURECHAT_TOKEN_KEYS on every node")
	}
	db, err := openBackend(ctx, cfg)
	if err != nil {
		return nil, err
	}
	keys, err := tokens.LoadKeys(envKeys, cfg.Data)
	if err != nil {
		db.Close()
		return nil, err
	}
	codec, err := tokens.NewCodec(keys, now)
	if err != nil {
		db.Close()
		return nil, err
	}
	acc := accounts.NewService(db, accounts.NewHasher(cfg.HashConcurrency, cfg.HashQueue, cfg.HashWait), now)
	au := auth.NewService(acc, db, codec, cfg.TokenTTL, cfg.SessionMaxAge, now)
	au.LimitPATs(cfg.MaxPATsPerUser)
	return &services{db: db, accounts: acc, tokens: codec, auth: au,
		twoFactor: twofactor.NewService(db, codec, now), audit: audit.New(db, now, log)}, nil
}

// clock is the server's time: what the services read, and what the sockets'
// expiry timers run on. Tests of the whole server give a fake one (options).
type clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) chat.Timer
}

// systemClock is the real time.
type systemClock struct{}

func (systemClock) Now() time.Time                                 { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) chat.Timer { return time.AfterFunc(d, f) }

func serve(ctx context.Context, cfg config.Config, getenv func(string) string, opt options, log *slog.Logger, stdout io.Writer) error {
	clk := opt.clock
	// Files an older version, a copy or an umask left readable by others.
	datadir.Tighten(cfg.Data, []string{sqlite.FileName, sqlite.FileName + "-wal", sqlite.FileName + "-shm", tokens.KeyFile}, log)
	svc, err := openServices(ctx, cfg, getenv, clk.Now, log)
	if err != nil {
		return err
	}
	defer svc.close()

	var broker chat.Broker
	if cfg.NATSURL != "" {
		bus, err := natsbus.Connect(cfg.NATSURL, newNodeID(), log)
		if err != nil {
			return err
		}
		defer bus.Close()
		broker = bus
	}
	// Stopped and waited for once the server and the hub have shut down,
	// before the store and the bus close.
	bg := newBackground()
	defer bg.stop()

	var m *metrics.Metrics
	if cfg.MetricsAddr != "" {
		m = metrics.New()
		if err := serveMetrics(bg, cfg.MetricsAddr, m, cfg.Pprof, log); err != nil {
			return err
		}
	}
	// Idle sockets wait for their next frame without a goroutine each
	// (app/readiness). Closed after the hub: a socket still parked then is
	// handed back to read the ordinary way.
	var poller chat.Poller
	if p, err := readiness.New(); err == nil {
		defer p.Close()
		m.ObserveParked(func() int64 { return int64(p.Waiting()) })
		poller = p
	} else {
		log.Info("idle sockets read on a goroutine each", "err", err)
	}
	hub := chat.NewHub(chat.Deps{
		Store: svc.db, Sessions: socketSessions(svc.auth), Broker: broker, Metrics: m, Audit: svc.audit, Now: clk.Now, AfterFunc: clk.AfterFunc, Log: log,
		Poller: poller,
	}, chat.Limits{
		ReadLimit: cfg.ReadLimit, MaxText: cfg.MaxText, SendQueue: cfg.SendQueue, SendQueueBytes: cfg.SendQueueBytes,
		MessageRate: cfg.MessageRate, RequestRate: cfg.RequestRate, MaxSocketsPerUser: cfg.MaxSocketsPerUser,
		RoomCreateRate: cfg.RoomCreateRate, EmptyRoomTTL: cfg.EmptyRoomTTL, MaxSearchQuery: cfg.MaxSearchQuery,
	})
	m.ObserveQueuedBytes(hub.QueuedBytes)
	authLog := ratelog.New(log, "auth failure", cfg.AuthLogRate, clk.Now)
	handshakes := admission.New(cfg.HandshakeConc, cfg.HandshakeWait, clk.Now)
	if opt.handshakes != nil {
		opt.handshakes(handshakes)
	}
	// After a burst of handshakes (a restart's reconnect storm), give the
	// memory it freed back to the system (app/relief).
	afterStorms := relief.New(handshakes.Completed, relief.Free, reliefBurst, reliefQuiet, clk.Now)
	bg.Go(func(ctx context.Context) { afterStorms.Run(ctx, time.Second) })
	// Stopped after the server: the last count is logged.
	bg.Go(func(ctx context.Context) { authLog.Run(ctx, authLogSummaryEvery) })
	bg.Go(func(ctx context.Context) { svc.auth.RunLastSeen(ctx, lastSeenEvery, log) })
	handler := web.New(web.Config{
		Signup: cfg.Signup, FirstUserAdmin: cfg.FirstUserAdmin, AllowedOrigins: cfg.AllowedOrigins, TLS: cfg.TLS(), TrustedProxies: cfg.TrustedProxies,
		LoginLimitUser: cfg.LoginLimitUser, LoginLimitAddr: cfg.LoginLimitAddr, LoginLimitPair: cfg.LoginLimitPair,
		SignupLimitAddr: cfg.SignupLimitAddr, RefreshLimit: cfg.RefreshLimit,
		BodyTimeout:       cfg.BodyTimeout,
		TwoFactorAttempts: cfg.TwoFactorAttempts, TwoFactorLimit: cfg.TwoFactorLimit,
		ExportConcurrency: cfg.ExportConcurrency,
	}, web.Deps{
		Accounts: svc.accounts, Auth: svc.auth, Tokens: svc.tokens, Hub: hub, Static: securechat.Static(), Log: log, Now: clk.Now, Metrics: m,
		AuthLog: authLog, TwoFactor: svc.twoFactor, Audit: svc.audit, Export: export.New(svc.db, clk.Now), Handshakes: handshakes,
	})

	bg.Go(func(ctx context.Context) { watchSockets(ctx, svc.db, hub, log) })
	bg.Go(func(ctx context.Context) {
		auth.PruneEvery(ctx, svc.db, auth.PruneInterval, cfg.SessionMaxAge, clk.Now, log)
	})
	bg.Go(func(ctx context.Context) { svc.audit.PruneEvery(ctx, auth.PruneInterval, cfg.AuditRetention) })
	expirer := retention.New(svc.db, hub, cfg.Retention, m, clk.Now,
		func(d time.Duration, f func()) retention.Timer { return clk.AfterFunc(d, f) }, log)
	bg.Go(expirer.Run)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	// Under TLS too: the TLS listener wraps this one.
	ln = connlimit.Wrap(ln, cfg.MaxConnsPerAddr, m)
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if cfg.TLS() {
		scheme = "https"
	}
	log.Info("listening", "url", scheme+"://"+ln.Addr().String(), "data", cfg.Data)
	fmt.Fprintf(stdout, "securechat listening on %s://%s\n", scheme, ln.Addr())

	served := make(chan error, 1)
	go func() {
		if cfg.TLS() {
			served <- srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			served <- srv.Serve(ln)
		}
	}()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	// Stop accepting first, then let the hub store what it took and close the sockets.
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if err := hub.Shutdown(sctx); err != nil {
		log.Warn("hub shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}

// newNodeID names this process on the bus, so it can ignore its own traffic.
func newNodeID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// serveMetrics serves Prometheus /metrics, and with withPprof Go's profiles
// under /debug/pprof/, on their own listener, so they stay off the public
// address, until bg stops. Profiles are opt-in: they show the program's
// insides and a CPU profile or trace costs the server while it runs.
func serveMetrics(bg *background, addr string, m *metrics.Metrics, withPprof bool, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	bg.Go(func(ctx context.Context) {
		stop := context.AfterFunc(ctx, func() { srv.Close() })
		defer stop()
		srv.Serve(ln)
	})
	log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return nil
}
