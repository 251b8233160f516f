package fake

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Rule is an Automation rule on ticket updates whose action is "Trigger
// webhook", as an operator sets it up.
type Rule struct {
	// Events the rule involves: "Reply is sent", "Note is added", "Status
	// is changed to Resolved", "Status is changed to Closed".
	Events []string
	// ByAgent: "When an action is performed by Agent"; otherwise anyone.
	ByAgent bool
	// Tag: "Tags contains" this one (none when empty).
	Tag string
	// The action: request type, URL, custom headers, the Basic
	// credentials of "Requires authentication", and the Advanced JSON
	// content with placeholders.
	Method             string
	URL                string
	Headers            map[string]string
	Username, Password string
	Body               string
}

// Delivery is one webhook the rule triggered.
type Delivery struct {
	ID       int
	Event    string
	TicketID int64
	Body     []byte
	Attempts []Attempt
	// Dropped: lost (DropWebhooks), never attempted.
	Dropped bool
}

// Attempt is one call of a delivery.
type Attempt struct {
	At     time.Time
	Status int // 0 when the call failed without an answer
	Err    string
}

// Delivered says an attempt was answered 2xx.
func (d Delivery) Delivered() bool {
	return slices.ContainsFunc(d.Attempts, func(a Attempt) bool { return a.Status >= 200 && a.Status < 300 })
}

type hooks struct {
	s *Server // its mu guards everything here

	rule       *Rule
	deliveries []*Delivery
	queue      []*Delivery
	held       bool
	drop       bool
	running    bool
	inflight   bool
	retrying   int
	stopped    bool
	timers     []*time.Timer
	wg         sync.WaitGroup
}

// SetRule sets (or, nil, removes) the helpdesk's webhook rule.
func (s *Server) SetRule(r *Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r != nil {
		c := *r
		s.hooks.rule = &c
	} else {
		s.hooks.rule = nil
	}
}

// Rule is the current rule.
func (s *Server) Rule() (Rule, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hooks.rule == nil {
		return Rule{}, false
	}
	return *s.hooks.rule, true
}

// DropWebhooks loses every webhook triggered from now on (true) or none.
func (s *Server) DropWebhooks(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks.drop = on
}

// HoldWebhooks delays webhooks (true) until released (false), in order.
func (s *Server) HoldWebhooks(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks.held = on
	if !on {
		s.hooks.kick()
	}
}

// Deliveries are every webhook triggered so far.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.hooks.deliveries))
	for i, d := range s.hooks.deliveries {
		out[i] = *d
		out[i].Attempts = append([]Attempt{}, d.Attempts...)
	}
	return out
}

// WaitIdle waits until no webhook is queued, being sent or waiting for a
// retry (held ones excepted).
func (s *Server) WaitIdle(t testing.TB) {
	t.Helper()
	s.Wait(t, "the webhooks to be sent", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		h := &s.hooks
		return (len(h.queue) == 0 || h.held) && !h.inflight && h.retrying == 0
	})
}

// render fills the rule's placeholders from the ticket as it is now.
func render(tpl string, t *ticket, event string) string {
	latest := ""
	for _, c := range slices.Backward(t.convs) {
		if !c.Private {
			latest = c.BodyText
			break
		}
	}
	return strings.NewReplacer(
		"{{ticket.id}}", strconv.FormatInt(t.ID, 10),
		"{{ticket.status}}", statusNames[t.Status],
		"{{ticket.subject}}", t.Subject,
		"{{ticket.latest_public_comment}}", latest,
		"{{triggered_event}}", event,
	).Replace(tpl)
}

// fire runs the rule for an event on t; the lock is held.
func (h *hooks) fire(t *ticket, event string, byAgent bool) {
	r := h.rule
	if r == nil || h.stopped || !slices.Contains(r.Events, event) || (r.ByAgent && !byAgent) || (r.Tag != "" && !slices.Contains(t.Tags, r.Tag)) {
		return
	}
	d := &Delivery{ID: len(h.deliveries) + 1, Event: event, TicketID: t.ID, Body: []byte(render(r.Body, t, event))}
	h.deliveries = append(h.deliveries, d)
	h.s.changed.Broadcast()
	if h.drop {
		d.Dropped = true
		return
	}
	h.queue = append(h.queue, d)
	h.kick()
}

// kick starts the sender; the lock is held.
func (h *hooks) kick() {
	if h.running || h.held || len(h.queue) == 0 || h.stopped {
		return
	}
	h.running = true
	h.wg.Add(1)
	go h.run()
}

// run sends the queue in order, one call at a time. Each call counts
// against the account's API rate limit; over it, the queue waits for the
// next window, as Freshdesk postpones webhooks past the limit.
func (h *hooks) run() {
	defer h.wg.Done()
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(h.queue) > 0 && !h.held && !h.stopped {
		now := s.o.Now()
		if w0 := now.Truncate(time.Minute); !w0.Equal(s.window) {
			s.window, s.used, s.endpoint = w0, 0, map[string]int{}
		}
		if s.used >= s.o.RateLimit {
			wait := s.window.Add(time.Minute).Sub(now)
			h.later(wait, nil)
			break
		}
		s.used++
		d := h.queue[0]
		h.queue = h.queue[1:]
		r := *h.rule
		h.inflight = true
		s.mu.Unlock()
		status, err := h.call(r, d.Body)
		s.mu.Lock()
		h.inflight = false
		a := Attempt{At: s.o.Now(), Status: status}
		if err != nil {
			a.Err = err.Error()
		}
		d.Attempts = append(d.Attempts, a)
		if status < 200 || status >= 300 {
			if n := len(d.Attempts) - 1; n < len(s.o.Retries) {
				h.later(s.o.Retries[n], d)
			}
		}
		s.changed.Broadcast()
	}
	h.running = false
	s.changed.Broadcast()
}

// later queues d again (or just wakes the sender) after wait; the lock is
// held.
func (h *hooks) later(wait time.Duration, d *Delivery) {
	h.retrying++
	h.timers = append(h.timers, time.AfterFunc(wait, func() {
		h.s.mu.Lock()
		defer h.s.mu.Unlock()
		h.retrying--
		if d != nil && !h.stopped {
			h.queue = append(h.queue, d)
		}
		h.kick()
		h.s.changed.Broadcast()
	}))
}

func (h *hooks) call(r Rule, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), h.s.o.WebhookTimeout)
	defer cancel()
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Freshdesk")
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	if r.Username != "" || r.Password != "" {
		req.SetBasicAuth(r.Username, r.Password)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// stop ends the sender and the retry timers.
func (h *hooks) stop() {
	h.s.mu.Lock()
	h.stopped = true
	for _, t := range h.timers {
		if t.Stop() {
			h.retrying--
		}
	}
	h.s.changed.Broadcast()
	h.s.mu.Unlock()
	h.wg.Wait()
}
