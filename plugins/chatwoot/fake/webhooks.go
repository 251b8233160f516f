package fake

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Delivery is one webhook event and its delivery attempts. Its ID is the
// X-Chatwoot-Delivery header, the same on every attempt.
type Delivery struct {
	ID             string
	Event          string
	Body           []byte
	MessageID      int64 // for message_created
	ConversationID int64
	Attempts       []Attempt
	// Dropped: a DropWebhooks rule took it; it was never sent.
	Dropped bool
	// Held: a HoldWebhooks rule holds it until Release.
	Held bool
}

// Delivered reports whether an attempt was answered 2xx.
func (d Delivery) Delivered() bool {
	for _, a := range d.Attempts {
		if a.Status/100 == 2 {
			return true
		}
	}
	return false
}

// Attempt is one POST of a delivery.
type Attempt struct {
	Status int // 0 when the request failed
	Err    string
	Header http.Header
	// Replay: the exact request of an earlier attempt, sent again.
	Replay bool
}

var allEvents = []string{"conversation_created", "conversation_status_changed", "message_created",
	"conversation_updated", "conversation_typing_on", "conversation_typing_off"}

// emit queues a webhook; the caller holds s.mu.
func (s *Server) emit(event string, payload map[string]any, messageID, convID int64) {
	events := s.opts.Events
	if events == nil {
		events = allEvents
	}
	if !slices.Contains(events, event) {
		return
	}
	body, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("fake chatwoot: encode %s webhook: %v", event, err))
	}
	d := &Delivery{ID: newUUID(), Event: event, Body: body, MessageID: messageID, ConversationID: convID}
	s.deliveries = append(s.deliveries, d)
	switch s.take(event) {
	case dropWebhook:
		d.Dropped = true
		return
	case holdWebhook:
		d.Held = true
		s.held = append(s.held, d)
		return
	}
	s.queue = append(s.queue, d)
	s.cond.Broadcast()
}

// worker sends queued deliveries one at a time, in order, while there is a
// webhook URL. Each is sent once: Chatwoot never retries an account
// webhook (WebhookJob has no retry, Webhooks::Trigger logs the failure),
// so a delivery refused, answered 5xx or timed out is lost.
func (s *Server) worker() {
	defer close(s.done)
	for {
		s.mu.Lock()
		for !s.closed && (len(s.queue) == 0 || s.webhookURL == "") {
			s.cond.Wait()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		d := s.queue[0]
		s.queue = s.queue[1:]
		s.inflight++
		url, secret := s.webhookURL, s.secret
		s.mu.Unlock()

		a := s.post(url, d, s.sign(secret, d), false)

		s.mu.Lock()
		s.inflight--
		s.record(d, a)
		s.mu.Unlock()
		s.w.Notify()
	}
}

// sign makes the headers of a fresh attempt: the delivery id, and when
// there is a secret, X-Chatwoot-Timestamp (the fake's clock) and
// X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>.
func (s *Server) sign(secret string, d *Delivery) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	h.Set("X-Chatwoot-Delivery", d.ID)
	if secret != "" {
		ts := strconv.FormatInt(s.opts.Now().Unix(), 10)
		h.Set("X-Chatwoot-Timestamp", ts)
		h.Set("X-Chatwoot-Signature", "sha256="+Sign(secret, ts, d.Body))
	}
	return h
}

// Sign is the hex HMAC-SHA256 Chatwoot puts in X-Chatwoot-Signature after
// "sha256=".
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// post sends one attempt; it does not hold s.mu.
func (s *Server) post(url string, d *Delivery, h http.Header, replay bool) Attempt {
	a := Attempt{Header: h.Clone(), Replay: replay}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		a.Err = err.Error()
		return a
	}
	req.Header = h.Clone()
	resp, err := s.client.Do(req)
	if err != nil {
		a.Err = err.Error()
		return a
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	a.Status = resp.StatusCode
	return a
}

// record keeps an attempt; a failed one puts the delivery on the retry
// list, a good one takes it off. The caller holds s.mu.
func (s *Server) record(d *Delivery, a Attempt) {
	d.Attempts = append(d.Attempts, a)
	i := slices.Index(s.failed, d)
	switch {
	case a.Status/100 == 2 && i >= 0:
		s.failed = slices.Delete(s.failed, i, i+1)
	case a.Status/100 != 2 && i < 0 && !a.Replay:
		s.failed = append(s.failed, d)
	}
}

// SetWebhookURL points the account webhook at url; queued deliveries go
// out once it is set.
func (s *Server) SetWebhookURL(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL = url
	s.cond.Broadcast()
}

// SetSigningSecret changes the secret deliveries are signed with from now
// on: a wrong one forges signatures, "" sends them unsigned.
func (s *Server) SetSigningSecret(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret = secret
}

// WaitIdle waits until no delivery is queued or being sent (with no
// webhook URL set, nothing can be sent: that is idle too).
func (s *Server) WaitIdle(t testing.TB) {
	t.Helper()
	s.w.Wait(t, WaitTimeout, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.inflight == 0 && (len(s.queue) == 0 || s.webhookURL == "")
	}, func() string { return "webhook deliveries still pending" })
}

// Flush sends again every delivery whose last attempt failed, with a
// fresh timestamp and signature, and waits until all are sent. Chatwoot
// itself never does this (it does not retry account webhooks): Flush is a
// test resending by hand. A lost webhook is what DropWebhooks makes, and
// only reading the conversation back (ReadSession) recovers it.
func (s *Server) Flush(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	s.queue = append(s.queue, s.failed...)
	s.failed = nil
	s.cond.Broadcast()
	s.mu.Unlock()
	s.WaitIdle(t)
}

