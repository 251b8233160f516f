package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a sandbox on an httptest server with a fake clock and no backoff.
type env struct {
	*sandbox.Sandbox
	clock *clock
}

func newEnv(t *testing.T, opts sandbox.Options) *env {
	t.Helper()
	c := newClock()
	if opts.Now == nil {
		opts.Now = c.Now
	}
	if opts.Backoff == nil {
		opts.Backoff = sandbox.NoBackoff
	}
	return &env{Sandbox: sandbox.Start(t, opts), clock: c}
}

// response is an answer of the sandbox.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r response) JSON(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.Body)
	}
	return v
}

// Decode decodes the body into v.
func (r response) Decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, r.Body)
	}
}

// call makes an authenticated JSON request; body may be nil, a string (sent
// as is) or a value (encoded).
func (e *env) call(t *testing.T, method, path string, body any) response {
	t.Helper()
	return e.do(t, method, path, body, func(r *http.Request) { r.SetBasicAuth(sandbox.DefaultEmail, sandbox.DefaultAPIKey) })
}

func (e *env) do(t *testing.T, method, path string, body any, prep func(*http.Request)) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if prep != nil {
		prep(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// mustStatus fails unless the response has the status.
func mustStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
}

// wantJSON compares the body with the JSON text want.
func wantJSON(t *testing.T, r response, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	if diff := cmp.Diff(w, r.JSON(t)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// ticketBody is the payload §1.6 recommends for a session start.
func ticketBody(email, externalID, text string) map[string]any {
	return map[string]any{
		"customer":    map[string]any{"email": email, "name": "Jane Doe"},
		"external_id": externalID,
		"subject":     "Live chat: Jane Doe",
		"channel":     "api", "via": "api", "from_agent": false,
		"tags":     []any{map[string]any{"name": "livechat"}},
		"meta":     map[string]any{"livechat_session": externalID, "bot": "acme"},
		"messages": []any{customerMessage(email, text, "lc-msg-1")},
	}
}

func customerMessage(email, text, externalID string) map[string]any {
	return map[string]any{"channel": "api", "via": "api", "from_agent": false,
		"sender": map[string]any{"email": email}, "body_text": text, "external_id": externalID}
}

// createTicket starts a session's ticket through the API.
func (e *env) createTicket(t *testing.T, email, externalID, text string) sandbox.Ticket {
	t.Helper()
	r := e.call(t, "POST", "/api/tickets", ticketBody(email, externalID, text))
	mustStatus(t, r, http.StatusCreated)
	var tk sandbox.Ticket
	r.Decode(t, &tk)
	return tk
}

func (e *env) waitIdle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.WaitIdle(ctx); err != nil {
		t.Fatalf("deliveries still pending: %v", err)
	}
}

// received is a request a receiver got.
type received struct {
	Method string
	URL    *url.URL
	Header http.Header
	Body   string
}

// receiver is the webhook endpoint: it records every request and answers
// the statuses given, then 200.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []received
	statuses []int
	always   int // when non-zero, answered after statuses run out
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	rc := &receiver{statuses: statuses}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{Method: r.Method, URL: r.URL, Header: r.Header.Clone(), Body: string(b)})
		status := http.StatusOK
		switch {
		case len(rc.statuses) > 0:
			status, rc.statuses = rc.statuses[0], rc.statuses[1:]
		case rc.always != 0:
			status = rc.always
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) Got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// integration creates an HTTP integration through the API.
func (e *env) integration(t *testing.T, in map[string]any) sandbox.Integration {
	t.Helper()
	r := e.call(t, "POST", "/api/integrations", in)
	mustStatus(t, r, http.StatusCreated)
	var out sandbox.Integration
	r.Decode(t, &out)
	return out
}

// seedURL is the integration URL of the seed (shared/seed/livechat.md).
const seedURL = "/v1/livechat/gorgias/receive?external_id={{ticket.external_id}}&ticket_id={{ticket.id}}&event_type={{event.type}}&event_id={{event.id}}&message_id={{event.object_id}}&text={{message.body_text}}&from_agent={{message.from_agent}}"

// recommendedBody is the JSON template of gorgias.md §1.9.
const recommendedBody = `{"event": {"id": "{{event.id}}", "type": "{{event.type}}", "object_id": "{{event.object_id}}"},
 "ticket": {"id": "{{ticket.id}}", "external_id": "{{ticket.external_id}}", "status": "{{ticket.status}}"},
 "message": {"id": "{{message.id}}", "from_agent": "{{message.from_agent}}",
             "public": "{{message.public}}", "channel": "{{message.channel}}",
             "body_text": "{{message.body_text}}", "sender_email": "{{message.sender.email}}"}}`
