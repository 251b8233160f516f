package engine

import (
	"strconv"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/prometheus/client_golang/prometheus"
)

// The outcome metrics of docs/handoff.md. The histograms' buckets are also
// those of GET /v1/stats, so that both give the same figures.
var (
	// FirstAgentBuckets bound livechat_first_agent_seconds.
	FirstAgentBuckets = []time.Duration{5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute,
		5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}
	// SessionLengthBuckets bound livechat_session_seconds.
	SessionLengthBuckets = []time.Duration{30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 4 * time.Hour, 24 * time.Hour}
)

// handoffMetrics are the outcome metrics.
type handoffMetrics struct {
	firstAgent *prometheus.HistogramVec
	length     *prometheus.HistogramVec
	outcomes   *prometheus.CounterVec
	csat       *prometheus.CounterVec
}

func seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

func newHandoffMetrics(reg prometheus.Registerer) *handoffMetrics {
	m := &handoffMetrics{
		firstAgent: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "livechat_first_agent_seconds", Help: "Time from START to the first agent message, by bot and provider.",
			Buckets: seconds(FirstAgentBuckets),
		}, []string{"bot", "provider"}),
		length: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "livechat_session_seconds", Help: "Time from START to the end of the session, by bot and provider.",
			Buckets: seconds(SessionLengthBuckets),
		}, []string{"bot", "provider"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_session_outcomes_total", Help: "Handoffs by bot, provider and end reason (user, agent, expired, max_wait, admin, failed, closed_hours).",
		}, []string{"bot", "provider", "reason"}),
		csat: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_csat_ratings_total", Help: "CSAT ratings by bot, provider and score.",
		}, []string{"bot", "provider", "score"}),
	}
	reg.MustRegister(m.firstAgent, m.length, m.outcomes, m.csat)
	return m
}

// outcomeClosed observes a closed outcome: its length and end reason.
func (m *Metrics) outcomeClosed(o *host.Outcome) {
	if m == nil || o == nil || o.EndedAt.IsZero() {
		return
	}
	m.handoff.outcomes.WithLabelValues(o.Bot, o.Provider, o.EndReason).Inc()
	m.handoff.length.WithLabelValues(o.Bot, o.Provider).Observe(o.EndedAt.Sub(o.StartedAt).Seconds())
}

// firstAgent observes the time to the first agent message.
func (m *Metrics) firstAgent(o *host.Outcome) {
	if m == nil || o == nil || o.FirstAgentAt.IsZero() {
		return
	}
	m.handoff.firstAgent.WithLabelValues(o.Bot, o.Provider).Observe(o.FirstAgentAt.Sub(o.StartedAt).Seconds())
}

func (m *Metrics) rated(o *host.Outcome) {
	if m == nil || o == nil {
		return
	}
	m.handoff.csat.WithLabelValues(o.Bot, o.Provider, strconv.Itoa(o.CSATScore)).Inc()
}

// closedHours counts a START outside hours, which opens no session.
func (m *Metrics) closedHours(bot, provider string) {
	if m != nil {
		m.handoff.outcomes.WithLabelValues(bot, provider, ReasonClosedHours).Inc()
	}
}
