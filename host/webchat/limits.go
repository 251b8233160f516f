package webchat

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits bound what anonymous webchat users can make livechatd hold or do:
// open streams, the memory each stream holds, identities and tickets.
// A zero field takes DefaultLimits' value.
type Limits struct {
	// StreamsPerUser is how many streams one user may have open; one more
	// is refused with 429 (the open ones are kept: a page already reading
	// is never cut by a newer one).
	StreamsPerUser int
	// Streams is how many streams may be open in all; one more is 503.
	Streams int
	// ReplayBytes is a stream's byte budget: entries are read from the
	// store and written in batches of about this many bytes, each flushed
	// before the next is read.
	ReplayBytes int
	// WriteTimeout is how long one write to a stream may take: a client
	// that does not read loses its stream, and the memory it held, then.
	WriteTimeout time.Duration
	// IdentitiesPerMinute is how many identities (POST /chat/{bot}/identity)
	// one client address may get per minute, in bursts of as many.
	IdentitiesPerMinute int
	// StartsPerMinute is how many LIVECHAT_SESSION_START events one user
	// may send per minute, in bursts of as many: each opens a ticket.
	StartsPerMinute int
	// UploadBytes is the largest file a user may upload (DefaultUploadBytes).
	UploadBytes int
	// UploadsPerMinute is how many files one user may upload per minute,
	// in bursts of as many (DefaultUploadsPerMinute).
	UploadsPerMinute int
	// UploadTypes are the types of UploadTypes an upload may have; empty
	// takes them all. A file of another type is refused with 415.
	UploadTypes []string
}

// DefaultLimits are the limits of a config without a limits block.
var DefaultLimits = Limits{
	StreamsPerUser:      4,
	Streams:             10000,
	ReplayBytes:         256 << 10,
	WriteTimeout:        10 * time.Second,
	IdentitiesPerMinute: 20,
	StartsPerMinute:     5,
	UploadBytes:         DefaultUploadBytes,
	UploadsPerMinute:    DefaultUploadsPerMinute,
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.StreamsPerUser > 0 {
		d.StreamsPerUser = l.StreamsPerUser
	}
	if l.Streams > 0 {
		d.Streams = l.Streams
	}
	if l.ReplayBytes > 0 {
		d.ReplayBytes = l.ReplayBytes
	}
	if l.WriteTimeout > 0 {
		d.WriteTimeout = l.WriteTimeout
	}
	if l.IdentitiesPerMinute > 0 {
		d.IdentitiesPerMinute = l.IdentitiesPerMinute
	}
	if l.StartsPerMinute > 0 {
		d.StartsPerMinute = l.StartsPerMinute
	}
	if l.UploadBytes > 0 {
		d.UploadBytes = l.UploadBytes
	}
	if l.UploadsPerMinute > 0 {
		d.UploadsPerMinute = l.UploadsPerMinute
	}
	if len(l.UploadTypes) > 0 {
		d.UploadTypes = slices.Clone(l.UploadTypes)
	}
	return d
}

// maxBatch bounds the entries of one read of a stream, whatever their
// sizes promise.
const maxBatch = 64

// rateLimiter is a token bucket per key (a client address, a user): rate
// tokens per minute, as many at most. Buckets that have filled up again
// are dropped once a minute, so the map holds only the keys of the last
// minute or so.
type rateLimiter struct {
	rate float64 // tokens per minute, and the burst
	now  func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(perMinute int, now func() time.Time) *rateLimiter {
	return &rateLimiter{rate: float64(perMinute), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for key; when there is none it says how long until
// there is one.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= time.Minute {
		for k, b := range l.buckets {
			if l.fill(b, now) >= l.rate {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.rate, at: now}
		l.buckets[key] = b
	}
	if l.fill(b, now) >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Minute)))
	return false, wait
}

// fill adds the tokens earned since b was last seen.
func (l *rateLimiter) fill(b *bucket, now time.Time) float64 {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(l.rate, b.tokens+d.Minutes()*l.rate)
		b.at = now
	}
	return b.tokens
}

// Metrics are the webchat's gauges and counters.
type Metrics struct {
	open     prometheus.Gauge
	buffered prometheus.Gauge
	refused  *prometheus.CounterVec
}

// NewMetrics registers the webchat's metrics with reg (nil: not exported).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{Name: "livechat_webchat_streams_open",
			Help: "Webchat streams open now."}),
		buffered: prometheus.NewGauge(prometheus.GaugeOpts{Name: "livechat_webchat_stream_buffered_bytes",
			Help: "Bytes of stream entries read from the store and not yet written to their streams."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livechat_webchat_refused_total",
			Help: "Webchat requests refused by a limit: streams_per_user, streams, identities, starts, uploads."}, []string{"limit"}),
	}
	if reg != nil {
		reg.MustRegister(m.open, m.buffered, m.refused)
	}
	return m
}
