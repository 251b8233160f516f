package sandbox

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/mux"
)

// WebhookFault makes webhook deliveries (HTTP integration requests) go
// missing or arrive late, as real ones do: Gorgias drops one now and then
// and disables an integration after repeated failures, and a receiver that
// was restarting never hears of what it missed. Livechatd must catch up by
// reading the ticket back (issue 11); these faults are how tests and the
// demo take the webhook away.
//
// A fault applies to the deliveries of IntegrationID, or of every
// integration when it is 0; to the next Count of them, or to all until it
// is cleared when Count is 0. Drop loses the event for that integration:
// no request is made, nothing is retried, and the event is listed by
// DroppedWebhooks. Delay holds the delivery (and, as deliveries are in
// order per integration, the ones queued behind it) for that long in real
// time before it is made; with Drop it is ignored.
type WebhookFault struct {
	IntegrationID int64         `json:"integration_id,omitempty"`
	Count         int           `json:"count,omitempty"`
	Drop          bool          `json:"drop,omitempty"`
	Delay         time.Duration `json:"-"`
}

// DroppedWebhook is an event a WebhookFault kept from an integration.
type DroppedWebhook struct {
	IntegrationID int64     `json:"integration_id"`
	EventID       int64     `json:"event_id"`
	EventType     string    `json:"event_type"`
	Time          time.Time `json:"time"` // from Options.Now
}

// AddWebhookFault queues a webhook fault; the first that matches a
// delivery applies to it.
func (s *Sandbox) AddWebhookFault(f WebhookFault) {
	if f.Count < 0 {
		f.Count = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookFaults = append(s.webhookFaults, f)
	s.touch()
}

// DropWebhooks drops every delivery of every integration until
// ClearWebhookFaults.
func (s *Sandbox) DropWebhooks() { s.AddWebhookFault(WebhookFault{Drop: true}) }

// DropNextWebhooks drops the next n deliveries, whatever their integration.
func (s *Sandbox) DropNextWebhooks(n int) {
	if n > 0 {
		s.AddWebhookFault(WebhookFault{Drop: true, Count: n})
	}
}

// DelayWebhooks holds every delivery d before it is made, until
// ClearWebhookFaults.
func (s *Sandbox) DelayWebhooks(d time.Duration) { s.AddWebhookFault(WebhookFault{Delay: d}) }

// WebhookFaults lists the webhook faults still in force, each with the
// count it has left (0: until cleared).
func (s *Sandbox) WebhookFaults() []WebhookFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]WebhookFault{}, s.webhookFaults...)
}

// ClearWebhookFaults lets every delivery through again. Dropped events
// stay dropped (Redeliver sends one again).
func (s *Sandbox) ClearWebhookFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookFaults = nil
	s.touch()
}

// DroppedWebhooks lists the events kept from integrations, in order.
func (s *Sandbox) DroppedWebhooks() []DroppedWebhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DroppedWebhook{}, s.dropped...)
}

// takeWebhookFault uses up the first fault matching a delivery to
// integration. Callers hold mu.
func (s *Sandbox) takeWebhookFault(integration int64) (WebhookFault, bool) {
	for i := range s.webhookFaults {
		f := &s.webhookFaults[i]
		if f.IntegrationID != 0 && f.IntegrationID != integration {
			continue
		}
		out := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				s.webhookFaults = append(s.webhookFaults[:i], s.webhookFaults[i+1:]...)
			}
		}
		return out, true
	}
	return WebhookFault{}, false
}

// webhookFault decides a job's fate before its first attempt: false means
// it was dropped (and recorded) or the sandbox closed while it was held.
func (s *Sandbox) webhookFault(in *integration, j job) bool {
	s.mu.Lock()
	f, ok := s.takeWebhookFault(in.ID)
	if ok && f.Drop {
		s.dropped = append(s.dropped, DroppedWebhook{IntegrationID: in.ID, EventID: j.event.ID, EventType: j.event.Type, Time: s.now()})
		s.touch()
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return true
	case f.Drop:
		s.log.Info("webhook dropped", "integration", in.ID, "event", j.event.ID, "type", j.event.Type)
		return false
	case f.Delay > 0:
		s.log.Info("webhook delayed", "integration", in.ID, "event", j.event.ID, "type", j.event.Type, "delay", f.Delay)
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return false
		}
	}
	return true
}

// ---- /sandbox/webhook-faults

func (s *Sandbox) registerWebhookFaults(r *mux.Router) {
	r.HandleFunc("/sandbox/webhook-faults", s.postWebhookFault).Methods(http.MethodPost)
	r.HandleFunc("/sandbox/webhook-faults", func(w http.ResponseWriter, _ *http.Request) {
		out := []map[string]any{}
		for _, f := range s.WebhookFaults() {
			out = append(out, webhookFaultJSON(f))
		}
		writeJSON(w, http.StatusOK, map[string]any{"faults": out, "dropped": s.DroppedWebhooks()})
	}).Methods(http.MethodGet)
	r.HandleFunc("/sandbox/webhook-faults", func(w http.ResponseWriter, _ *http.Request) {
		s.ClearWebhookFaults()
		w.WriteHeader(http.StatusNoContent)
	}).Methods(http.MethodDelete)
}

func webhookFaultJSON(f WebhookFault) map[string]any {
	return map[string]any{"integration_id": f.IntegrationID, "count": f.Count, "drop": f.Drop, "delay": f.Delay.Seconds()}
}

// postWebhookFault: {"drop": true} drops every webhook until DELETE;
// {"drop": true, "count": 3} the next three; {"delay": 2.5} holds each
// one 2.5 s; "integration_id": 401 limits it to one integration.
func (s *Sandbox) postWebhookFault(w http.ResponseWriter, r *http.Request) {
	var in struct {
		IntegrationID int64   `json:"integration_id"`
		Count         int     `json:"count"`
		Drop          bool    `json:"drop"`
		Delay         float64 `json:"delay"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, invalid("Invalid webhook fault", "body", "Must be a JSON object with drop, delay, count and integration_id: "+err.Error()))
		return
	}
	switch {
	case !in.Drop && in.Delay <= 0:
		writeError(w, invalid("Invalid webhook fault", "drop", `Set "drop": true or a positive "delay" in seconds.`))
		return
	case in.Delay < 0 || in.Delay > 3600:
		writeError(w, invalid("Invalid webhook fault", "delay", "Must be between 0 and 3600 seconds."))
		return
	case in.Count < 0:
		writeError(w, invalid("Invalid webhook fault", "count", "Must be greater than or equal to 0 (0: until cleared)."))
		return
	}
	if in.IntegrationID != 0 {
		if _, err := s.Integration(in.IntegrationID); err != nil {
			writeError(w, invalid("Invalid webhook fault", "integration_id", "No such integration."))
			return
		}
	}
	f := WebhookFault{IntegrationID: in.IntegrationID, Count: in.Count, Drop: in.Drop, Delay: time.Duration(in.Delay * float64(time.Second))}
	s.AddWebhookFault(f)
	writeJSON(w, http.StatusCreated, webhookFaultJSON(f))
}
