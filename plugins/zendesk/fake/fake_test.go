package fake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk/webhook"
)

// fdCall makes one API call with the fake's credentials (or others).
func fdCall(t *testing.T, s *Server, method, path string, body any, auth ...string) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	} else {
		req.SetBasicAuth(s.Email()+"/token", s.Token())
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func fdTicket(t *testing.T, s *Server) int64 {
	t.Helper()
	res, body := fdCall(t, s, "POST", "/api/v2/tickets.json", map[string]any{"ticket": map[string]any{
		"subject": "s", "external_id": "livechat:shop:S", "comment": map[string]any{"body": "first", "public": false}}})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", res.StatusCode, body)
	}
	var out struct{ Ticket Ticket }
	_ = json.Unmarshal([]byte(body), &out)
	return out.Ticket.ID
}

func TestFakeZendeskErrors(t *testing.T) {
	s := New(t, Options{RateLimit: 5, TicketUpdates: 2})
	if res, body := fdCall(t, s, "GET", "/api/v2/tickets.json", nil, "ops@acme.test/token", "wrong"); res.StatusCode != 401 || body != `{"error":"Couldn't authenticate you"}`+"\n" {
		t.Errorf("wrong token: %d %s", res.StatusCode, body)
	}
	id := fdTicket(t, s)
	path := "/api/v2/tickets/" + itoa(id) + ".json"
	if res, body := fdCall(t, s, "GET", "/api/v2/tickets/999.json", nil); res.StatusCode != 404 || !strings.Contains(body, `"error":"RecordNotFound"`) {
		t.Errorf("missing ticket: %d %s", res.StatusCode, body)
	}
	// Two updates of one ticket by one user, then the ticket's own limit.
	for i := range 2 {
		if res, body := fdCall(t, s, "PUT", path, map[string]any{"ticket": map[string]any{"comment": map[string]any{"body": "x"}}}); res.StatusCode != 200 {
			t.Fatalf("update %d: %d %s", i, res.StatusCode, body)
		}
	}
	res, body := fdCall(t, s, "PUT", path, map[string]any{"ticket": map[string]any{"comment": map[string]any{"body": "x"}}})
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(body, "ticket updates") {
		t.Errorf("third update: %d %v %s", res.StatusCode, res.Header, body)
	}
	// The account's 5 calls a minute are spent (the 401 does not count).
	res, _ = fdCall(t, s, "GET", path, nil)
	if res.StatusCode != 429 || res.Header.Get("X-Rate-Limit") != "5" || res.Header.Get("X-Rate-Limit-Remaining") != "0" || res.Header.Get("Retry-After") == "" {
		t.Errorf("sixth call: %d %v", res.StatusCode, res.Header)
	}
}

func TestFakeZendeskClosedTicket(t *testing.T) {
	s := New(t, Options{})
	id := fdTicket(t, s)
	path := "/api/v2/tickets/" + itoa(id) + ".json"
	if res, body := fdCall(t, s, "PUT", path, map[string]any{"ticket": map[string]any{"status": "closed"}}); res.StatusCode != 200 {
		t.Fatalf("close: %d %s", res.StatusCode, body)
	}
	res, body := fdCall(t, s, "PUT", path, map[string]any{"ticket": map[string]any{"status": "open"}})
	if res.StatusCode != 422 || !strings.Contains(body, "closed prevents ticket update") {
		t.Errorf("update of a closed ticket: %d %s", res.StatusCode, body)
	}
}

// fdReceiver answers webhooks with status (and Retry-After) and records
// the requests.
type fdReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	status  int
	after   string
	headers []http.Header
	bodies  [][]byte
}

func newFDReceiver(t *testing.T, status int, after string) *fdReceiver {
	r := &fdReceiver{status: status, after: after}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.headers = append(r.headers, req.Header.Clone())
		r.bodies = append(r.bodies, b)
		r.mu.Unlock()
		if r.after != "" {
			w.Header().Set("Retry-After", r.after)
		}
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.Close)
	return r
}

