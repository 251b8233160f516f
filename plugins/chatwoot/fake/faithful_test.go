package fake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
)

// Issue 11, point 4: the fake answers as Chatwoot does (others.md §6b).

func TestAnswersLikeChatwoot(t *testing.T) {
	s := fake.New(t, fake.Options{AgentToken: "agent-token", ForeignAccounts: []int64{2}})
	a := api{t, s}
	s.AddInbox("livechat", "Channel::Api")
	s.AddContact(fake.Contact{Name: "Jane Doe", Email: "jane@example.com"})
	s.AddContact(fake.Contact{Name: "Jane Nobody"}) // no email, phone or identifier: never found
	s.AddContact(fake.Contact{Name: "Widget", Identifier: "Crm-7"})
	for _, tc := range []struct {
		name         string
		method, path string
		token        string
		body         any
		status       int
		answer       string
	}{
		{"a foreign account is a 401", "GET", "/api/v1/accounts/2/inboxes", s.Token(), nil, 401, `{"error":"You are not authorized to access this account"}`},
		{"an account that does not exist is a 404", "GET", "/api/v1/accounts/3/inboxes", s.Token(), nil, 404, `Resource could not be found`},
		{"an agent creating an inbox is a 401 (Pundit)", "POST", "/api/v1/accounts/1/inboxes", "agent-token", map[string]any{"name": "x", "channel": map[string]any{"type": "api"}}, 401, `{"error":"You are not authorized to do this action"}`},
		{"an agent may read", "GET", "/api/v1/accounts/1/inboxes", "agent-token", nil, 200, `"lock_to_single_conversation":false`},
		{"a blank search is a 422", "GET", "/api/v1/accounts/1/contacts/search?q=%20", s.Token(), nil, 422, `{"error":"Specify search string with parameter q"}`},
		{"no search term is a 422", "GET", "/api/v1/accounts/1/contacts/search", s.Token(), nil, 422, `Specify search string`},
		{"only contacts with an email, phone or identifier", "GET", "/api/v1/accounts/1/contacts/search?q=jane", s.Token(), nil, 200, `"meta":{"count":1,"current_page":1}`},
		{"identifier: case-sensitive", "GET", "/api/v1/accounts/1/contacts/search?q=crm-7", s.Token(), nil, 200, `"meta":{"count":0,`},
		{"identifier", "GET", "/api/v1/accounts/1/contacts/search?q=Crm-7", s.Token(), nil, 200, `"meta":{"count":1,`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body, _ := a.call(tc.method, tc.path, tc.token, tc.body)
			if st != tc.status || !strings.Contains(body, tc.answer) {
				t.Errorf("%s %s: %d %s\nwant %d with %s", tc.method, tc.path, st, body, tc.status, tc.answer)
			}
		})
	}
}

// conversationOn makes a contact and a conversation in inbox 1 and
// returns the conversation's id and the contact inbox's source id.
func conversationOn(t *testing.T, a api, attrs map[string]any) (int64, string) {
	t.Helper()
	var c struct {
		Payload struct {
			ContactInbox struct {
				SourceID string `json:"source_id"`
			} `json:"contact_inbox"`
		} `json:"payload"`
	}
	st, body := a.do("POST", "/contacts", map[string]any{"inbox_id": 1, "name": "Jane"})
	if st != 200 || json.Unmarshal([]byte(body), &c) != nil {
		t.Fatalf("contact: %d %s", st, body)
	}
	return postConversation(t, a, c.Payload.ContactInbox.SourceID, attrs), c.Payload.ContactInbox.SourceID
}

func postConversation(t *testing.T, a api, sourceID string, attrs map[string]any) int64 {
	t.Helper()
	var cv struct {
		ID int64 `json:"id"`
	}
	st, body := a.do("POST", "/conversations", map[string]any{"source_id": sourceID, "inbox_id": 1, "custom_attributes": attrs})
	if st != 200 || json.Unmarshal([]byte(body), &cv) != nil {
		t.Fatalf("conversation: %d %s", st, body)
	}
	return cv.ID
}

