package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/livechatd/livechatd/sdk/platform"
	"github.com/livechatd/livechatd/sdk/webhook"
)

// The ticket event types the webhook is subscribed to.
const (
	EventCommentAdded  = "zen:event-type:ticket.comment_added"
	EventStatusChanged = "zen:event-type:ticket.status_changed"
	// EventAgentAssignmentChanged: the ticket's assignee changed.
	EventAgentAssignmentChanged = "zen:event-type:ticket.agent_assignment_changed"
)

// Delivery is one webhook invocation (one event) and its attempts.
type Delivery struct {
	// ID is the invocation's id (X-Zendesk-Webhook-Invocation-Id); the
	// event's own id is in the body.
	ID       string
	Event    string
	TicketID int64
	// CommentID is the comment of a comment_added event.
	CommentID int64
	Body      []byte
	Attempts  []Attempt
	Dropped   bool
}

// Delivered reports whether an attempt was answered 2xx.
func (d Delivery) Delivered() bool {
	for _, a := range d.Attempts {
		if a.Status >= 200 && a.Status < 300 {
			return true
		}
	}
	return false
}

// Attempt is one POST of a delivery.
type Attempt struct {
	Status int // 0: no answer (a network error or the timeout)
	Err    string
}

// emit queues the webhook of an event on t; the lock is held.
func (s *Server) emit(t *Ticket, typ string, event map[string]any) {
	detail := map[string]any{
		"actor_id":        strconv.FormatInt(s.apiUser, 10),
		"assignee_id":     nil,
		"brand_id":        "360000000001",
		"created_at":      t.CreatedAt,
		"custom_status":   "",
		"description":     t.Description,
		"external_id":     t.ExternalID,
		"form_id":         "360000000002",
		"group_id":        nullableID(t.GroupID),
		"id":              strconv.FormatInt(t.ID, 10),
		"is_public":       t.IsPublic,
		"organization_id": nil,
		"priority":        nullable(t.Priority),
		"requester_id":    strconv.FormatInt(t.RequesterID, 10),
		"status":          upper(t.Status),
		"subject":         t.Subject,
		"submitter_id":    strconv.FormatInt(t.SubmitterID, 10),
		"tags":            t.Tags,
		"type":            nil,
		"updated_at":      s.now(),
		"via":             map[string]any{"channel": "web_service"},
	}
	if t.AssigneeID != nil {
		detail["assignee_id"] = strconv.FormatInt(*t.AssigneeID, 10)
	}
	body, _ := json.Marshal(map[string]any{
		"account_id":            s.opts.AccountID,
		"detail":                detail,
		"event":                 event,
		"id":                    newUUID(),
		"subject":               "zen:ticket:" + strconv.FormatInt(t.ID, 10),
		"time":                  s.opts.Now().UTC().Format(time.RFC3339Nano),
		"type":                  typ,
		"zendesk_event_version": "2022-11-06",
	})
	d := &Delivery{ID: newUUID(), Event: typ, TicketID: t.ID, Body: body}
	if c, ok := event["comment"].(map[string]any); ok {
		d.CommentID, _ = strconv.ParseInt(c["id"].(string), 10, 64)
	}
	s.all = append(s.all, d)
	if s.drop || s.hookURL == "" {
		d.Dropped = true
		return
	}
	s.queue = append(s.queue, d)
	s.kick()
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func newUUID() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// kick starts the sender unless it runs or deliveries are held; the lock
// is held.
func (s *Server) kick() {
	if !s.sending && !s.hold && len(s.queue) > 0 {
		s.sending = true
		go s.sender()
	}
}

// sender delivers the queue in order, one invocation at a time, with its
// retries.
func (s *Server) sender() {
	s.mu.Lock()
	for len(s.queue) > 0 && !s.hold && !s.stopping {
		d := s.queue[0]
		s.queue = s.queue[1:]
		url, secret := s.hookURL, s.secret
		s.mu.Unlock()
		s.deliver(d, url, secret)
		s.mu.Lock()
	}
	s.sending = false
	s.mu.Unlock()
	s.sig.Notify()
}

// maxRetries is how many times Zendesk retries one invocation.
const maxRetries = 3

// deliver makes d's attempts: the first, and the retries Zendesk makes.
func (s *Server) deliver(d *Delivery, url, secret string) {
	for try := 0; ; try++ {
		a, retryAfter := s.post(d, url, secret)
		s.mu.Lock()
		d.Attempts = append(d.Attempts, a)
		stopping := s.stopping
		s.mu.Unlock()
		s.sig.Notify()
		if stopping || try >= maxRetries {
			return
		}
		var wait time.Duration
		switch {
		case a.Status == http.StatusConflict:
			wait = time.Second
		case (a.Status == http.StatusTooManyRequests || a.Status == http.StatusServiceUnavailable) && retryAfter > 0 && retryAfter < time.Minute:
			wait = retryAfter
		case a.Status == 0 && a.Err == "timeout":
			wait = time.Second
		default:
			return // delivered, or a failure Zendesk does not retry
		}
		if w := s.opts.RetryWait(wait); w > 0 {
			t := time.NewTimer(w)
			<-t.C
		}
	}
}

// post makes one attempt, signed with secret ("" sends it unsigned).
func (s *Server) post(d *Delivery, url, secret string) (Attempt, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return Attempt{Err: err.Error()}, 0
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Zendesk Webhook")
	req.Header.Set("X-Zendesk-Account-Id", strconv.FormatInt(s.opts.AccountID, 10))
	req.Header.Set("X-Zendesk-Webhook-Id", s.hookID)
	req.Header.Set("X-Zendesk-Webhook-Invocation-Id", d.ID)
	if secret != "" {
		ts := webhook.Zendesk.Timestamp(s.opts.Now())
		req.Header.Set("X-Zendesk-Webhook-Signature-Timestamp", ts)
		req.Header.Set("X-Zendesk-Webhook-Signature", webhook.Zendesk.Sign(secret, ts, d.Body))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Attempt{Err: "timeout"}, 0
		}
		return Attempt{Err: err.Error()}, 0
	}
	defer res.Body.Close()
	after, _ := platform.ParseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	return Attempt{Status: res.StatusCode}, after
}

