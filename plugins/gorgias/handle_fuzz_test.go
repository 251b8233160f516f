package gorgias

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/livechatd/livechatd/sdk"
)

// FuzzHandleWebhook drives the whole of HandleWebhook, in process, with
// whatever a Gorgias integration (or anyone holding its URL: the host has
// checked the token by then) sends — method, query and body — and whatever
// the Gorgias API answers when the plugin fetches the message. It never
// panics; a failure carries an SDK kind (so the host knows whether to
// retry); and what it accepts is a 200 whose events the host can take:
// each with an id (unique in the answer), a session and a known type, agent
// messages with content and an agent author, and none at all from a
// fetched message that Gorgias says is not an agent's public one.
func FuzzHandleWebhook(f *testing.F) {
	f.Add("GET", "external_id=s1&ticket_id=5001&event_type=ticket-message-created&event_id=9001&message_id=6001&text=hi&from_agent=True", []byte(nil),
		[]byte(`{"id": 6001, "ticket_id": 5001, "public": true, "channel": "api", "from_agent": true, "sender": {"id": 7, "name": "Ann"}, "body_text": "hi"}`))
	clk := newClock()
	var api atomic.Value // []byte: the API's answer to a message fetch
	var fetched atomic.Bool
	transport := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		fetched.Store(true)
		status, body := http.StatusOK, api.Load().([]byte)
		if !strings.Contains(r.URL.Path, "/messages/") || r.Method != http.MethodGet {
			status, body = http.StatusNotFound, []byte(`{"error": {"msg": "Not found"}}`)
		}
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
	})
	p := New(WithHTTPClient(&http.Client{Transport: transport}), WithClock(clk.Now, clk.Sleep), WithLogger(discard{}))
	if err := p.Configure(context.Background(), "shop", sdk.Config{"base_url": "http://gorgias.test/api/", "email": testEmail, "api_key": testKey}, nil); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, query string, body, apiMessage []byte) {
		q, _ := url.ParseQuery(query)
		api.Store(apiMessage)
		fetched.Store(false)
		res, err := p.HandleWebhook(context.Background(), sdk.WebhookRequest{Bot: "shop", Method: method, Path: "/v1/livechat/gorgias/receive",
			Query: q, Header: map[string][]string{"Content-Type": {"application/json"}}, Body: body})
		if err != nil {
			if sdk.KindOf(err) == sdk.KindUnknown {
				t.Fatalf("error without a kind: %v", err)
			}
			return
		}
		if res.Status != http.StatusOK {
			t.Errorf("status %d", res.Status)
		}
		checkEvents(t, res.Events)
		if fetched.Load() && len(res.Events) > 0 {
			var m message
			if json.Unmarshal(apiMessage, &m) == nil && (m.FromAgent != yes || m.Public == no || strings.EqualFold(string(m.Channel), "internal-note")) {
				t.Errorf("events from a message Gorgias says is not an agent's public one (%s): %+v", apiMessage, res.Events)
			}
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// checkEvents: what the host refuses or cannot tell apart is a bug here.
func checkEvents(t *testing.T, events []sdk.Event) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range events {
		if e.ID == "" || e.SessionID == "" {
			t.Errorf("event without an id or a session: %+v", e)
		}
		if seen[e.ID] {
			t.Errorf("two events with id %q in one answer: the host drops the second as a replay", e.ID)
		}
		seen[e.ID] = true
		switch e.Type {
		case sdk.EventAgentMessage:
			if e.Message.ContentType == "" || e.Message.Author.Type != sdk.AuthorAgent {
				t.Errorf("agent message %+v", e.Message)
			}
		case sdk.EventSessionClosed:
		default:
			t.Errorf("event type %q", e.Type)
		}
	}
}
