package fake

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Delivery is one notification and what became of it.
type Delivery struct {
	ID       string // notif_…
	Topic    string
	ConvID   string
	PartIDs  []string
	Body     []byte
	Attempts []Attempt
	Dropped  bool
}

// Attempt is one post of a notification.
type Attempt struct {
	Status int // 0: no answer
	Err    string
	At     time.Time
}

// Delivered says an attempt was answered 2xx.
func (d Delivery) Delivered() bool {
	for _, a := range d.Attempts {
		if a.Status >= 200 && a.Status < 300 {
			return true
		}
	}
	return false
}

// subscribed says the subscription has topic, or its main topic.
func (s *Server) subscribed(topic string) bool {
	for _, t := range s.opts.Topics {
		if t == topic || strings.HasPrefix(topic, t+".") {
			return true
		}
	}
	return false
}

// emit queues a notification about cv and the parts that triggered it,
// when the subscription has the topic; the lock is held.
func (s *Server) emit(topic string, cv *Conversation, parts []Part) {
	if s.hookURL == "" || !s.subscribed(topic) {
		return
	}
	now := s.now().Unix()
	id := fmt.Sprintf("notif_%08x-%04x-4e11-9a3c-%012x", s.nextID(), now%0xffff, s.seq)
	if parts == nil {
		parts = []Part{}
	}
	body, _ := json.Marshal(map[string]any{
		"type": "notification_event", "app_id": s.opts.AppID,
		"data":  map[string]any{"type": "notification_event_data", "item": s.conversationJSON(cv, parts)},
		"links": map[string]any{}, "id": id, "topic": topic, "delivery_status": "pending", "delivery_attempts": 1,
		"delivered_at": 0, "first_sent_at": now, "created_at": now, "self": nil,
	})
	d := &Delivery{ID: id, Topic: topic, ConvID: cv.ID, Body: body}
	for _, p := range parts {
		d.PartIDs = append(d.PartIDs, p.ID)
	}
	s.deliveries = append(s.deliveries, d)
	switch {
	case s.drop:
		d.Dropped = true
	case s.hold:
		s.held = append(s.held, d)
	default:
		s.queue = append(s.queue, d)
		s.poke()
	}
	s.sig.Notify()
}

func (s *Server) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// worker posts queued notifications one at a time, in order.
func (s *Server) worker() {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		if len(s.queue) == 0 {
			s.mu.Unlock()
			<-s.wake
			continue
		}
		d := s.queue[0]
		s.queue = s.queue[1:]
		s.inFlight++
		url, secret := s.hookURL, s.secret
		s.mu.Unlock()

		a := s.post(url, secret, d.Body)
		s.mu.Lock()
		d.Attempts = append(d.Attempts, a)
		s.inFlight--
		if a.Status == http.StatusTooManyRequests {
			// Throttled: sent again after the delay. Every other refusal
			// is final.
			time.AfterFunc(s.opts.ThrottleDelay, func() {
				s.mu.Lock()
				s.queue = append(s.queue, d)
				s.mu.Unlock()
				s.poke()
			})
		}
		s.mu.Unlock()
		s.sig.Notify()
	}
}

// Sign is X-Hub-Signature's value for body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

// post sends a notification as Intercom does; secret "" sends it unsigned.
func (s *Server) post(url, secret string, body []byte) Attempt {
	a := Attempt{At: s.now()}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		a.Err = err.Error()
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "intercom-parrot-service-client/1.0")
	if secret != "" {
		req.Header.Set("X-Hub-Signature", Sign(secret, body))
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		a.Err = err.Error()
		return a
	}
	resp.Body.Close()
	a.Status = resp.StatusCode
	return a
}

// SetWebhookURL points the app's subscription at url.
func (s *Server) SetWebhookURL(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hookURL = url
}

// SetSigningSecret signs notifications with secret from now on ("":
// unsigned), to forge them.
func (s *Server) SetSigningSecret(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret = secret
}

// DropWebhooks loses every notification from now on (true) or none.
func (s *Server) DropWebhooks(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = on
}

// HoldWebhooks keeps notifications back from now on until Release.
func (s *Server) HoldWebhooks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = true
}

// Release sends the held notifications, in order or reversed, and holds
// no more.
func (s *Server) Release(reversed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.held
	if reversed {
		for i, j := 0, len(held)-1; i < j; i, j = i+1, j-1 {
			held[i], held[j] = held[j], held[i]
		}
	}
	s.queue = append(s.queue, held...)
	s.held, s.hold = nil, false
	s.poke()
}

// idle says no notification is queued or on its way; the lock is held.
func (s *Server) idle() bool { return len(s.queue) == 0 && s.inFlight == 0 }

// WaitIdle waits until every notification queued so far was sent (held
// ones aside).
func (s *Server) WaitIdle(t testing.TB) {
	t.Helper()
	s.Wait(t, "the webhook queue to empty", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.idle()
	})
}

// Deliveries are copies of every notification made so far.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.deliveries))
	for i, d := range s.deliveries {
		out[i] = *d
		out[i].Attempts = append([]Attempt(nil), d.Attempts...)
	}
	return out
}

// DeliveryOf is the notification of part id.
func (s *Server) DeliveryOf(t testing.TB, partID string) Delivery {
	t.Helper()
	for _, d := range s.Deliveries() {
		for _, p := range d.PartIDs {
			if p == partID {
				return d
			}
		}
	}
	t.Fatalf("no notification of part %s", partID)
	return Delivery{}
}

// Replay posts notification id again, byte for byte with its signature,
// as a captured request would be; it returns the status.
func (s *Server) Replay(t testing.TB, id string) int {
	t.Helper()
	s.mu.Lock()
	var body []byte
	for _, d := range s.deliveries {
		if d.ID == id {
			body = d.Body
		}
	}
	url := s.hookURL
	s.mu.Unlock()
	if body == nil {
		t.Fatalf("no notification %s", id)
	}
	return s.post(url, s.opts.ClientSecret, body).Status
}
