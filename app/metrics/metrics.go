// Package metrics defines securechat's Prometheus metrics, served on their own
// listener with --metrics-addr. Each metric is created once in main and handed
// to the parts that update it; nothing here is global.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is every metric the server updates. A nil *Metrics records nothing,
// so tests and tools need not build one.
type Metrics struct {
	reg              *prometheus.Registry
	socketsOpen      prometheus.Gauge
	handshakes       prometheus.Counter
	rejections       *prometheus.CounterVec
	messagesIn       prometheus.Counter
	deliveries       prometheus.Counter
	closes           *prometheus.CounterVec
	queueDrops       *prometheus.CounterVec
	requestRefusals  prometheus.Counter
	historyWriteTime prometheus.Histogram
	roomRefusals     prometheus.Counter
	searchRefusals   prometheus.Counter
	loginRefusals    *prometheus.CounterVec
	signupRefusals   prometheus.Counter
	patRefusals      prometheus.Counter
	exportRefusals   prometheus.Counter
	hashRefusals     *prometheus.CounterVec
	handshakeBusy    *prometheus.CounterVec
	refreshRefusals  prometheus.Counter
	twoFactorRefused *prometheus.CounterVec
	typingDrops      prometheus.Counter
	mentionsCut      prometheus.Counter

	connsRefused      prometheus.Counter
	bodyTimeouts      prometheus.Counter
	authFailures      *prometheus.CounterVec
	authLogSuppressed prometheus.Counter

	messagesExpired prometheus.Counter
}

// New creates the metrics in a registry of their own, with the Go runtime's and
// the process's collectors beside them.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{
		reg:         reg,
		socketsOpen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "securechat_sockets_open", Help: "Sockets open on this node."}),
		handshakes:  prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_handshakes_total", Help: "Sockets upgraded after the gate."}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "securechat_handshake_rejections_total",
			Help: "Socket requests refused before the upgrade, by HTTP status."}, []string{"status"}),
		messagesIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_messages_in_total", Help: "Messages stored by this node."}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_deliveries_total", Help: "Message frames queued to sockets."}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "securechat_closes_total",
			Help: "Sockets ended, by close code (1006: no close frame)."}, []string{"code"}),
		queueDrops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "securechat_queue_drops_total",
			Help: "Sockets closed with 1013 because their send queue was full, by the bound reached (frames or bytes)."}, []string{"bound"}),
		requestRefusals: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_request_refusals_total",
			Help: "Socket frames other than messages (join, history, rooms…, /secured-ws text) refused by the per-user request rate."}),
		historyWriteTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "securechat_history_write_seconds",
			Help: "Time to store one batch of messages.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		loginRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "securechat_login_refusals_total",
			Help: "Logins and /token requests refused with 429 before hashing, by the limit of failures that refused them (addr, user, user_addr, device)."}, []string{"limit"}),
		signupRefusals: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_signup_refusals_total",
			Help: "Sign-ups refused with 429 by the limit per client address."}),
		patRefusals: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_pat_refusals_total",
			Help: "Personal access tokens refused because the user already had --max-pats-per-user."}),
		exportRefusals: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_export_refusals_total",
			Help: "\"Download my data\" requests answered 503 because --export-concurrency exports were already streaming."}),
		hashRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "securechat_hash_refusals_total",
			Help: "Requests answered 503 because the password hashing queue was full or the wait too long, by kind (login, signup)."}, []string{"kind"}),
		handshakeBusy: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "securechat_handshake_refusals_total",
			Help: "Socket handshakes (and the page's /ws/ready checks) answered 503 with Retry-After, by path and by reason: slots, --handshake-concurrency were in progress for longer than --handshake-wait; queue, refused at once because more were already waiting than --handshake-wait could serve."}, []string{"path", "reason"}),
		twoFactorRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "securechat_2fa_refusals_total",
			Help: "Two-factor codes refused with 429 before being checked, by the limit that refused them (login: --2fa-attempts of one pending login; user: --2fa-limit)."}, []string{"limit"}),
		refreshRefusals: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_refresh_refusals_total",
			Help: "/token/refresh calls refused with 429 by the limit per session."}),
		roomRefusals: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_room_create_refusals_total",
			Help: "Joins refused because they would have created a room past the user's --room-create-rate."}),
		searchRefusals: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_search_refusals_total",
			Help: "Searches refused because the query had more than --max-search-query characters."}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_connections_refused_total",
			Help: "Connections closed at accept because their address already had --max-conns-per-addr open."}),
		bodyTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_body_timeouts_total",
			Help: "Requests whose body did not arrive within --body-timeout."}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "securechat_auth_failures_total",
			Help: "Failed logins, token requests and socket credentials, by where they failed (every one, logged or not)."}, []string{"where"}),
		authLogSuppressed: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_auth_log_suppressed_total",
			Help: "Auth failure log lines left out past --auth-log-rate."}),
		messagesExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_messages_expired_total",
			Help: "Messages this node deleted because they were older than --retention or their room's retention (their edit and delete rows went with them)."}),
	}
	m.typingDrops = prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_typing_drops_total",
		Help: "Typing frames dropped silently: more than one per socket and room within the typing interval, or for a room the socket is not in."})
	m.mentionsCut = prometheus.NewCounter(prometheus.CounterOpts{Name: "securechat_mentions_cut_total",
		Help: "Messages that named more distinct @names than the bound per message; the names past it were not mentioned."})
	reg.MustRegister(m.typingDrops, m.mentionsCut)
	// Both bounds are listed from the start, so a dashboard sees zeros, not nothing.
	m.queueDrops.WithLabelValues(BoundFrames)
	m.queueDrops.WithLabelValues(BoundBytes)
	reg.MustRegister(m.socketsOpen, m.handshakes, m.rejections, m.messagesIn, m.deliveries, m.closes, m.queueDrops, m.requestRefusals, m.historyWriteTime,
		m.loginRefusals, m.signupRefusals, m.hashRefusals, m.handshakeBusy, m.refreshRefusals, m.roomRefusals, m.twoFactorRefused, m.searchRefusals,
		m.connsRefused, m.bodyTimeouts, m.authFailures, m.authLogSuppressed, m.patRefusals, m.exportRefusals, m.messagesExpired)
	return m
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// SocketOpened counts an upgraded socket.
func (m *Metrics) SocketOpened() {
	if m != nil {
		m.handshakes.Inc()
		m.socketsOpen.Inc()
	}
}