func TestMessagePaging(t *testing.T) {
	s := fake.New(t, fake.Options{})
	a := api{t, s}
	s.AddInbox("livechat", "Channel::Api")
	conv, _ := conversationOn(t, a, nil)
	for i := 0; i < 130; i++ {
		s.AgentReply(conv, "Ann", "m")
	}
	ids := func(query string) []int64 {
		t.Helper()
		st, body := a.do("GET", "/conversations/1/messages"+query, nil)
		var out struct {
			Payload []struct {
				ID int64 `json:"id"`
			} `json:"payload"`
		}
		if st != 200 || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("messages%s: %d %s", query, st, body)
		}
		var got []int64
		for _, m := range out.Payload {
			got = append(got, m.ID)
		}
		return got
	}
	span := func(from, to int64) []int64 {
		var out []int64
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"", span(111, 130)},                    // messages_latest: the last 20
		{"?after=0", span(1, 100)},              // messages_after: 100, oldest first
		{"?after=100", span(101, 130)},          // id > after
		{"?before=50", span(30, 49)},            // messages_before: the 20 before
		{"?after=10&before=15", span(10, 14)},   // messages_between: [after, before)
		{"?after=130", nil},                     // nothing new
		{"?after=&before=", span(111, 130)},     // blank is absent
		{"?after=120abc", span(121, 130)},       // to_i
		{"?before_timestamp=", span(111, 130)},  // unknown parameters change nothing
		{"?after=125&page=2", span(126, 130)},   // nor does page
		{"?after=0&before=1000", span(1, 130)},  // between: up to 1000
		{"?before=3", span(1, 2)},               // fewer than 20 left
		{"?after=-5", span(1, 100)},             // to_i of a negative: no id is below
		{"?after=129&after=1", span(130, 130)},  // the first value
		{"?before=131", span(111, 130)},         // the 20 before a future id
		{"?after=99&before=101", span(99, 100)}, // after is inclusive there
	} {
		if diff := cmp.Diff(tc.want, ids(tc.query)); diff != "" {
			t.Errorf("messages%s (-want +got):\n%s", tc.query, diff)
		}
	}
}

func TestLockToSingleConversation(t *testing.T) {
	s := fake.New(t, fake.Options{})
	a := api{t, s}
	s.AddInbox("livechat", "Channel::Api")
	first, source := conversationOn(t, a, map[string]any{"livechat_session_id": "s1"})
	s.Resolve(first, "Ann")
	if again := postConversation(t, a, source, map[string]any{"livechat_session_id": "s2"}); again == first {
		t.Fatalf("unlocked inbox: the same conversation again")
	}
	s.SetLockToSingleConversation(1, true)
	got := postConversation(t, a, source, map[string]any{"livechat_session_id": "s3"})
	cv, _ := s.Conversation(got)
	if got != first || cv.Status != "resolved" || cv.CustomAttributes["livechat_session_id"] != "s1" || len(s.Conversations()) != 2 {
		t.Errorf("locked inbox: conversation %d %+v; want the first one, resolved, with its own attributes", got, cv)
	}
	if _, body := a.do("GET", "/inboxes/1", nil); !strings.Contains(body, `"lock_to_single_conversation":true`) {
		t.Errorf("inbox = %s", body)
	}
}

// hook records the webhooks it receives and answers status.
type hook struct {
	mu     sync.Mutex
	status int
	bodies []map[string]any
	srv    *httptest.Server
}

func newHook(t *testing.T, status int) *hook {
	h := &hook{status: status}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.bodies = append(h.bodies, m)
		w.WriteHeader(h.status)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// seen is the webhooks received, as "event content" or "event status".
func (h *hook) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, m := range h.bodies {
		what, _ := m["content"].(string)
		if m["event"] == "conversation_status_changed" {
			what, _ = m["status"].(string)
		}
		out = append(out, m["event"].(string)+" "+what)
	}
	return out
}