func TestFakeZendeskWebhookSignedAndShaped(t *testing.T) {
	s := New(t, Options{})
	rcv := newFDReceiver(t, 200, "")
	s.SetWebhookURL(rcv.URL)
	id := fdTicket(t, s)
	if _, err := s.AgentReply(id, "Ann", "hello"); err != nil {
		t.Fatal(err)
	}
	s.WaitIdle(t)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	// The first comment, the reply, and the status change the reply made.
	if len(rcv.bodies) != 3 {
		t.Fatalf("%d webhooks, want 3", len(rcv.bodies))
	}
	for i, b := range rcv.bodies {
		h := rcv.headers[i]
		if err := webhook.Zendesk.Verify(s.Secret(), h, b, time.Now()); err != nil {
			t.Errorf("webhook %d: %v", i, err)
		}
		if h.Get("X-Zendesk-Webhook-Id") == "" || h.Get("X-Zendesk-Webhook-Invocation-Id") == "" || h.Get("X-Zendesk-Account-Id") != "9001" {
			t.Errorf("webhook %d headers %v", i, h)
		}
	}
	var reply struct {
		Type    string
		Subject string
		Detail  map[string]any
		Event   struct {
			Comment struct {
				ID       string
				IsPublic bool `json:"is_public"`
				Author   struct {
					ID      string
					IsStaff bool `json:"is_staff"`
				}
			}
		}
	}
	if err := json.Unmarshal(rcv.bodies[1], &reply); err != nil {
		t.Fatal(err)
	}
	if reply.Type != EventCommentAdded || reply.Subject != "zen:ticket:"+itoa(id) || reply.Detail["external_id"] != "livechat:shop:S" ||
		reply.Detail["id"] != itoa(id) || reply.Event.Comment.ID == "" || !reply.Event.Comment.IsPublic || !reply.Event.Comment.Author.IsStaff {
		t.Errorf("reply webhook = %s", rcv.bodies[1])
	}
	if !bytes.Contains(rcv.bodies[2], []byte(`"type":"zen:event-type:ticket.status_changed"`)) || !bytes.Contains(rcv.bodies[2], []byte(`"current":"PENDING"`)) {
		t.Errorf("status webhook = %s", rcv.bodies[2])
	}
}

// Zendesk retries a 409 up to three times, a 429 or 503 whose Retry-After
// is under a minute; never a 401 or a 500.
func TestFakeZendeskWebhookRetries(t *testing.T) {
	for _, tc := range []struct {
		status   int
		after    string
		attempts int
	}{
		{200, "", 1},
		{401, "", 1},
		{500, "", 1},
		{409, "", 4},
		{503, "1", 4},
		{429, "1", 4},
		{503, "120", 1},
		{503, "", 1},
	} {
		s := New(t, Options{RetryWait: func(time.Duration) time.Duration { return time.Millisecond }})
		rcv := newFDReceiver(t, tc.status, tc.after)
		s.SetWebhookURL(rcv.URL)
		id := fdTicket(t, s)
		s.WaitIdle(t)
		ds := s.Deliveries()
		if len(ds) != 1 || ds[0].TicketID != id || len(ds[0].Attempts) != tc.attempts {
			t.Errorf("answered %d (Retry-After %q): deliveries %+v, want %d attempts", tc.status, tc.after, ds, tc.attempts)
		}
	}
}

func TestFakeZendeskWebhookDropHold(t *testing.T) {
	s := New(t, Options{})
	rcv := newFDReceiver(t, 200, "")
	s.SetWebhookURL(rcv.URL)
	s.DropWebhooks(true)
	id := fdTicket(t, s)
	s.DropWebhooks(false)
	s.HoldWebhooks()
	if _, err := s.AgentReply(id, "Ann", "late"); err != nil {
		t.Fatal(err)
	}
	s.WaitIdle(t)
	rcv.mu.Lock()
	n := len(rcv.bodies)
	rcv.mu.Unlock()
	if n != 0 {
		t.Errorf("%d webhooks while dropped and held", n)
	}
	s.Release()
	s.WaitIdle(t)
	ds := s.Deliveries()
	if len(ds) != 3 || !ds[0].Dropped || ds[1].Dropped || !ds[1].Delivered() || !ds[2].Delivered() {
		t.Errorf("deliveries = %+v", ds)
	}
}

func TestFakeZendeskAuditMetadata(t *testing.T) {
	s := New(t, Options{})
	id := fdTicket(t, s)
	path := "/api/v2/tickets/" + itoa(id)
	res, body := fdCall(t, s, "PUT", path+".json", map[string]any{"ticket": map[string]any{"metadata": map[string]any{"k": "v1"},
		"comment": map[string]any{"body": "x", "public": true}}})
	if res.StatusCode != 200 || !strings.Contains(body, `"custom":{"k":"v1"}`) {
		t.Fatalf("update: %d %s", res.StatusCode, body)
	}
	_, body = fdCall(t, s, "GET", path+"/audits.json?sort_order=desc&page[size]=1", nil)
	var pg struct {
		Audits []struct {
			Metadata struct{ Custom map[string]string }
			Events   []struct {
				ID   int64
				Type string
			}
		}
		Meta struct {
			HasMore     bool   `json:"has_more"`
			AfterCursor string `json:"after_cursor"`
		}
	}
	if err := json.Unmarshal([]byte(body), &pg); err != nil {
		t.Fatal(err)
	}
	cs := s.Comments(id)
	if len(pg.Audits) != 1 || pg.Audits[0].Metadata.Custom["k"] != "v1" || pg.Audits[0].Events[0].ID != cs[1].ID || !pg.Meta.HasMore {
		t.Errorf("audits = %s", body)
	}
	_, body = fdCall(t, s, "GET", path+"/audits.json?sort_order=desc&page[size]=1&page[after]="+pg.Meta.AfterCursor, nil)
	if !strings.Contains(body, `"body":"first"`) || !strings.Contains(body, `"has_more":false`) {
		t.Errorf("second page = %s", body)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