// Redeliver sends delivery id again now, with the same X-Chatwoot-Delivery
// and body, a fresh timestamp and signature: an at-least-once redelivery.
// It returns the HTTP status of the answer (0 when the request failed).
func (s *Server) Redeliver(t testing.TB, id string) int {
	t.Helper()
	d, url, secret := s.delivery(t, id)
	a := s.post(url, d, s.sign(secret, d), false)
	s.mu.Lock()
	s.record(d, a)
	s.mu.Unlock()
	s.w.Notify()
	return a.Status
}

// Replay sends the exact request of delivery id's last attempt again, old
// timestamp and signature included, as someone who captured it would.
func (s *Server) Replay(t testing.TB, id string) int {
	t.Helper()
	d, url, _ := s.delivery(t, id)
	s.mu.Lock()
	if len(d.Attempts) == 0 {
		s.mu.Unlock()
		t.Fatalf("fake chatwoot: delivery %s was never sent", id)
	}
	h := d.Attempts[len(d.Attempts)-1].Header
	s.mu.Unlock()
	a := s.post(url, d, h, true)
	s.mu.Lock()
	s.record(d, a)
	s.mu.Unlock()
	s.w.Notify()
	return a.Status
}

func (s *Server) delivery(t testing.TB, id string) (*Delivery, string, string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.deliveries {
		if d.ID == id {
			if s.webhookURL == "" {
				t.Fatalf("fake chatwoot: no webhook URL set")
			}
			return d, s.webhookURL, s.secret
		}
	}
	t.Fatalf("fake chatwoot: no delivery %s", id)
	return nil, "", ""
}

// Deliveries returns every webhook event so far with its attempts, oldest
// first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, 0, len(s.deliveries))
	for _, d := range s.deliveries {
		c := *d
		c.Attempts = append([]Attempt(nil), d.Attempts...)
		out = append(out, c)
	}
	return out
}

// DeliveryOf returns the message_created delivery of message id.
func (s *Server) DeliveryOf(t testing.TB, messageID int64) Delivery {
	t.Helper()
	for _, d := range s.Deliveries() {
		if d.Event == "message_created" && d.MessageID == messageID {
			return d
		}
	}
	t.Fatalf("fake chatwoot: no delivery of message %d", messageID)
	return Delivery{}
}

// WebhookRule selects webhook events for DropWebhooks and HoldWebhooks.
type WebhookRule struct {
	// Event is the event's name, e.g. "message_created" or
	// "conversation_status_changed"; "" matches every event.
	Event string
	// Next is how many matching events the rule takes; 0 takes every one
	// until ResumeWebhooks.
	Next int
}

type webhookAction int

const (
	sendWebhook webhookAction = iota
	dropWebhook
	holdWebhook
)

type webhookRule struct {
	WebhookRule
	action webhookAction
}

// DropWebhooks loses the webhook events r selects: they are recorded
// (Delivery.Dropped) and never sent, as a delivery Chatwoot made while
// livechatd was down. Rules apply in the order given.
func (s *Server) DropWebhooks(r WebhookRule) { s.addRule(r, dropWebhook) }

// HoldWebhooks delays the webhook events r selects until Release.
func (s *Server) HoldWebhooks(r WebhookRule) { s.addRule(r, holdWebhook) }

// ResumeWebhooks removes every drop and hold rule; held events stay held
// until Release.
func (s *Server) ResumeWebhooks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
}

func (s *Server) addRule(r WebhookRule, a webhookAction) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &webhookRule{WebhookRule: r, action: a})
}

// take applies the first rule matching event; the caller holds s.mu.
func (s *Server) take(event string) webhookAction {
	for i, r := range s.rules {
		if r.Event != "" && r.Event != event {
			continue
		}
		if r.Next > 0 {
			r.Next--
			if r.Next == 0 {
				s.rules = slices.Delete(s.rules, i, i+1)
			}
		}
		return r.action
	}
	return sendWebhook
}

// Release sends the held webhook events, oldest first (reversed: newest
// first, to deliver them out of order), and waits until they are sent.
func (s *Server) Release(t testing.TB, reversed bool) {
	t.Helper()
	s.mu.Lock()
	held := s.held
	s.held = nil
	if reversed {
		slices.Reverse(held)
	}
	for _, d := range held {
		d.Held = false
	}
	s.queue = append(s.queue, held...)
	s.cond.Broadcast()
	s.mu.Unlock()
	s.WaitIdle(t)
}

// Fault is an injected failure of the API.
type Fault struct {
	// Method and Path select the requests ("" matches any); Path matches the
	// end of the path after /api/v1/accounts/<id>, e.g. "/messages".
	Method, Path string
	// Status is the answer: 429 (with Rack::Attack's body), 5xx, or any.
	Status     int
	RetryAfter string
	// Times is how many requests fail (1 when 0).
	Times int
	// Apply carries the request out before failing it: the answer is lost,
	// not the work.
	Apply bool
}

// Fail injects f; faults apply in the order given.
func (s *Server) Fail(f Fault) {
	if f.Times == 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// fault takes the first fault matching r, if any.
func (s *Server) fault(r *http.Request) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if (f.Method == "" || f.Method == r.Method) && (f.Path == "" || hasSuffix(r.URL.Path, f.Path)) {
			f.Times--
			if f.Times <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			c := *f
			return &c
		}
	}
	return nil
}

func hasSuffix(path, suffix string) bool {
	return len(path) >= len(suffix) && path[len(path)-len(suffix):] == suffix
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// WaitTimeout bounds every wait of the fake.
var WaitTimeout = 20 * time.Second
