package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHelpdesk behaves like Helpdesk's API where the plugin can tell:
// accounts by bearer token, tickets and messages with external ids, its
// error bodies and Retry-After, and a signed webhook for every message
// created (the plugin's own included) and every ticket closed, delivered
// one at a time in order.
type fakeHelpdesk struct {
	srv    *httptest.Server
	secret string // signs every account's webhooks

	mu         sync.Mutex
	idle       *sync.Cond
	nextID     int64
	tickets    map[int64]*fakeTicket
	hooks      map[string]string // api token → webhook URL
	queue      []fakeDelivery
	delivering bool
	drop       bool          // lose webhooks
	failStatus int           // answer every call with it
	failAfter  time.Duration // and this Retry-After
}

type fakeTicket struct {
	ticket
	token string // the account's
}

type fakeDelivery struct {
	url  string
	body []byte
}

func newFakeHelpdesk(t *testing.T) *fakeHelpdesk {
	f := &fakeHelpdesk{secret: "whsec-fake-helpdesk-0123456789", tickets: map[int64]*fakeTicket{}, hooks: map[string]string{}}
	f.idle = sync.NewCond(&f.mu)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/tickets", f.findTickets)
	mux.HandleFunc("POST /api/tickets", f.createTicket)
	mux.HandleFunc("GET /api/tickets/{id}", f.getTicket)
	mux.HandleFunc("POST /api/tickets/{id}/messages", f.postMessage)
	mux.HandleFunc("POST /api/tickets/{id}/close", f.closeTicket)
	f.srv = httptest.NewServer(f.authorize(mux))
	t.Cleanup(f.srv.Close)
	return f
}

func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiToken(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// authorize answers injected faults, then refuses a missing token.
func (f *fakeHelpdesk) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		status, after := f.failStatus, f.failAfter
		f.mu.Unlock()
		if status != 0 {
			if after > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(after/time.Second)))
			}
			fail(w, status, http.StatusText(status))
			return
		}
		if apiToken(r) == "" {
			fail(w, http.StatusUnauthorized, "Invalid API token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ticket is the caller's ticket named in the path, or nil after a 404;
// the lock is held.
func (f *fakeHelpdesk) ticket(w http.ResponseWriter, r *http.Request) *fakeTicket {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if t := f.tickets[id]; t != nil && t.token == apiToken(r) {
		return t
	}
	fail(w, http.StatusNotFound, "Ticket not found")
	return nil
}

func (f *fakeHelpdesk) findTickets(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	found := []ticket{}
	for _, t := range f.tickets {
		if t.token == apiToken(r) && t.ExternalID == r.URL.Query().Get("external_id") {
			found = append(found, t.ticket)
		}
	}
	answer(w, http.StatusOK, found)
}

func (f *fakeHelpdesk) createTicket(w http.ResponseWriter, r *http.Request) {
	var in ticket
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Subject == "" {
		fail(w, http.StatusUnprocessableEntity, "subject is required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	t := &fakeTicket{ticket: ticket{ID: f.nextID, ExternalID: in.ExternalID, Subject: in.Subject, Description: in.Description}, token: apiToken(r)}
	f.tickets[t.ID] = t
	answer(w, http.StatusCreated, t.ticket)
}

func (f *fakeHelpdesk) getTicket(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.ticket(w, r); t != nil {
		answer(w, http.StatusOK, t.ticket)
	}
}

func (f *fakeHelpdesk) postMessage(w http.ResponseWriter, r *http.Request) {
	var in message
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Body == "" {
		fail(w, http.StatusUnprocessableEntity, "body is required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.ticket(w, r); t != nil {
		answer(w, http.StatusCreated, f.add(t, "customer", in.Body, in.ExternalID))
	}
}

func (f *fakeHelpdesk) closeTicket(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.ticket(w, r); t != nil {
		f.close(t)
		answer(w, http.StatusOK, t.ticket)
	}
}

// add adds a message to t and sends its webhook; the lock is held.
func (f *fakeHelpdesk) add(t *fakeTicket, author, body, externalID string) message {
	f.nextID++
	m := message{ID: f.nextID, Author: author, Body: body, ExternalID: externalID}
	t.Messages = append(t.Messages, m)
	f.send(t, hook{Event: "message.created", Ticket: ticket{ID: t.ID, ExternalID: t.ExternalID}, Message: m})
	return m
}

// close closes t once and sends its webhook; the lock is held.
func (f *fakeHelpdesk) close(t *fakeTicket) {
	if !t.Closed {
		t.Closed = true
		f.send(t, hook{Event: "ticket.closed", Ticket: ticket{ID: t.ID, ExternalID: t.ExternalID, Closed: true}})
	}
}

// send queues a webhook to t's account; the lock is held.
func (f *fakeHelpdesk) send(t *fakeTicket, h hook) {
	url := f.hooks[t.token]
	if url == "" || f.drop {
		return
	}
	body, _ := json.Marshal(h)
	f.queue = append(f.queue, fakeDelivery{url: url, body: body})
	if !f.delivering {
		f.delivering = true
		go f.deliver()
	}
}

// deliver posts the queued webhooks in order, signed, once each: like
// many platforms, Helpdesk does not retry.
func (f *fakeHelpdesk) deliver() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.queue) > 0 {
		d := f.queue[0]
		f.queue = f.queue[1:]
		f.mu.Unlock()
		req, _ := http.NewRequest(http.MethodPost, d.url, bytes.NewReader(d.body))
		ts := signature.Timestamp(time.Now())
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Helpdesk-Timestamp", ts)
		req.Header.Set("X-Helpdesk-Signature", signature.Sign(f.secret, ts, d.body))
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
		f.mu.Lock()
	}
	f.delivering = false
	f.idle.Broadcast()
}
