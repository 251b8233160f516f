package fake_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
)

// TestPublicUpdateLastSeen: the public API's update_last_seen takes no
// token, names the conversation by the API inbox's identifier and the
// contact's source id (404 with Chatwoot's body when any of the three
// does not match), answers 200 with no body, sets contact_last_seen_at
// (shown by the application API), reads the messages not incoming created
// until then, and sends no webhook.
func TestPublicUpdateLastSeen(t *testing.T) {
	var clock atomic.Int64 // unix seconds
	clock.Store(time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC).Unix())
	s := fake.New(t, fake.Options{Now: func() time.Time { return time.Unix(clock.Load(), 0).UTC() }})
	a := api{t, s}

	var in struct {
		ID         int64  `json:"id"`
		Identifier string `json:"inbox_identifier"`
	}
	st, body := a.do("POST", "/inboxes", map[string]any{"name": "Livechat", "channel": map[string]any{"type": "api"}})
	if st != http.StatusOK || json.Unmarshal([]byte(body), &in) != nil || in.Identifier == "" {
		t.Fatalf("inbox: %d %s", st, body)
	}
	source := func(name string) string {
		var c struct {
			Payload struct {
				ContactInbox struct {
					SourceID string `json:"source_id"`
				} `json:"contact_inbox"`
			} `json:"payload"`
		}
		st, body := a.do("POST", "/contacts", map[string]any{"inbox_id": in.ID, "name": name})
		if st != http.StatusOK || json.Unmarshal([]byte(body), &c) != nil || c.Payload.ContactInbox.SourceID == "" {
			t.Fatalf("contact: %d %s", st, body)
		}
		return c.Payload.ContactInbox.SourceID
	}
	conversation := func(source string) int64 {
		var cv struct {
			ID int64 `json:"id"`
		}
		st, body := a.do("POST", "/conversations", map[string]any{"source_id": source, "inbox_id": in.ID})
		if st != http.StatusOK || json.Unmarshal([]byte(body), &cv) != nil {
			t.Fatalf("conversation: %d %s", st, body)
		}
		return cv.ID
	}
	jane, joe := source("Jane"), source("Joe")
	conv, other := conversation(jane), conversation(joe)
	if st, body := a.do("POST", fmt.Sprintf("/conversations/%d/messages", conv), map[string]any{"content": "help", "message_type": "incoming"}); st != http.StatusOK {
		t.Fatalf("incoming: %d %s", st, body)
	}
	reply := s.AgentReply(conv, "Ann", "Hello")
	deliveries := len(s.Deliveries())

	path := func(identifier, source string, conv int64) string {
		return fmt.Sprintf("/public/api/v1/inboxes/%s/contacts/%s/conversations/%d/update_last_seen", identifier, source, conv)
	}
	for _, tc := range []struct {
		name string
		path string
	}{
		{"unknown inbox", path("nope", jane, conv)},
		{"unknown contact", path(in.Identifier, "nope", conv)},
		{"another contact's conversation", path(in.Identifier, jane, other)},
		{"unknown conversation", path(in.Identifier, jane, 999)},
	} {
		st, body, _ := a.call("POST", tc.path, "", nil)
		if st != http.StatusNotFound || body != `{"error":"Resource could not be found"}` {
			t.Errorf("%s: %d %s", tc.name, st, body)
		}
	}
	if cv, _ := s.Conversation(conv); !cv.ContactLastSeenAt.IsZero() {
		t.Fatal("marked seen by a refused call")
	}

	now := time.Unix(clock.Add(60), 0).UTC()
	st, body, _ = a.call("POST", path(in.Identifier, jane, conv), "", nil)
	if st != http.StatusOK || body != "" {
		t.Fatalf("update_last_seen: %d %q", st, body)
	}
	cv, _ := s.Conversation(conv)
	if !cv.ContactLastSeenAt.Equal(now) {
		t.Errorf("ContactLastSeenAt %v, want %v", cv.ContactLastSeenAt, now)
	}
	st, body = a.do("GET", fmt.Sprintf("/conversations/%d", conv), nil)
	var got struct {
		ContactLastSeenAt int64 `json:"contact_last_seen_at"`
	}
	if st != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil || got.ContactLastSeenAt != now.Unix() {
		t.Errorf("conversation: %d %s", st, body)
	}
	for _, m := range s.Messages(conv) {
		want := "read"
		if m.MessageType == "incoming" {
			want = "sent"
		}
		if m.Status != want {
			t.Errorf("message %d (%s) is %s, want %s", m.ID, m.MessageType, m.Status, want)
		}
	}
	if oc, _ := s.Conversation(other); !oc.ContactLastSeenAt.IsZero() {
		t.Error("another conversation marked seen")
	}
	if n := len(s.Deliveries()); n != deliveries {
		t.Errorf("%d webhooks for update_last_seen", n-deliveries)
	}
	clock.Add(60)
	if m := s.AgentReply(conv, "Ann", "Anything else?"); m.Status != "sent" || m.ID == reply.ID {
		t.Errorf("a reply after the receipt: %+v", m)
	}
}
