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
	}
	reg.MustRegister(m.events, m.sessionsOpen, m.sessionsClose, m.webhooks, m.attempts, m.attemptTime, m.deadLetters, m.deliveries)
	return m
}

// RegisterOutboxGauges exposes the outbox's counts by state, read from the
// store at scrape time.
func RegisterOutboxGauges(reg prometheus.Registerer, store host.Store) {
	for _, state := range []host.OutboxState{host.OutboxPending, host.OutboxDead} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "livechat_outbox_items",
			Help:        "Outbox items by state.",
			ConstLabels: prometheus.Labels{"state": string(state)},
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			st, err := store.OutboxStats(ctx)
			if err != nil {
				return -1
			}
			if state == host.OutboxDead {
				return float64(st.Dead)
			}
			return float64(st.Pending)
		}))
	}
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
