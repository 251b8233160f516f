package sandbox

import (
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// CallWindow is the window of the per-account call counter: Gorgias's
// rate-limit period for API keys (40 calls per 20 s, §1.2).
const CallWindow = 20 * time.Second

// CallStats is what the call counter knows of one account: every REST
// call the sandbox admitted (carried out: not refused by the rate limit,
// an injected fault or the authentication), and the most it admitted in
// any CallWindow, sliding. A test asserts with MaxInWindow that a client
// kept within Gorgias's limit. The leaky bucket lets a bursty client
// through with more (40 at once, then 2/s: up to 80 in 20 s) before it
// answers 429, so a client that merely avoids 429s may still exceed 40
// here.
type CallStats struct {
	Calls       int       `json:"calls"`
	MaxInWindow int       `json:"max_in_window"`
	MaxAt       time.Time `json:"max_at,omitzero"` // when the maximum was first reached
}

// callCounter keeps one account's admission times within the window.
type callCounter struct {
	stats  CallStats
	recent []time.Time // admitted in (now-CallWindow, now], oldest first
}

// countCall records one admitted call of account. Callers hold mu.
func (s *Sandbox) countCall(account string, now time.Time) {
	account = strings.ToLower(account)
	if s.calls == nil {
		s.calls = map[string]*callCounter{}
	}
	c := s.calls[account]
	if c == nil {
		c = &callCounter{}
		s.calls[account] = c
	}
	c.stats.Calls++
	c.recent = append(c.recent, now)
	cut := 0
	for cut < len(c.recent) && !c.recent[cut].After(now.Add(-CallWindow)) {
		cut++
	}
	c.recent = c.recent[cut:]
	if n := len(c.recent); n > c.stats.MaxInWindow {
		c.stats.MaxInWindow, c.stats.MaxAt = n, now
	}
}

// CallStats returns the call counter of one account (an API user's email).
func (s *Sandbox) CallStats(email string) CallStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.calls[strings.ToLower(email)]; c != nil {
		return c.stats
	}
	return CallStats{}
}

// MaxCallsInWindow is the most REST calls of account admitted within any
// CallWindow so far.
func (s *Sandbox) MaxCallsInWindow(email string) int { return s.CallStats(email).MaxInWindow }

// ResetCallStats forgets every account's calls, e.g. after a test's setup.
func (s *Sandbox) ResetCallStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// ---- /sandbox/calls

func (s *Sandbox) registerCalls(r *mux.Router) {
	r.HandleFunc("/sandbox/calls", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		accounts := map[string]CallStats{}
		for email, c := range s.calls {
			accounts[email] = c.stats
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"window_seconds": CallWindow.Seconds(), "accounts": accounts})
	}).Methods(http.MethodGet)
	r.HandleFunc("/sandbox/calls", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetCallStats()
		w.WriteHeader(http.StatusNoContent)
	}).Methods(http.MethodDelete)
}
