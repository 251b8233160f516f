package fake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/freshdesk/fake"
)

// fdClock is a settable clock.
type fdClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fdClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fdClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

type fdAnswer struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, f *fake.Server, method, path, key, contentType, body string) fdAnswer {
	t.Helper()
	req, _ := http.NewRequest(method, f.URL+path, strings.NewReader(body))
	if key != "" {
		req.SetBasicAuth(key, "X")
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return fdAnswer{res.StatusCode, res.Header, strings.TrimSpace(string(b))}
}

func api(t *testing.T, f *fake.Server, method, path, body string) fdAnswer {
	t.Helper()
	return call(t, f, method, path, f.APIKey(), "application/json", body)
}

const fdTicket = `{"subject":"Live chat","description":"<p>hi</p>","email":"jane@example.com","name":"Jane","status":2,"priority":1,"source":7,"tags":["livechat"]}`

func TestFreshdeskFakeErrorsAsFreshdesk(t *testing.T) {
	f := fake.New(t, fake.Options{})
	for _, tc := range []struct {
		name              string
		method, path, key string
		contentType, body string
		status            int
		wantBody          string
	}{
		{"no key", "GET", "/api/v2/tickets/1", "", "", "", 401, `{"code":"invalid_credentials","message":"You have to be logged in to perform this action."}`},
		{"wrong key", "GET", "/api/v2/tickets/1", "nope", "", "", 401, `{"code":"invalid_credentials","message":"You have to be logged in to perform this action."}`},
		{"no such ticket", "GET", "/api/v2/tickets/99", f.APIKey(), "", "", 404, ``},
		{"not JSON", "POST", "/api/v2/tickets", f.APIKey(), "text/plain", "x", 415, `{"code":"invalid_content_type","message":"Content-Type header is set to text/plain. It should be set to application/json"}`},
		{"bad JSON", "POST", "/api/v2/tickets", f.APIKey(), "application/json", "{", 400, `{"code":"invalid_json","message":"Request body has invalid json format"}`},
		{"missing fields", "POST", "/api/v2/tickets", f.APIKey(), "application/json", `{"status":9}`, 400,
			`{"description":"Validation failed","errors":[{"field":"requester_id","message":"Please fill at least 1 of requester_id, phone, email, twitter_id, facebook_id, unique_external_id fields","code":"missing_field"},` +
				`{"field":"subject","message":"It should not be blank as this is a mandatory field","code":"missing_field"},` +
				`{"field":"description","message":"It should not be blank as this is a mandatory field","code":"missing_field"},` +
				`{"field":"status","message":"It should be one of these values: '2,3,4,5'","code":"invalid_value"}]}`},
		{"unknown field", "POST", "/api/v2/tickets", f.APIKey(), "application/json", `{"colour":"red"}`, 400,
			`{"description":"Validation failed","errors":[{"field":"colour","message":"Unexpected/invalid field in request","code":"invalid_field"}]}`},
		{"per_page over 100", "GET", "/api/v2/tickets?per_page=101", f.APIKey(), "", "", 400,
			`{"description":"Validation failed","errors":[{"field":"per_page","message":"It should be a Positive Integer less than or equal to 100","code":"invalid_value"}]}`},
	} {
		a := call(t, f, tc.method, tc.path, tc.key, tc.contentType, tc.body)
		if a.status != tc.status || a.body != tc.wantBody {
			t.Errorf("%s: %d %s\nwant %d %s", tc.name, a.status, a.body, tc.status, tc.wantBody)
		}
	}
}

func TestFreshdeskFakeTicketsNotesConversations(t *testing.T) {
	f := fake.New(t, fake.Options{})
	a := api(t, f, "POST", "/api/v2/tickets", fdTicket)
	var tk fake.Ticket
	if err := json.Unmarshal([]byte(a.body), &tk); err != nil || a.status != 201 || tk.Source != 7 || tk.DescriptionText != "hi" || tk.RequesterID == 0 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	// Notes are private unless told otherwise.
	var note fake.Conversation
	a = api(t, f, "POST", "/api/v2/tickets/1/notes", `{"body":"secret"}`)
	_ = json.Unmarshal([]byte(a.body), &note)
	if a.status != 201 || !note.Private || note.Incoming || note.Source != fake.ConvNote {
		t.Errorf("note: %d %s", a.status, a.body)
	}
	a = api(t, f, "POST", "/api/v2/tickets/1/notes", `{"body":"x","user_id":123}`)
	if a.status != 400 || !strings.Contains(a.body, `"field":"user_id"`) {
		t.Errorf("note by nobody: %d %s", a.status, a.body)
	}
	for range 4 {
		f.AgentReply(1, "Ann", "a")
	}
	// Five conversations, two per page: three pages, Link to the next.
	a = api(t, f, "GET", "/api/v2/tickets/1/conversations?per_page=2&page=2", "")
	var convs []fake.Conversation
	_ = json.Unmarshal([]byte(a.body), &convs)
	if len(convs) != 2 || !strings.Contains(a.header.Get("Link"), "page=3") || !strings.HasSuffix(a.header.Get("Link"), `rel="next"`) {
		t.Errorf("page 2: %d conversations, Link %q", len(convs), a.header.Get("Link"))
	}
	if a = api(t, f, "GET", "/api/v2/tickets/1/conversations?per_page=2&page=3", ""); a.header.Get("Link") != "" {
		t.Errorf("last page has a Link: %q", a.header.Get("Link"))
	}
	// Lists leave the description out unless included.
	a = api(t, f, "GET", "/api/v2/tickets?email=jane@example.com", "")
	if strings.Contains(a.body, "description") {
		t.Errorf("list without include: %s", a.body)
	}
	if a = api(t, f, "GET", "/api/v2/tickets?email=jane@example.com&include=description", ""); !strings.Contains(a.body, `"description_text":"hi"`) ||
		a.header.Get("X-RateLimit-Used-CurrentRequest") != "3" {
		t.Errorf("list with include: %s (used %s)", a.body, a.header.Get("X-RateLimit-Used-CurrentRequest"))
	}
	if a = api(t, f, "GET", "/api/v2/tickets?email=other@example.com", ""); a.body != "[]" {
		t.Errorf("someone else's tickets: %s", a.body)
	}
	if a = api(t, f, "PUT", "/api/v2/tickets/1", `{"status":5}`); a.status != 200 {
		t.Errorf("close: %d %s", a.status, a.body)
	}
	if a = api(t, f, "PUT", "/api/v2/tickets/1", `{"status":5}`); a.status != 200 {
		t.Errorf("close a closed ticket: %d %s", a.status, a.body)
	}
}

func TestFreshdeskFakeRateLimit(t *testing.T) {
	clock := &fdClock{now: time.Date(2026, 1, 1, 10, 0, 15, 0, time.UTC)}
	f := fake.New(t, fake.Options{RateLimit: 5, Now: clock.Now, EndpointLimits: map[string]int{fake.EndpointTicketsList: 2}})
	for i, want := range []string{"4", "3"} {
		a := api(t, f, "GET", "/api/v2/tickets", "")
		if a.status != 200 || a.header.Get("X-RateLimit-Total") != "5" || a.header.Get("X-RateLimit-Remaining") != want || a.header.Get("X-RateLimit-Used-CurrentRequest") != "1" {
			t.Errorf("call %d: %d %v", i+1, a.status, a.header)
		}
	}
	// The list endpoint's cap, then the account's.
	if a := api(t, f, "GET", "/api/v2/tickets", ""); a.status != 429 || a.header.Get("Retry-After") != "45" {
		t.Errorf("third list: %d, Retry-After %q", a.status, a.header.Get("Retry-After"))
	}
	for range 3 {
		api(t, f, "GET", "/api/v2/tickets/1", "")
	}
	a := api(t, f, "GET", "/api/v2/tickets/1", "")
	if a.status != 429 || a.header.Get("Retry-After") != "45" || a.header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("sixth call: %d %v %s", a.status, a.header, a.body)
	}
	clock.Set(clock.Now().Add(45 * time.Second)) // the next minute
	if a := api(t, f, "GET", "/api/v2/tickets/1", ""); a.status != 404 || a.header.Get("X-RateLimit-Remaining") != "4" {
		t.Errorf("next minute: %d %v", a.status, a.header)
	}
}