// SocketClosed counts a socket that ended with code.
func (m *Metrics) SocketClosed(code int) {
	if m != nil {
		m.socketsOpen.Dec()
		m.closes.WithLabelValues(strconv.Itoa(code)).Inc()
	}
}

// Rejected counts a socket request refused before the upgrade.
func (m *Metrics) Rejected(status int) {
	if m != nil {
		m.rejections.WithLabelValues(strconv.Itoa(status)).Inc()
	}
}

// Stored counts a batch of n messages stored in d.
func (m *Metrics) Stored(n int, d time.Duration) {
	if m != nil {
		m.messagesIn.Add(float64(n))
		m.historyWriteTime.Observe(d.Seconds())
	}
}

// Delivered counts n message frames queued to sockets.
func (m *Metrics) Delivered(n int) {
	if m != nil && n > 0 {
		m.deliveries.Add(float64(n))
	}
}

// The bounds of a send queue, the label of securechat_queue_drops_total.
const (
	BoundFrames = "frames"
	BoundBytes  = "bytes"
)

// QueueDropped counts a socket closed for falling behind, by the bound it
// reached (BoundFrames or BoundBytes).
func (m *Metrics) QueueDropped(bound string) {
	if m != nil {
		m.queueDrops.WithLabelValues(bound).Inc()
	}
}

// TypingDropped counts a typing frame dropped by the typing interval (or
// for a room the socket is not in).
func (m *Metrics) TypingDropped() {
	if m != nil {
		m.typingDrops.Inc()
	}
}

// MentionsCut counts a message whose @names passed the bound per message.
func (m *Metrics) MentionsCut() {
	if m != nil {
		m.mentionsCut.Inc()
	}
}

