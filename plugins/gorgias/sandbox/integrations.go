package sandbox

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// integration is a stored HTTP integration with its delivery queue.
type integration struct {
	Integration
	failures int   // failed requests in a row
	queue    []job // waiting deliveries, in order
	running  bool  // a worker goroutine is draining queue
}

// job is one event to deliver to one integration. vars is the event's
// template context, frozen when it happened.
type job struct {
	event      Event
	vars       map[string]any
	redelivery bool
}

// dispatch records that an event was queued for an integration, so it can be
// delivered again.
type dispatch struct {
	integrationID int64
	job           job
}

var methods = []string{"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"}

// parseIntegration validates an integration body (POST or PUT).
func parseIntegration(in Integration, msg string) error {
	errs := map[string][]string{}
	if in.Type != "http" {
		errs["type"] = []string{msgOneOf("http")}
	}
	if strings.TrimSpace(in.HTTP.URL) == "" {
		errs["http.url"] = []string{msgMissing}
	} else if u, err := url.Parse(render(in.HTTP.URL, nil, nil)); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs["http.url"] = []string{"Not a valid URL."}
	}
	if in.HTTP.Method != "" && !contains(methods, strings.ToUpper(in.HTTP.Method)) {
		errs["http.method"] = []string{msgOneOf(methods...)}
	}
	switch in.HTTP.RequestContentType {
	case "", "application/json", "application/x-www-form-urlencoded":
	default:
		errs["http.request_content_type"] = []string{msgOneOf("application/json", "application/x-www-form-urlencoded")}
	}
	if len(errs) > 0 {
		return &ValidationError{Msg: msg, Fields: errs}
	}
	return nil
}

func normalizeIntegration(in *Integration) {
	if in.HTTP.Method == "" {
		in.HTTP.Method = "GET"
	}
	in.HTTP.Method = strings.ToUpper(in.HTTP.Method)
	if in.HTTP.RequestContentType == "" {
		in.HTTP.RequestContentType = "application/json"
	}
	if in.HTTP.ResponseContentType == "" {
		in.HTTP.ResponseContentType = "application/json"
	}
	if in.HTTP.Headers == nil {
		in.HTTP.Headers = map[string]string{}
	}
	if in.HTTP.Triggers == nil {
		in.HTTP.Triggers = map[string]bool{}
	}
	if in.Name == "" {
		in.Name = "HTTP integration"
	}
}

// CreateIntegration adds an HTTP integration, as POST /api/integrations does.
func (s *Sandbox) CreateIntegration(in Integration) (Integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createIntegration(in)
}

func (s *Sandbox) createIntegration(in Integration) (Integration, error) {
	if in.Type == "" {
		in.Type = "http"
	}
	if err := parseIntegration(in, "Failed to create integration"); err != nil {
		return Integration{}, err
	}
	normalizeIntegration(&in)
	now := s.now().UTC()
	in.ID = s.id("integration")
	in.HTTP.ID = s.id("http")
	in.URI = fmt.Sprintf("/api/integrations/%d/", in.ID)
	in.CreatedDatetime, in.UpdatedDatetime = Time{now}, Time{now}
	in.DeactivatedDatetime = nil
	in.HTTP = cloneHTTP(in.HTTP)
	s.integrations = append(s.integrations, &integration{Integration: in})
	s.touch()
	return integrationView(&in), nil
}

func cloneHTTP(c HTTPConfig) HTTPConfig {
	out := c
	out.Headers = map[string]string{}
	for k, v := range c.Headers {
		out.Headers[k] = v
	}
	if c.Form != nil {
		out.Form = map[string]string{}
		for k, v := range c.Form {
			out.Form[k] = v
		}
	}
	out.Triggers = map[string]bool{}
	for k, v := range c.Triggers {
		out.Triggers[k] = v
	}
	return out
}

func integrationView(in *Integration) Integration {
	out := *in
	out.HTTP = cloneHTTP(in.HTTP)
	if in.DeactivatedDatetime != nil {
		v := *in.DeactivatedDatetime
		out.DeactivatedDatetime = &v
	}
	return out
}