func TestWebhooksLikeChatwoot(t *testing.T) {
	h := newHook(t, 200)
	s := fake.New(t, fake.Options{WebhookURL: h.srv.URL, Events: []string{"message_created", "conversation_status_changed"}})
	a := api{t, s}
	s.AddInbox("livechat", "Channel::Api")
	conv, _ := conversationOn(t, a, nil)
	s.AgentReply(conv, "Ann Agent", "hello")
	s.Resolve(conv, "Ann Agent") // an activity message too, never webhooked
	s.WaitIdle(t)
	if diff := cmp.Diff([]string{"message_created hello", "conversation_status_changed resolved"}, h.seen()); diff != "" {
		t.Errorf("webhooks (-want +got):\n%s", diff)
	}
	if ms := s.Messages(conv); len(ms) != 2 || ms[1].MessageType != "activity" {
		t.Errorf("messages = %+v, want the reply and an activity message", ms)
	}
	h.mu.Lock()
	sender := h.bodies[0]["sender"].(map[string]any)
	changed, ok := h.bodies[1]["changed_attributes"]
	h.mu.Unlock()
	if diff := cmp.Diff(map[string]any{"id": sender["id"], "name": "Ann Agent", "email": "ann.agent@agents.example", "type": "user"}, sender); diff != "" {
		t.Errorf("webhook sender (User#webhook_data, no available_name) (-want +got):\n%s", diff)
	}
	if !ok || changed != nil {
		t.Errorf("changed_attributes = %v (present %v), want null", changed, ok)
	}
	// The API's sender is push_event_data: with available_name.
	if _, body := a.do("GET", "/conversations/1/messages", nil); !strings.Contains(body, `"available_name":"Ann"`) || !strings.Contains(body, `"name":"Ann Agent"`) {
		t.Errorf("messages = %s", body)
	}
}

func TestWebhooksAreNeverRetried(t *testing.T) {
	h := newHook(t, 503)
	s := fake.New(t, fake.Options{WebhookURL: h.srv.URL, Events: []string{"message_created"}})
	a := api{t, s}
	s.AddInbox("livechat", "Channel::Api")
	conv, _ := conversationOn(t, a, nil)
	s.AgentReply(conv, "Ann", "lost")
	s.WaitIdle(t)
	h.mu.Lock()
	h.status = 200
	h.mu.Unlock()
	s.AgentReply(conv, "Ann", "next")
	s.WaitIdle(t)
	if diff := cmp.Diff([]string{"message_created lost", "message_created next"}, h.seen()); diff != "" {
		t.Errorf("webhooks (-want +got):\n%s", diff)
	}
	if ds := s.Deliveries(); len(ds) != 2 || len(ds[0].Attempts) != 1 || ds[0].Delivered() {
		t.Errorf("deliveries = %+v, want the refused one tried once", ds)
	}
}

func TestDropAndHoldWebhooks(t *testing.T) {
	h := newHook(t, 200)
	s := fake.New(t, fake.Options{WebhookURL: h.srv.URL, Events: []string{"message_created", "conversation_status_changed"}})
	a := api{t, s}
	s.AddInbox("livechat", "Channel::Api")
	conv, _ := conversationOn(t, a, nil)

	s.DropWebhooks(fake.WebhookRule{Next: 2})
	s.AgentReply(conv, "Ann", "dropped 1")
	s.AgentReply(conv, "Ann", "dropped 2")
	s.AgentReply(conv, "Ann", "sent 3")
	s.DropWebhooks(fake.WebhookRule{Event: "conversation_status_changed"})
	s.HoldWebhooks(fake.WebhookRule{Event: "message_created"})
	s.AgentReply(conv, "Ann", "held 4")
	s.AgentReply(conv, "Ann", "held 5")
	s.Resolve(conv, "Ann")
	s.WaitIdle(t)
	if diff := cmp.Diff([]string{"message_created sent 3"}, h.seen()); diff != "" {
		t.Errorf("before Release (-want +got):\n%s", diff)
	}
	s.Release(t, true)
	if diff := cmp.Diff([]string{"message_created sent 3", "message_created held 5", "message_created held 4"}, h.seen()); diff != "" {
		t.Errorf("after Release (-want +got):\n%s", diff)
	}
	var dropped []string
	for _, d := range s.Deliveries() {
		if d.Dropped {
			dropped = append(dropped, d.Event)
		}
		if d.Held {
			t.Errorf("delivery %s still held", d.ID)
		}
	}
	if diff := cmp.Diff([]string{"message_created", "message_created", "conversation_status_changed"}, dropped); diff != "" {
		t.Errorf("dropped (-want +got):\n%s", diff)
	}
	s.ResumeWebhooks()
	s.AgentReply(conv, "Ann", "after")
	s.WaitIdle(t)
	if got := h.seen(); got[len(got)-1] != "message_created after" {
		t.Errorf("after ResumeWebhooks: %q", got)
	}
}