// SetWebhookURL points the webhook at url; deliveries queued meanwhile go
// out now.
func (s *Server) SetWebhookURL(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hookURL = url
	s.kick()
}

// SetSigningSecret changes the secret deliveries are signed with from now
// on ("" sends them unsigned): a forger's, or a rotated secret.
func (s *Server) SetSigningSecret(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret = secret
}

// DropWebhooks loses every webhook from now on (true) or none (false), as
// Zendesk's are lost while livechatd is down or once its retries end.
func (s *Server) DropWebhooks(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop = on
}

// HoldWebhooks keeps deliveries queued until Release: webhooks that are
// late.
func (s *Server) HoldWebhooks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = true
}

// Release sends the held deliveries.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = false
	s.kick()
}

// WaitIdle waits until no delivery is queued or being sent (held ones
// aside).
func (s *Server) WaitIdle(t testingTB) {
	t.Helper()
	s.sig.Wait(t, WaitTimeout, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.sending && (s.hold || len(s.queue) == 0)
	}, func() string { return "waiting for the webhook deliveries" })
}

// Redeliver posts delivery id again now, freshly signed with the webhook's
// secret (what "Resend" in the webhook's activity does), and returns the
// answer's status.
func (s *Server) Redeliver(id string) int {
	s.mu.Lock()
	var d *Delivery
	for _, x := range s.all {
		if x.ID == id {
			d = x
		}
	}
	url, secret := s.hookURL, s.secret
	s.mu.Unlock()
	if d == nil {
		return 0
	}
	a, _ := s.post(d, url, secret)
	s.mu.Lock()
	d.Attempts = append(d.Attempts, a)
	s.mu.Unlock()
	s.sig.Notify()
	return a.Status
}

// Deliveries returns every webhook invocation so far, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, 0, len(s.all))
	for _, d := range s.all {
		c := *d
		c.Attempts = append([]Attempt(nil), d.Attempts...)
		out = append(out, c)
	}
	return out
}