// fdReceiver records webhook calls and answers them with status.
type fdReceiver struct {
	mu     sync.Mutex
	status int
	got    []*http.Request
	bodies []string
}

func (r *fdReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, req)
	r.bodies = append(r.bodies, string(b))
	w.WriteHeader(r.status)
}

func (r *fdReceiver) set(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

func fdRuleFor(url string) *fake.Rule {
	return &fake.Rule{Events: []string{"Reply is sent", "Status is changed to Closed"}, ByAgent: true, Tag: "livechat", Method: "POST", URL: url,
		Headers: map[string]string{"X-Livechat-Secret": "s3cret"}, Username: "u", Password: "p",
		Body: `{"ticket_id": {{ticket.id}}, "status": "{{ticket.status}}", "event": "{{triggered_event}}", "latest": "{{ticket.latest_public_comment}}"}`}
}

func TestFreshdeskFakeWebhooks(t *testing.T) {
	recv := &fdReceiver{status: 200}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	f := fake.New(t, fake.Options{Retries: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond}})
	f.SetRule(fdRuleFor(srv.URL))
	api(t, f, "POST", "/api/v2/tickets", fdTicket)
	api(t, f, "POST", "/api/v2/tickets", strings.Replace(fdTicket, `"tags":["livechat"]`, `"tags":[]`, 1))
	tk := f.Tickets()[0]

	// Only the rule's events, by agents, on tagged tickets.
	api(t, f, "POST", "/api/v2/tickets/1/notes", `{"body":"by the user","incoming":true,"private":false,"user_id":`+jsonInt(tk.RequesterID)+`}`)
	f.AgentNote(1, "Ann", "a note", false)
	f.AgentReply(2, "Ann", "untagged ticket")
	f.AgentReply(1, "Ann", `Hi "Jane"`)
	f.WaitIdle(t)
	ds := f.Deliveries()
	if len(ds) != 1 || ds[0].Event != "Reply is sent" || !ds[0].Delivered() || len(ds[0].Attempts) != 1 {
		t.Fatalf("deliveries = %+v", ds)
	}
	recv.mu.Lock()
	req, body := recv.got[0], recv.bodies[0]
	recv.mu.Unlock()
	user, pass, _ := req.BasicAuth()
	if want := `{"ticket_id": 1, "status": "Open", "event": "Reply is sent", "latest": "Hi "Jane""}`; body != want {
		t.Errorf("body %s\nwant %s (placeholders are not JSON-escaped)", body, want)
	}
	if req.Header.Get("X-Livechat-Secret") != "s3cret" || user != "u" || pass != "p" || req.Header.Get("Content-Type") != "application/json" ||
		req.Header.Get("X-Freshdesk-Signature") != "" {
		t.Errorf("headers %v", req.Header)
	}

	// A failing receiver: three retries, then Freshdesk gives up.
	recv.set(500)
	f.SetStatus(1, "Ann", fake.StatusClosed)
	f.WaitIdle(t)
	ds = f.Deliveries()
	if d := ds[len(ds)-1]; d.Event != "Status is changed to Closed" || len(d.Attempts) != 4 || d.Delivered() {
		t.Errorf("failing delivery: %+v", d)
	}

	// Dropped webhooks are never sent; held ones go out in order on release.
	recv.set(200)
	f.DropWebhooks(true)
	f.AgentReply(1, "Ann", "lost")
	f.DropWebhooks(false)
	f.HoldWebhooks(true)
	f.AgentReply(1, "Ann", "held 1")
	f.AgentReply(1, "Ann", "held 2")
	f.WaitIdle(t)
	recv.mu.Lock()
	n := len(recv.got)
	recv.mu.Unlock()
	f.HoldWebhooks(false)
	f.WaitIdle(t)
	recv.mu.Lock()
	tail := slices.Clone(recv.bodies[n:])
	recv.mu.Unlock()
	if len(tail) != 2 || !strings.Contains(tail[0], "held 1") || !strings.Contains(tail[1], "held 2") {
		t.Errorf("released: %q", tail)
	}
	ds = f.Deliveries()
	if !ds[len(ds)-3].Dropped || len(ds[len(ds)-3].Attempts) != 0 {
		t.Errorf("dropped delivery: %+v", ds[len(ds)-3])
	}
}

// Webhooks count against the account's rate limit: past it they wait for
// the next window.
func TestFreshdeskFakeWebhooksWithinRateLimit(t *testing.T) {
	recv := &fdReceiver{status: 200}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	clock := &fdClock{now: time.Date(2026, 1, 1, 10, 0, 59, 900_000_000, time.UTC)}
	f := fake.New(t, fake.Options{RateLimit: 2, Now: clock.Now})
	f.SetRule(fdRuleFor(srv.URL))
	api(t, f, "POST", "/api/v2/tickets", fdTicket)
	api(t, f, "GET", "/api/v2/tickets/1", "") // the minute's budget is spent
	f.AgentReply(1, "Ann", "over the limit")
	f.Wait(t, "the webhook postponed", func() bool {
		ds := f.Deliveries()
		return len(ds) == 1 && len(ds[0].Attempts) == 0
	})
	clock.Set(clock.Now().Add(time.Second))
	f.WaitIdle(t)
	if ds := f.Deliveries(); len(ds) != 1 || !ds[0].Delivered() {
		t.Errorf("deliveries = %+v", ds)
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(bytes.TrimSpace(b))
}
