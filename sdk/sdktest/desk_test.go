package sdktest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// fakeDesk is the small support platform sdk/testdata/desk talks to:
// tickets with messages, no idempotency keys (an external_id is only
// stored), bearer tokens, and a webhook per token for every message
// created (the plugin's own included) and every closing, delivered one at
// a time in order.
type fakeDesk struct {
	srv *httptest.Server

	mu         sync.Mutex
	idle       *sync.Cond
	tickets    []*deskTicket
	nextID     int64
	hooks      map[string]string // token → webhook URL
	queue      []delivery
	busy       bool
	drop       bool
	failStatus int
	failAfter  time.Duration
}

type deskTicket struct {
	ID         int64         `json:"id"`
	Token      string        `json:"-"`
	ExternalID string        `json:"external_id"`
	Context    string        `json:"context"`
	Closed     bool          `json:"closed"`
	Messages   []deskMessage `json:"messages"`
}

type deskMessage struct {
	ID         int64  `json:"id"`
	Author     string `json:"author"`
	Text       string `json:"text"`
	ExternalID string `json:"external_id,omitempty"`
}

type delivery struct {
	url  string
	body []byte
}

func newFakeDesk(t *testing.T) *fakeDesk {
	d := &fakeDesk{hooks: map[string]string{}}
	d.idle = sync.NewCond(&d.mu)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tickets", d.find)
	mux.HandleFunc("POST /tickets", d.create)
	mux.HandleFunc("GET /tickets/{id}", d.get)
	mux.HandleFunc("POST /tickets/{id}/messages", d.post)
	mux.HandleFunc("POST /tickets/{id}/close", d.closeTicket)
	d.srv = httptest.NewServer(d.auth(mux))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *fakeDesk) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		status, after := d.failStatus, d.failAfter
		d.mu.Unlock()
		if status != 0 {
			if after > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(after/time.Second)))
			}
			http.Error(w, `{"error":"injected"}`, status)
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer desk-") {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func token(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// ticket is the caller's ticket named in the path; the lock is held.
func (d *fakeDesk) ticket(w http.ResponseWriter, r *http.Request) *deskTicket {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, t := range d.tickets {
		if t.ID == id && t.Token == token(r) {
			return t
		}
	}
	http.Error(w, `{"error":"no such ticket"}`, http.StatusNotFound)
	return nil
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (d *fakeDesk) find(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []deskTicket{}
	for _, t := range d.tickets {
		if t.Token == token(r) && t.ExternalID == r.URL.Query().Get("external_id") {
			out = append(out, *t)
		}
	}
	reply(w, out)
}

func (d *fakeDesk) create(w http.ResponseWriter, r *http.Request) {
	var in deskTicket
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"error":"bad body"}`, http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nextID++
	t := &deskTicket{ID: d.nextID, Token: token(r), ExternalID: in.ExternalID, Context: in.Context}
	d.tickets = append(d.tickets, t)
	reply(w, t)
}

func (d *fakeDesk) get(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.ticket(w, r); t != nil {
		reply(w, t)
	}
}

func (d *fakeDesk) post(w http.ResponseWriter, r *http.Request) {
	var in deskMessage
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"error":"bad body"}`, http.StatusBadRequest)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.ticket(w, r); t != nil {
		reply(w, d.add(t, "user", in.Text, in.ExternalID))
	}
}

func (d *fakeDesk) closeTicket(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.ticket(w, r); t != nil {
		d.closeLocked(t)
		reply(w, t)
	}
}

// add adds a message and webhooks it; the lock is held.
func (d *fakeDesk) add(t *deskTicket, author, text, external string) deskMessage {
	d.nextID++
	m := deskMessage{ID: d.nextID, Author: author, Text: text, ExternalID: external}
	t.Messages = append(t.Messages, m)
	d.enqueue(t, map[string]any{"event": "message", "ticket_id": t.ID, "message": m})
	return m
}

