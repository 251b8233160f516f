package fake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
)

type api struct {
	t *testing.T
	s *fake.Server
}

// call sends one request and returns the status and the raw answer.
func (a api) call(method, path, token string, body any) (int, string, http.Header) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.s.URL+path, r)
	if token != "" {
		req.Header.Set("api_access_token", token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
}

func (a api) do(method, path string, body any) (int, string) {
	a.t.Helper()
	st, b, _ := a.call(method, "/api/v1/accounts/1"+path, a.s.Token(), body)
	return st, b
}

// TestAPI checks the answers the plugin relies on, errors included.
func TestAPI(t *testing.T) {
	s := fake.New(t, fake.Options{})
	a := api{t, s}
	web := s.AddInbox("Website", "Channel::WebWidget")

	for _, tc := range []struct {
		name         string
		method, path string
		token        string
		body         any
		status       int
		answer       string // a part of the answer
	}{
		{"no token", "GET", "/api/v1/accounts/1/inboxes", "", nil, 401, `{"errors":["You need to sign in or sign up before continuing."]}`},
		{"wrong token", "GET", "/api/v1/accounts/1/inboxes", "nope", nil, 401, `{"error":"Invalid Access Token"}`},
		{"unknown account", "GET", "/api/v1/accounts/2/inboxes", s.Token(), nil, 404, `{"error":"Resource could not be found"}`},
		{"create API inbox", "POST", "/api/v1/accounts/1/inboxes", s.Token(), map[string]any{"name": "livechat", "channel": map[string]any{"type": "api"}}, 200, `"channel_type":"Channel::Api"`},
		{"inbox without a name", "POST", "/api/v1/accounts/1/inboxes", s.Token(), map[string]any{"channel": map[string]any{"type": "api"}}, 422, `{"attributes":["name"],"message":"Name can't be blank"}`},
		{"create contact", "POST", "/api/v1/accounts/1/contacts", s.Token(), map[string]any{"inbox_id": 2, "name": "Jane", "email": "jane@example.com", "identifier": "u1"}, 200, `"contact_inbox":{"inbox":{`},
		{"email taken", "POST", "/api/v1/accounts/1/contacts", s.Token(), map[string]any{"name": "J", "email": "JANE@example.com"}, 422, `{"attributes":["email"],"message":"Email has already been taken"}`},
		{"identifier taken", "POST", "/api/v1/accounts/1/contacts", s.Token(), map[string]any{"identifier": "u1"}, 422, `"Identifier has already been taken"`},
		{"phone not E.164", "POST", "/api/v1/accounts/1/contacts", s.Token(), map[string]any{"phone_number": "0612"}, 422, `"Phone number should be in e164 format"`},
		{"search", "GET", "/api/v1/accounts/1/contacts/search?q=JANE", s.Token(), nil, 200, `"meta":{"count":1,"current_page":1}`},
		{"conversation without source_id", "POST", "/api/v1/accounts/1/conversations", s.Token(), map[string]any{"inbox_id": 2}, 422, `"Source can't be blank"`},
		{"conversation of an unknown source_id", "POST", "/api/v1/accounts/1/conversations", s.Token(), map[string]any{"source_id": "x", "inbox_id": 2}, 404, `Resource could not be found`},
		{"unknown conversation", "GET", "/api/v1/accounts/1/conversations/99", s.Token(), nil, 404, `{"error":"Resource could not be found"}`},
		{"message to an unknown conversation", "POST", "/api/v1/accounts/1/conversations/99/messages", s.Token(), map[string]any{"content": "x"}, 404, `Resource could not be found`},
		{"toggle an unknown conversation", "POST", "/api/v1/accounts/1/conversations/99/toggle_status", s.Token(), map[string]any{"status": "resolved"}, 404, `Resource could not be found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body, _ := a.call(tc.method, tc.path, tc.token, tc.body)
			if st != tc.status || !strings.Contains(body, tc.answer) {
				t.Errorf("%s %s: %d %s\nwant %d with %s", tc.method, tc.path, st, body, tc.status, tc.answer)
			}
		})
	}

	// A conversation in the API inbox, and one in the website inbox.
	var ci struct {
		SourceID string `json:"source_id"`
	}
	_, body := a.do("POST", "/contacts/1/contact_inboxes", map[string]any{"inbox_id": web.ID})
	_ = json.Unmarshal([]byte(body), &ci)
	st, body := a.do("POST", "/conversations", map[string]any{"source_id": ci.SourceID, "inbox_id": web.ID})
	if st != 200 {
		t.Fatalf("website conversation: %d %s", st, body)
	}
	st, body = a.do("POST", "/conversations/1/messages", map[string]any{"content": "hi", "message_type": "incoming"})
	if st != 422 || body != `{"error":"Incoming messages are only allowed in Api inboxes"}` {
		t.Errorf("incoming in a website inbox: %d %s", st, body)
	}
	api := s.ContactInboxes()[0]
	if st, body = a.do("POST", "/conversations", map[string]any{"source_id": api.SourceID, "inbox_id": api.InboxID, "custom_attributes": map[string]any{"k": "v"}}); st != 200 {
		t.Fatalf("API conversation: %d %s", st, body)
	}
	for _, tc := range []struct {
		body   map[string]any
		status int
		answer string
	}{
		{map[string]any{"content": "hello", "message_type": "incoming", "content_attributes": map[string]any{"livechat_key": "k1"}}, 200, `"message_type":0`},
		{map[string]any{"content": "note", "private": true}, 200, `"message_type":1`},
		{map[string]any{"content": "   "}, 422, `"Content can't be blank"`},
		{map[string]any{"content": "x", "message_type": "bogus"}, 422, `is not a valid message_type`},
		{map[string]any{"content": "x", "content_attributes": `{"a":1}`}, 200, `"content_attributes":{"a":1}`},
	} {
		if st, body := a.do("POST", "/conversations/2/messages", tc.body); st != tc.status || !strings.Contains(body, tc.answer) {
			t.Errorf("post %v: %d %s", tc.body, st, body)
		}
	}
	if st, body := a.do("GET", "/conversations/2/messages", nil); st != 200 || !strings.Contains(body, `"livechat_key":"k1"`) {
		t.Errorf("messages: %d %s", st, body)
	}

	// toggle_status without a status toggles; an incoming message reopens.
	for _, want := range []string{"resolved", "open"} {
		if st, body := a.do("POST", "/conversations/2/toggle_status", nil); st != 200 || !strings.Contains(body, `"current_status":"`+want+`"`) {
			t.Errorf("toggle: %d %s, want %s", st, body, want)
		}
	}
	if st, body := a.do("POST", "/conversations/2/toggle_status", map[string]any{"status": "closed"}); st != 422 {
		t.Errorf("toggle to closed: %d %s", st, body)
	}
	s.Resolve(2, "Ann")
	a.do("POST", "/conversations/2/messages", map[string]any{"content": "are you there?", "message_type": "incoming"})
	if cv, _ := s.Conversation(2); cv.Status != "open" {
		t.Errorf("an incoming message left the conversation %s", cv.Status)
	}

	// Injected failures.
	s.Fail(fake.Fault{Method: "GET", Path: "/inboxes", Status: 429, RetryAfter: "3"})
	if st, body, h := a.call("GET", "/api/v1/accounts/1/inboxes", s.Token(), nil); st != 429 || h.Get("Retry-After") != "3" || body != "Retry later" {
		t.Errorf("rate limited: %d %q %v", st, body, h)
	}
	if st, _ := a.do("GET", "/inboxes", nil); st != 200 {
		t.Errorf("the fault outlived its one time: %d", st)
	}
}

// TestWebhooks checks the deliveries: signed with the secret and the fake's
// clock, the delivery id kept across attempts, failures resent only by
// hand (Flush): Chatwoot itself never retries.
func TestWebhooks(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1741083330, 0)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	var got []*http.Request
	var bodies [][]byte
	status := 500
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got, bodies = append(got, r), append(bodies, b)
		w.WriteHeader(status)
	}))
	t.Cleanup(hook.Close)
	s := fake.New(t, fake.Options{Secret: "sec", Now: clock})
	a := api{t, s}
	a.do("POST", "/inboxes", map[string]any{"name": "livechat", "channel": map[string]any{"type": "api"}})
	a.do("POST", "/contacts", map[string]any{"inbox_id": 1, "name": "Jane"})
	a.do("POST", "/conversations", map[string]any{"source_id": s.ContactInboxes()[0].SourceID, "inbox_id": 1})
	s.AgentReply(1, "Ann", "hello")
	s.WaitIdle(t) // no URL yet: nothing is sent
	mu.Lock()
	if len(got) != 0 {
		t.Fatal("sent without a webhook URL")
	}
	mu.Unlock()
	s.SetWebhookURL(hook.URL)
	s.WaitIdle(t)
	mu.Lock()
	if len(got) != 2 { // conversation_created, message_created
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	r, body := got[1], bodies[1]
	mu.Unlock()
	if r.Header.Get("X-Chatwoot-Timestamp") != "1741083330" ||
		r.Header.Get("X-Chatwoot-Signature") != "sha256="+fake.Sign("sec", "1741083330", body) || r.Header.Get("X-Chatwoot-Delivery") == "" {
		t.Errorf("headers = %v", r.Header)
	}
	var m struct {
		Event        string `json:"event"`
		MessageType  string `json:"message_type"`
		Private      bool   `json:"private"`
		Sender       struct{ Name, Type string }
		Conversation struct {
			ID      int64 `json:"id"`
			InboxID int64 `json:"inbox_id"`
		}
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Event != "message_created" || m.MessageType != "outgoing" || m.Sender.Name != "Ann" || m.Sender.Type != "user" || m.Conversation.ID != 1 {
		t.Errorf("payload %s (%v)", body, err)
	}
	ds := s.Deliveries()
	if len(ds) != 2 || ds[1].Delivered() || ds[1].Attempts[0].Status != 500 {
		t.Fatalf("deliveries = %+v", ds)
	}
	// Flush resends the failures, same delivery ids, fresh signatures.
	mu.Lock()
	status = 200
	now = now.Add(time.Minute)
	mu.Unlock()
	s.Flush(t)
	ds = s.Deliveries()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 || !ds[0].Delivered() || !ds[1].Delivered() ||
		got[3].Header.Get("X-Chatwoot-Delivery") != ds[1].ID || got[3].Header.Get("X-Chatwoot-Timestamp") != "1741083390" {
		t.Errorf("after Flush: %d requests, deliveries %+v", len(got), ds)
	}
}