// Integrations lists the integrations, deactivated ones included.
func (s *Sandbox) Integrations() []Integration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Integration{}
	for _, in := range s.integrations {
		out = append(out, integrationView(&in.Integration))
	}
	return out
}

// Integration returns one integration.
func (s *Sandbox) Integration(id int64) (Integration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.integrationByID(id)
	if in == nil {
		return Integration{}, ErrNotFound
	}
	return integrationView(&in.Integration), nil
}

func (s *Sandbox) integrationByID(id int64) *integration {
	for _, in := range s.integrations {
		if in.ID == id {
			return in
		}
	}
	return nil
}

// DeleteIntegration removes an integration and drops its queued deliveries.
func (s *Sandbox) DeleteIntegration(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, in := range s.integrations {
		if in.ID == id {
			s.dropQueueLocked(in)
			s.integrations = append(s.integrations[:i], s.integrations[i+1:]...)
			s.touch()
			return nil
		}
	}
	return ErrNotFound
}

// SetIntegrationActive reactivates (or deactivates) an integration, as an
// admin does in Gorgias after fixing the receiver.
func (s *Sandbox) SetIntegrationActive(id int64, active bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.integrationByID(id)
	if in == nil {
		return ErrNotFound
	}
	s.setActive(in, active)
	return nil
}

func (s *Sandbox) setActive(in *integration, active bool) {
	if active {
		in.DeactivatedDatetime = nil
		in.failures = 0
	} else if in.DeactivatedDatetime == nil {
		in.DeactivatedDatetime = timePtr(s.now())
		s.dropQueueLocked(in)
	}
	in.UpdatedDatetime = Time{s.now().UTC()}
	s.touch()
}

// updateIntegration carries out PUT /api/integrations/{id}: name,
// description, http (replaced) and deactivated_datetime (null reactivates).
func (s *Sandbox) updateIntegration(in *integration, body map[string]any) error {
	var upd struct {
		Name        *string     `json:"name"`
		Description *OptString  `json:"description"`
		HTTP        *HTTPConfig `json:"http"`
	}
	b, _ := json.Marshal(body)
	if err := json.Unmarshal(b, &upd); err != nil {
		return invalid("Failed to update integration", "http", err.Error())
	}
	next := in.Integration
	if upd.Name != nil {
		next.Name = *upd.Name
	}
	if upd.Description != nil {
		next.Description = *upd.Description
	}
	if upd.HTTP != nil {
		id := next.HTTP.ID
		next.HTTP = *upd.HTTP
		next.HTTP.ID = id
	}
	if err := parseIntegration(next, "Failed to update integration"); err != nil {
		return err
	}
	normalizeIntegration(&next)
	next.HTTP = cloneHTTP(next.HTTP)
	in.Integration = next
	if v, ok := body["deactivated_datetime"]; ok {
		s.setActive(in, v == nil)
	}
	in.UpdatedDatetime = Time{s.now().UTC()}
	s.touch()
	return nil
}

// subscribed reports whether the integration listens to eventType, in
// either spelling.
func (in *integration) subscribed(eventType string) bool {
	for k, on := range in.HTTP.Triggers {
		if on && normalizeTrigger(k) == eventType {
			return true
		}
	}
	return false
}

// ---- events

func newContext() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// emit records an event on t (with m for message events; user is the agent
// behind it) and queues it for every active integration subscribed to it.
// Callers hold mu.
func (s *Sandbox) emit(eventType string, t *ticket, m *Message, user *User) {
	e := Event{ID: s.id("event"), Type: eventType, ObjectType: "Ticket", ObjectID: t.ID, TicketID: t.ID,
		Context: newContext(), Created: Time{s.now().UTC()}}
	if m != nil {
		e.ObjectType, e.ObjectID = "TicketMessage", m.ID
	}
	if user != nil {
		id := user.ID
		e.UserID = &id
	}
	s.events = append(s.events, e)
	var vars map[string]any
	for _, in := range s.integrations {
		if !in.Active() || !in.subscribed(eventType) {
			continue
		}
		if vars == nil {
			vars = s.eventVars(e, t, m)
		}
		j := job{event: e, vars: vars}
		s.dispatches = append(s.dispatches, dispatch{integrationID: in.ID, job: j})
		s.enqueue(in, j)
	}
}

