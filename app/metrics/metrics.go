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
	}
	// Both bounds are listed from the start, so a dashboard sees zeros, not nothing.
	m.queueDrops.WithLabelValues(BoundFrames)
	m.queueDrops.WithLabelValues(BoundBytes)
	reg.MustRegister(m.socketsOpen, m.handshakes, m.rejections, m.messagesIn, m.deliveries, m.closes, m.queueDrops, m.requestRefusals, m.historyWriteTime)
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
