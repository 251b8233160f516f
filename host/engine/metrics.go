package engine

import (
	"context"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's Prometheus metrics. A nil *Metrics counts nothing.
type Metrics struct {
	events        *prometheus.CounterVec
	sessionsOpen  *prometheus.CounterVec
	sessionsClose *prometheus.CounterVec
	webhooks      *prometheus.CounterVec
	attempts      *prometheus.CounterVec
	attemptTime   *prometheus.HistogramVec
	deadLetters   *prometheus.CounterVec
	deliveries    *prometheus.CounterVec
	reads         *prometheus.CounterVec
	caughtUpEv    *prometheus.CounterVec
	handoff       *handoffMetrics
}

// NewMetrics registers the engine's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_events_total", Help: "Channel and agent events by bot and outcome.",
		}, []string{"bot", "outcome"}),
		sessionsOpen: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_sessions_started_total", Help: "Sessions opened by bot.",
		}, []string{"bot"}),
		sessionsClose: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_sessions_closed_total", Help: "Sessions closed by bot and reason.",
		}, []string{"bot", "reason"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_webhooks_total", Help: "Provider webhook requests by provider and result.",
		}, []string{"provider", "result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_outbox_attempts_total", Help: "Outbox work attempts by kind and result.",
		}, []string{"kind", "result"}),
		attemptTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "livechat_outbox_attempt_seconds", Help: "Time of one outbox work attempt.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"kind"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_outbox_dead_letters_total", Help: "Outbox items given up on, by kind.",
		}, []string{"kind"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_channel_deliveries_total", Help: "Deliveries accepted by channels, by bot.",
		}, []string{"bot"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_reconcile_reads_total", Help: "Sessions read back from their platform, by bot and result (ok, error, rate_limited, gone, unsupported).",
		}, []string{"bot", "result"}),
		caughtUpEv: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_reconcile_events_total", Help: "Events found by reading sessions back that no webhook had delivered, by bot.",
		}, []string{"bot"}),
	}
	reg.MustRegister(m.events, m.sessionsOpen, m.sessionsClose, m.webhooks, m.attempts, m.attemptTime, m.deadLetters, m.deliveries, m.reads, m.caughtUpEv)
	m.handoff = newHandoffMetrics(reg)
	return m
}

// OutboxCounter is what the outbox gauges read: pending and dead counts
// (Done is not shown). host/sqlite's OutboxCounts reads only those two
// states' ranges of its indexes, so a scrape costs the same however much
// work is done.
type OutboxCounter interface {
	OutboxCounts(ctx context.Context) (host.OutboxStats, error)
}

// RegisterOutboxGauges exposes livechat_outbox_items{state} for the pending
// and dead states, read from store at scrape time: one query per scrape for
// both states.
func RegisterOutboxGauges(reg prometheus.Registerer, store OutboxCounter) {
	reg.MustRegister(newOutboxCollector(store))
}

// RegisterSharedOutboxGauges is RegisterOutboxGauges for a store that
// several replicas share: a scrape shows the gauges only while reporting
// returns true, which it does on one replica at a time (host/postgres's
// DB.Reporting), so that a sum over the replicas counts each item once.
func RegisterSharedOutboxGauges(reg prometheus.Registerer, store OutboxCounter, reporting func() bool) {
	c := newOutboxCollector(store)
	c.reporting = reporting
	reg.MustRegister(c)
}

// outboxCollector is livechat_outbox_items as one prometheus.Collector, so
// that a scrape runs one count for every state. (Two GaugeFuncs ran a
// count of the whole outbox each.)
type outboxCollector struct {
	store     OutboxCounter
	desc      *prometheus.Desc
	reporting func() bool // nil: always
}

var _ prometheus.Collector = (*outboxCollector)(nil)

func newOutboxCollector(store OutboxCounter) *outboxCollector {
	return &outboxCollector{
		store: store,
		desc: prometheus.NewDesc("livechat_outbox_items",
			"Outbox items by state: pending and dead (-1 when the store cannot be read).", []string{"state"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. When the store cannot be read,
// both states show -1, a value no count can have, rather than failing the
// whole scrape.
func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	if c.reporting != nil && !c.reporting() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.store.OutboxCounts(ctx)
	pending, dead := float64(st.Pending), float64(st.Dead)
	if err != nil {
		pending, dead = -1, -1
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, pending, string(host.OutboxPending))
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, dead, string(host.OutboxDead))
}

func (m *Metrics) event(bot, outcome string) {
	if m != nil {
		m.events.WithLabelValues(bot, outcome).Inc()
	}
}

func (m *Metrics) sessionOpened(bot string) {
	if m != nil {
		m.sessionsOpen.WithLabelValues(bot).Inc()
	}
}

func (m *Metrics) sessionClosed(bot, reason string) {
	if m != nil {
		m.sessionsClose.WithLabelValues(bot, reason).Inc()
	}
}

func (m *Metrics) webhook(provider, result string) {
	if m != nil {
		m.webhooks.WithLabelValues(provider, result).Inc()
	}
}

func (m *Metrics) outboxAttempt(kind string, err error, d time.Duration) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.attempts.WithLabelValues(kind, result).Inc()
	m.attemptTime.WithLabelValues(kind).Observe(d.Seconds())
}

func (m *Metrics) deadLetter(kind string) {
	if m != nil {
		m.deadLetters.WithLabelValues(kind).Inc()
	}
}

func (m *Metrics) delivered(bot string) {
	if m != nil {
		m.deliveries.WithLabelValues(bot).Inc()
	}
}

func (m *Metrics) read(bot, result string) {
	if m != nil {
		m.reads.WithLabelValues(bot, result).Inc()
	}
}

func (m *Metrics) caughtUp(bot string, n int) {
	if m != nil {
		m.caughtUpEv.WithLabelValues(bot).Add(float64(n))
	}
}
