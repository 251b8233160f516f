package platform

import (
	"sync"
	"time"
)

// Limiter keeps the calls of one platform account within its rate limit.
// Share one among the Clients of the account (several bots may use one
// account, and the platform counts them together).
//
// It does two things: it lets at most calls calls start in any window of
// per (the platform's documented budget, e.g. Gorgias's 40 per 20 s), and
// it holds every call until a time, which Client sets after a 429 (its
// Retry-After) and a plugin may set from a platform's usage header.
type Limiter struct {
	calls int
	per   time.Duration

	mu        sync.Mutex
	notBefore time.Time
	recent    []time.Time // starts of the calls of the last window, oldest first
}

// NewLimiter returns a Limiter of calls per window; calls <= 0 or per <= 0
// makes one that only holds (after 429s and Hold).
func NewLimiter(calls int, per time.Duration) *Limiter {
	if calls <= 0 || per <= 0 {
		calls, per = 0, 0
	}
	return &Limiter{calls: calls, per: per}
}

// Hold makes every call wait until t at least.
func (l *Limiter) Hold(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.notBefore) {
		l.notBefore = t
	}
}

// reserve returns how long a call must wait at now; when it may go at once
// (zero), the call is counted.
func (l *Limiter) reserve(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if wait := l.notBefore.Sub(now); wait > 0 {
		return wait
	}
	if l.calls == 0 {
		return 0
	}
	i := 0
	for i < len(l.recent) && !l.recent[i].Add(l.per).After(now) {
		i++
	}
	l.recent = l.recent[i:]
	if len(l.recent) >= l.calls {
		return l.recent[0].Add(l.per).Sub(now)
	}
	l.recent = append(l.recent, now)
	return 0
}