// toVars turns a value into the maps and lists templates walk.
func toVars(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil
	}
	return out
}

// eventVars is the template context of an event (§1.9): ticket, message
// (message events only) and event.
func (s *Sandbox) eventVars(e Event, t *ticket, m *Message) map[string]any {
	tv, _ := toVars(s.ticketView(t, false)).(map[string]any)
	if tv != nil {
		tv["customer_id"] = json.Number(fmt.Sprint(t.customerID))
	}
	ev, _ := toVars(e).(map[string]any)
	if ev != nil {
		ev["uri"] = fmt.Sprintf("/api/events/%d/", e.ID)
		ev["data"] = nil
	}
	vars := map[string]any{"ticket": tv, "event": ev}
	if m != nil {
		vars["message"] = toVars(messageView(m))
	}
	return vars
}

// Events lists every event that happened, in order.
func (s *Sandbox) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event{}, s.events...)
}

// ---- delivery

// enqueue queues j for in and makes sure a worker drains the queue. Callers
// hold mu.
func (s *Sandbox) enqueue(in *integration, j job) {
	if s.ctx.Err() != nil {
		return
	}
	in.queue = append(in.queue, j)
	s.pending++
	if !in.running {
		in.running = true
		go s.work(in)
	}
}

// dropQueueLocked forgets in's queued deliveries. Callers hold mu.
func (s *Sandbox) dropQueueLocked(in *integration) {
	s.done(len(in.queue))
	in.queue = nil
}

// done marks n deliveries finished. Callers hold mu.
func (s *Sandbox) done(n int) {
	if n == 0 {
		return
	}
	s.pending -= n
	if s.pending == 0 {
		close(s.idle)
		s.idle = make(chan struct{})
	}
	s.touch()
}

// work delivers in's queue in order, one job at a time, and exits when the
// queue is empty: an idle sandbox runs no goroutine.
func (s *Sandbox) work(in *integration) {
	for {
		s.mu.Lock()
		if len(in.queue) == 0 || s.ctx.Err() != nil {
			in.running = false
			s.dropQueueLocked(in)
			s.mu.Unlock()
			return
		}
		j := in.queue[0]
		in.queue = in.queue[1:]
		s.mu.Unlock()
		if s.webhookFault(in, j) {
			s.deliverJob(in, j)
		}
		s.mu.Lock()
		s.done(1)
		s.mu.Unlock()
	}
}

// deliverJob tries a job until it succeeds, the retries run out, or the
// integration gets deactivated.
func (s *Sandbox) deliverJob(in *integration, j job) {
	for attempt := 1; attempt <= 1+s.opts.Retries; attempt++ {
		s.mu.Lock()
		cfg := cloneHTTP(in.HTTP)
		active := in.Active() && s.integrationByID(in.ID) == in
		s.mu.Unlock()
		if !active || s.ctx.Err() != nil {
			return
		}
		d := s.send(cfg, j)
		d.IntegrationID, d.Attempt = in.ID, attempt
		if s.ctx.Err() != nil {
			return // closed: not the receiver's failure
		}

		s.mu.Lock()
		if d.OK() {
			in.failures = 0
		} else {
			in.failures++
			if in.failures >= s.opts.MaxConsecutiveFailures && in.Active() {
				d.Deactivated = true
				s.setActive(in, false)
			}
		}
		s.deliveries = append(s.deliveries, d)
		s.touch()
		s.mu.Unlock()
		s.log.Info("delivery", "integration", fmt.Sprintf("#%d", in.ID), "event", j.event.ID, "type", j.event.Type,
			"attempt", attempt, "status", d.Status, "error", d.Error, "url", d.URL)
		if d.OK() || d.Deactivated {
			return
		}
		if attempt <= s.opts.Retries {
			if wait := s.opts.Backoff(attempt); wait > 0 {
				timer := time.NewTimer(wait)
				select {
				case <-timer.C:
				case <-s.ctx.Done():
					timer.Stop()
					return
				}
			}
		}
	}
}