func (d *fakeDesk) closeLocked(t *deskTicket) {
	if !t.Closed {
		t.Closed = true
		d.enqueue(t, map[string]any{"event": "closed", "ticket_id": t.ID})
	}
}

func (d *fakeDesk) enqueue(t *deskTicket, v any) {
	url := d.hooks[t.Token]
	if url == "" || d.drop {
		return
	}
	body, _ := json.Marshal(v)
	d.queue = append(d.queue, delivery{url: url, body: body})
	if !d.busy {
		d.busy = true
		go d.deliver()
	}
}

func (d *fakeDesk) deliver() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.queue) > 0 {
		next := d.queue[0]
		d.queue = d.queue[1:]
		d.mu.Unlock()
		if res, err := http.Post(next.url, "application/json", bytes.NewReader(next.body)); err == nil {
			res.Body.Close()
		}
		d.mu.Lock()
	}
	d.busy = false
	d.idle.Broadcast()
}

// byRef is the ticket a Ref names.
func (d *fakeDesk) byRef(ref string) (*deskTicket, error) {
	id, _ := strconv.ParseInt(ref, 10, 64)
	for _, t := range d.tickets {
		if t.ID == id {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no ticket %q", ref)
}

// deskPlatform adapts the fake desk to the suite; faults go into every
// bot's config.
type deskPlatform struct {
	d      *fakeDesk
	faults []string
}

var (
	_ sdktest.Platform        = deskPlatform{}
	_ sdktest.WebhookPlatform = deskPlatform{}
	_ sdktest.FaultPlatform   = deskPlatform{}
	_ sdktest.NotePlatform    = deskPlatform{}
	_ sdktest.DropPlatform    = deskPlatform{}
	_ sdktest.ContextPlatform = deskPlatform{}
)

func (p deskPlatform) Config(bot string) sdk.Config {
	faults := []any{}
	for _, f := range p.faults {
		faults = append(faults, f)
	}
	return sdk.Config{"base_url": p.d.srv.URL, "token": "desk-" + bot, "faults": faults}
}

func (p deskPlatform) Received(t sdktest.Ticket) (sdktest.Received, error) {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	tk, err := p.d.byRef(t.Ref)
	if err != nil {
		return sdktest.Received{}, err
	}
	got := sdktest.Received{Closed: tk.Closed}
	for _, m := range tk.Messages {
		if m.Author == "user" {
			got.Messages = append(got.Messages, m.Text)
		}
	}
	return got, nil
}

func (p deskPlatform) write(t sdktest.Ticket, author, text string) error {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	tk, err := p.d.byRef(t.Ref)
	if err == nil {
		p.d.add(tk, author, text, "")
	}
	return err
}

func (p deskPlatform) AgentReply(t sdktest.Ticket, text string) (string, error) {
	return text, p.write(t, "agent", text)
}

func (p deskPlatform) AgentNote(t sdktest.Ticket, text string) error { return p.write(t, "note", text) }

func (p deskPlatform) AgentClose(t sdktest.Ticket) error {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	tk, err := p.d.byRef(t.Ref)
	if err == nil {
		p.d.closeLocked(tk)
	}
	return err
}

func (p deskPlatform) PointWebhooks(bot, url string) error {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	p.d.hooks["desk-"+bot] = url
	return nil
}

func (p deskPlatform) WaitDelivered() error {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	for p.d.busy {
		p.d.idle.Wait()
	}
	return nil
}

func (p deskPlatform) Fail(status int, after time.Duration) {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	p.d.failStatus, p.d.failAfter = status, after
}

func (p deskPlatform) Heal() { p.Fail(0, 0) }

func (p deskPlatform) DropWebhooks(on bool) {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	p.d.drop = on
}

func (p deskPlatform) TicketText(t sdktest.Ticket) (string, error) {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	tk, err := p.d.byRef(t.Ref)
	if err != nil {
		return "", err
	}
	return tk.Context, nil
}