// RequestRefused counts a socket frame refused by the per-user request rate.
func (m *Metrics) RequestRefused() {
	if m != nil {
		m.requestRefusals.Inc()
	}
}

// ObserveQueuedBytes publishes fn, the bytes every socket has queued or is
// writing, as the gauge securechat_send_queue_bytes (read at each scrape).
func (m *Metrics) ObserveQueuedBytes(fn func() int64) {
	if m != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "securechat_send_queue_bytes",
			Help: "Bytes queued for or being written to all sockets of this node."}, func() float64 { return float64(fn()) }))
	}
}

// ObserveParked publishes fn, the sockets waiting for their next frame
// without a goroutine (app/readiness), as the gauge securechat_sockets_parked.
func (m *Metrics) ObserveParked(fn func() int64) {
	if m != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "securechat_sockets_parked",
			Help: "Open sockets of this node waiting for their next frame without a goroutine."}, func() float64 { return float64(fn()) }))
	}
}

// RoomCreateRefused counts a join refused by the room creation limit.
func (m *Metrics) RoomCreateRefused() {
	if m != nil {
		m.roomRefusals.Inc()
	}
}

// SearchRefused counts a search refused for the length of its query.
func (m *Metrics) SearchRefused() {
	if m != nil {
		m.searchRefusals.Inc()
	}
}

// LoginRefused counts a login refused by the failure limit named by limit.
func (m *Metrics) LoginRefused(limit string) {
	if m != nil {
		m.loginRefusals.WithLabelValues(limit).Inc()
	}
}

// SignupRefused counts a sign-up refused by the limit per address.
func (m *Metrics) SignupRefused() {
	if m != nil {
		m.signupRefusals.Inc()
	}
}

// PATRefused counts a personal access token refused by the limit per user.
func (m *Metrics) PATRefused() {
	if m != nil {
		m.patRefusals.Inc()
	}
}

// ExportRefused counts a data export refused because --export-concurrency
// were already streaming.
func (m *Metrics) ExportRefused() {
	if m != nil {
		m.exportRefusals.Inc()
	}
}

// HashRefused counts a request refused because hashing was busy; kind is
// login, signup or password (a password change's new hash).
func (m *Metrics) HashRefused(kind string) {
	if m != nil {
		m.hashRefusals.WithLabelValues(kind).Inc()
	}
}

// HandshakeRefused counts a socket handshake on path refused because too
// many were in progress (--handshake-concurrency, --handshake-wait); reason
// is slots (none came free within the wait) or queue (refused at once: more
// were already waiting than the wait could serve).
func (m *Metrics) HandshakeRefused(path, reason string) {
	if m != nil {
		m.handshakeBusy.WithLabelValues(path, reason).Inc()
	}
}

// TwoFactorRefused counts a two-factor code refused by the limit named by
// limit (login or user) before it was checked.
func (m *Metrics) TwoFactorRefused(limit string) {
	if m != nil {
		m.twoFactorRefused.WithLabelValues(limit).Inc()
	}
}

// RefreshRefused counts a /token/refresh refused by the limit per session.
func (m *Metrics) RefreshRefused() {
	if m != nil {
		m.refreshRefusals.Inc()
	}
}

// ConnRefused counts a connection closed because its address had too many open.
func (m *Metrics) ConnRefused() {
	if m != nil {
		m.connsRefused.Inc()
	}
}

// BodyTimedOut counts a request whose body was cut off by the body timeout.
func (m *Metrics) BodyTimedOut() {
	if m != nil {
		m.bodyTimeouts.Inc()
	}
}

// AuthFailed counts a failed authentication at where (login, token, /ws…).
func (m *Metrics) AuthFailed(where string) {
	if m != nil {
		m.authFailures.WithLabelValues(where).Inc()
	}
}

// AuthLogSuppressed counts an auth failure line that was not logged.
func (m *Metrics) AuthLogSuppressed() {
	if m != nil {
		m.authLogSuppressed.Inc()
	}
}

// MessagesExpired counts messages deleted by retention.
func (m *Metrics) MessagesExpired(n int) {
	if m != nil {
		m.messagesExpired.Add(float64(n))
	}
}