// buildRequest renders cfg for the job: URL, headers and body.
func buildRequest(cfg HTTPConfig, vars map[string]any) (method, target string, header http.Header, body string) {
	method = cfg.Method
	target = renderURL(cfg.URL, vars)
	header = http.Header{}
	header.Set("User-Agent", "Gorgias-HTTP-Integration (livechatd sandbox)")
	for k, v := range cfg.Headers {
		header.Set(k, render(v, vars, escapeHeader))
	}
	if method == "GET" || method == "HEAD" {
		return method, target, header, ""
	}
	jsonBody := cfg.RequestContentType != "application/x-www-form-urlencoded"
	switch {
	case cfg.Body != "":
		if jsonBody {
			body = render(cfg.Body, vars, escapeJSONString)
		} else {
			body = render(cfg.Body, vars, url.QueryEscape)
		}
	case cfg.Form != nil:
		if jsonBody {
			obj := map[string]string{}
			for k, v := range cfg.Form {
				obj[k] = render(v, vars, nil)
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(obj)
			body = strings.TrimSuffix(b.String(), "\n")
		} else {
			form := url.Values{}
			for k, v := range cfg.Form {
				form.Set(k, render(v, vars, nil))
			}
			body = form.Encode()
		}
	}
	if header.Get("Content-Type") == "" {
		header.Set("Content-Type", cfg.RequestContentType)
	}
	return method, target, header, body
}

// send makes one request.
func (s *Sandbox) send(cfg HTTPConfig, j job) Delivery {
	method, target, header, body := buildRequest(cfg, j.vars)
	d := Delivery{EventID: j.event.ID, EventType: j.event.Type, Redelivery: j.redelivery,
		Method: method, URL: target, Header: header.Clone(), Body: body, Time: s.now()}
	req, err := http.NewRequestWithContext(s.ctx, method, target, strings.NewReader(body))
	if err != nil {
		d.Error = err.Error()
		return d
	}
	req.Header = header
	resp, err := s.client.Do(req)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	d.Status = resp.StatusCode
	return d
}

// Deliveries lists every request made to integrations, in order.
func (s *Sandbox) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.deliveries))
	for i, d := range s.deliveries {
		d.Header = http.Header(d.Header).Clone()
		out[i] = d
	}
	return out
}

// Redeliver queues event eventID again for every integration it was queued
// for, with the same event id and variables — Gorgias delivers at least
// once, so receivers must deduplicate. It returns how many deliveries were
// queued.
func (s *Sandbox) Redeliver(eventID int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	found := false
	for _, d := range s.dispatches {
		if d.job.event.ID != eventID {
			continue
		}
		found = true
		in := s.integrationByID(d.integrationID)
		if in == nil || !in.Active() {
			continue
		}
		j := d.job
		j.redelivery = true
		s.enqueue(in, j)
		n++
	}
	if !found {
		return 0, ErrNotFound
	}
	return n, nil
}

// RedeliverLast delivers the last dispatched event once more and returns it.
func (s *Sandbox) RedeliverLast() (Event, error) {
	s.mu.Lock()
	var e Event
	if n := len(s.dispatches); n > 0 {
		e = s.dispatches[n-1].job.event
	}
	s.mu.Unlock()
	if e.ID == 0 {
		return Event{}, ErrNotFound
	}
	_, err := s.Redeliver(e.ID)
	return e, err
}

// RedeliverLastOf delivers the last dispatched event of the given type once
// more (e.g. TriggerTicketMessageCreated).
func (s *Sandbox) RedeliverLastOf(eventType string) (Event, error) {
	eventType = normalizeTrigger(eventType)
	s.mu.Lock()
	var e Event
	for i := len(s.dispatches) - 1; i >= 0; i-- {
		if d := s.dispatches[i]; d.job.event.Type == eventType {
			e = d.job.event
			break
		}
	}
	s.mu.Unlock()
	if e.ID == 0 {
		return Event{}, ErrNotFound
	}
	_, err := s.Redeliver(e.ID)
	return e, err
}
