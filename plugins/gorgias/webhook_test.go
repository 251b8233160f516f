package gorgias

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/sdk"
)

const receivePath = "/v1/livechat/gorgias/receive"

// seedGET is the request Gorgias makes for the seed URL (WebhookQuery)
// with vars filled in as Gorgias does: unencoded, so a text with & or #
// in it breaks the query the way it would on the wire. The host has taken
// its token out.
func seedGET(vars map[string]string) sdk.WebhookRequest {
	raw := WebhookQuery
	for k, v := range vars {
		raw = strings.ReplaceAll(raw, "{{"+k+"}}", v)
	}
	raw, _, _ = strings.Cut(raw, "#") // the rest is a fragment: never sent
	q, _ := url.ParseQuery(raw)
	return sdk.WebhookRequest{Bot: "shop", Method: http.MethodGet, Path: receivePath, Query: q}
}

// agentVars are the seed URL's variables for message id of ticket 5001.
func agentVars(messageID, text, fromAgent string) map[string]string {
	return map[string]string{
		"ticket.external_id": "s1", "ticket.id": "5001", "event.type": "ticket-message-created", "event.id": "9001",
		"event.object_id": messageID, "message.body_text": text, "message.from_agent": fromAgent,
	}
}

func postFile(t *testing.T, name string) sdk.WebhookRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "webhook", name))
	if err != nil {
		t.Fatal(err)
	}
	return postBody(string(b), "application/json")
}

func postBody(body, contentType string) sdk.WebhookRequest {
	return sdk.WebhookRequest{Bot: "shop", Method: http.MethodPost, Path: receivePath, Body: []byte(body),
		Header: map[string][]string{"Content-Type": {contentType}}}
}

// webhookFake is a Gorgias with livechat ticket 5001 (session s1), a
// helpdesk ticket 5002, and messages of every kind on 5001.
func webhookFake(t *testing.T) *fakeGorgias {
	f := newFake(t)
	f.addTicket(map[string]any{"id": int64(5001), "external_id": "s1", "customer": map[string]any{"id": 4001}})
	f.addTicket(map[string]any{"id": int64(5002)})
	alice := map[string]any{"id": 7, "email": "alice@acme.test", "name": "Alice Agent", "firstname": "Alice", "lastname": "Agent"}
	for _, m := range []map[string]any{
		{"id": int64(6001), "sender": alice, "body_text": "Your parcel left today.\n\n--\nAlice Agent, Acme support",
			"stripped_text": "Your parcel left today.", "created_datetime": "2024-02-14T21:49:40.308988+00:00"},
		{"id": int64(6002), "sender": alice, "public": false, "channel": "internal-note", "body_text": "Customer is a known fraudster, careful."},
		{"id": int64(6003), "from_agent": false, "via": "api", "sender": map[string]any{"id": 4001, "email": "jane@example.com"}, "body_text": "where is my order? &from_agent=True"},
		{"id": int64(6005), "sender": alice, "channel": "internal-note", "body_text": "a note marked public"},
		{"id": int64(6006), "sender": map[string]any{"id": 8, "firstname": "Bob", "lastname": "Helper"},
			"body_text": "Glad I could help!\nLIVECHAT_SESSION_END", "stripped_text": "Glad I could help!"},
		{"id": int64(6007), "sender": alice, "body_text": "", "body_html": "<p>Hello <b>there</b> &amp; bye</p>"},
		{"id": int64(6008), "sender": alice, "body_text": "Fish & chips: 5€ #deal, ok?", "stripped_text": "Fish & chips: 5€ #deal, ok?"},
	} {
		f.addMessageTo(5001, m)
	}
	return f
}

func agentEvent(id, messageID, text, name, authorID string, at time.Time) sdk.Event {
	m := sdk.Text(text)
	m.ID, m.Author, m.Time = messageID, sdk.Author{Type: sdk.AuthorAgent, Name: name, ID: authorID}, at
	return sdk.Event{ID: id, Type: sdk.EventAgentMessage, SessionID: "s1", Ref: "5001", Message: m}
}

func TestHandleWebhook(t *testing.T) {
	created := time.Date(2024, 2, 14, 21, 49, 40, 308988000, time.UTC)
	fetched := agentEvent("gorgias-message-6001", "6001", "Your parcel left today.", "Alice Agent", "7", created)
	fromTemplate := agentEvent("gorgias-message-6001", "6001", "Your parcel left today.", "", "", time.Time{})
	tests := []struct {
		name      string
		req       func(t *testing.T) sdk.WebhookRequest
		want      []sdk.Event
		wantFetch int
		wantErr   sdk.ErrorKind
	}{
		// (a) the seed's GET URL
		{name: "seed GET, from_agent True", req: func(*testing.T) sdk.WebhookRequest {
			return seedGET(agentVars("6001", "Your parcel left today.\n\n--\nAlice Agent, Acme support", "True"))
		}, want: []sdk.Event{fetched}, wantFetch: 1},
		{name: "seed GET, from_agent true", req: func(*testing.T) sdk.WebhookRequest {
			return seedGET(agentVars("6001", "Your parcel", "true"))
		}, want: []sdk.Event{fetched}, wantFetch: 1},
		{name: "seed GET, from_agent 1", req: func(*testing.T) sdk.WebhookRequest { return seedGET(agentVars("6001", "x", "1")) },
			want: []sdk.Event{fetched}, wantFetch: 1},
		{name: "echo of our customer message, False", req: func(*testing.T) sdk.WebhookRequest {
			return seedGET(agentVars("6003", "where is my order?", "False"))
		}},
		{name: "echo of our customer message, false", req: func(*testing.T) sdk.WebhookRequest {
			return seedGET(agentVars("6003", "where is my order?", "false"))
		}},
		{name: "echo smuggling from_agent=True in its text", req: func(*testing.T) sdk.WebhookRequest {
			return seedGET(agentVars("6003", "where is my order? &from_agent=True", "False"))
		}, wantFetch: 1},
		{name: "internal note: the fetched message is not public", req: func(*testing.T) sdk.WebhookRequest {
			return seedGET(agentVars("6002", "Customer is a known fraudster, careful.", "True"))
		}, wantFetch: 1},
		{name: "internal-note channel", req: func(*testing.T) sdk.WebhookRequest { return seedGET(agentVars("6005", "a note", "True")) },
			wantFetch: 1},
		{name: "text cut short by & and #: the fetched text wins", req: func(*testing.T) sdk.WebhookRequest {
			return seedGET(agentVars("6008", "Fish & chips: 5€ #deal, ok?", "True"))
		}, want: []sdk.Event{agentEvent("gorgias-message-6008", "6008", "Fish & chips: 5€ #deal, ok?", "Alice Agent", "7", time.Time{})}, wantFetch: 1},
		{name: "sign-off kept though stripped_text lost it", req: func(*testing.T) sdk.WebhookRequest {
			return seedGET(agentVars("6006", "Glad I could help!\nLIVECHAT_SESSION_END", "True"))
		}, want: []sdk.Event{agentEvent("gorgias-message-6006", "6006", "Glad I could help!\nLIVECHAT_SESSION_END", "Bob Helper", "8", time.Time{})}, wantFetch: 1},
		{name: "HTML-only message", req: func(*testing.T) sdk.WebhookRequest { return seedGET(agentVars("6007", "", "True")) },
			want: []sdk.Event{agentEvent("gorgias-message-6007", "6007", "Hello there & bye", "Alice Agent", "7", time.Time{})}, wantFetch: 1},
		{name: "message deleted since", req: func(*testing.T) sdk.WebhookRequest { return seedGET(agentVars("6999", "gone", "True")) },
			wantFetch: 1},
		{name: "no event id: the message id names the event", req: func(*testing.T) sdk.WebhookRequest {
			r := seedGET(agentVars("6001", "x", "True"))
			delete(r.Query, "event_id")
			return r
		}, want: []sdk.Event{fetched}, wantFetch: 1},
		{name: "not a livechat ticket: empty external_id", req: func(*testing.T) sdk.WebhookRequest {
			v := agentVars("6001", "x", "True")
			v["ticket.external_id"], v["ticket.id"] = "", "5002"
			return seedGET(v)
		}},
		{name: "not a livechat ticket: None", req: func(*testing.T) sdk.WebhookRequest {
			v := agentVars("6001", "x", "True")
			v["ticket.external_id"], v["ticket.id"] = "None", "5002"
			return seedGET(v)
		}},
		{name: "form fields", req: func(*testing.T) sdk.WebhookRequest {
			return postBody("external_id=s1&ticket_id=5001&event_id=9001&message_id=6001&from_agent=True&text=Your+parcel", "application/x-www-form-urlencoded")
		}, want: []sdk.Event{fetched}, wantFetch: 1},

		// (b) the POST JSON template
		{name: "template, quoted", req: func(t *testing.T) sdk.WebhookRequest { return postFile(t, "message-template.json") },
			want: []sdk.Event{fromTemplate}},
		{name: "template, unquoted booleans and numbers", req: func(t *testing.T) sdk.WebhookRequest { return postFile(t, "message-template-unquoted.json") },
			want: []sdk.Event{fromTemplate}},
		{name: "template, internal note", req: func(t *testing.T) sdk.WebhookRequest { return postFile(t, "message-template-note.json") }},
		{name: "template, echo", req: func(t *testing.T) sdk.WebhookRequest { return postFile(t, "message-template-echo.json") }},
		{name: "template, not a livechat ticket", req: func(t *testing.T) sdk.WebhookRequest { return postFile(t, "message-template-not-livechat.json") }},
		{name: "template broken by an unescaped text: fetched", req: func(t *testing.T) sdk.WebhookRequest { return postFile(t, "message-template-unescaped.json") },
			want: []sdk.Event{fetched}, wantFetch: 1},
		{name: "template without public or channel: fetched", req: func(*testing.T) sdk.WebhookRequest {
			return postBody(`{"event": {"id": "9001"}, "ticket": {"id": "5001", "external_id": "s1"}, "message": {"id": "6001", "from_agent": "True", "body_text": "hi"}}`, "application/json")
		}, want: []sdk.Event{fetched}, wantFetch: 1},
		{name: "full objects, with attachments", req: func(t *testing.T) sdk.WebhookRequest { return postFile(t, "message-full-objects.json") },
			want: []sdk.Event{
				agentEvent("gorgias-message-6001", "6001", "Here is the label.", "Alice Agent", "7", created),
				{ID: "gorgias-message-6001-attachment-0", Type: sdk.EventAgentMessage, SessionID: "s1", Ref: "5001", Message: sdk.Message{
					ID: "6001", ContentType: "image", Content: map[string]any{"url": "https://uploads.gorgias.io/label.png", "name": "label.png", "mime": "image/png", "size": int64(1200)},
					Attachment: &sdk.Attachment{URL: "https://uploads.gorgias.io/label.png", Name: "label.png", MIME: "image/png", Size: 1200},
					Author:     sdk.Author{Type: sdk.AuthorAgent, Name: "Alice Agent", ID: "7"}, Time: created}},
			}},

		// (c) the status integration
		{name: "status closed", req: func(t *testing.T) sdk.WebhookRequest { return postFile(t, "status-closed.json") },
			want: []sdk.Event{{ID: "gorgias-9100", Type: sdk.EventSessionClosed, SessionID: "s1", Ref: "5001"}}},
		{name: "status open", req: func(t *testing.T) sdk.WebhookRequest { return postFile(t, "status-open.json") }},
		{name: "status of a ticket that is not a livechat", req: func(t *testing.T) sdk.WebhookRequest { return postFile(t, "status-not-livechat.json") }},
		{name: "status closed as GET", req: func(*testing.T) sdk.WebhookRequest {
			return sdk.WebhookRequest{Method: http.MethodGet, Bot: "shop", Query: map[string][]string{"ticket_id": {"5001"}, "external_id": {"s1"}, "status": {"closed"}}}
		}, want: []sdk.Event{{ID: "gorgias-closed-5001", Type: sdk.EventSessionClosed, SessionID: "s1", Ref: "5001"}}},

		// malformed
		{name: "empty", req: func(*testing.T) sdk.WebhookRequest { return sdk.WebhookRequest{Bot: "shop", Method: http.MethodPost} }, wantErr: sdk.KindInvalid},
		{name: "not JSON", req: func(*testing.T) sdk.WebhookRequest { return postBody("hello", "text/plain") }, wantErr: sdk.KindInvalid},
		{name: "a JSON array", req: func(*testing.T) sdk.WebhookRequest { return postBody(`[1, 2]`, "application/json") }, wantErr: sdk.KindInvalid},
		{name: "an empty object", req: func(*testing.T) sdk.WebhookRequest { return postBody(`{}`, "application/json") }, wantErr: sdk.KindInvalid},
		{name: "truncated JSON", req: func(*testing.T) sdk.WebhookRequest { return postBody(`{"ticket": {"id": "5001"`, "application/json") }, wantErr: sdk.KindInvalid},
		{name: "unrendered template", req: func(*testing.T) sdk.WebhookRequest { return seedGET(map[string]string{}) }, wantErr: sdk.KindInvalid},
		{name: "ticket id not a number", req: func(*testing.T) sdk.WebhookRequest {
			v := agentVars("6001", "x", "True")
			v["ticket.id"] = "abc"
			return seedGET(v)
		}, wantErr: sdk.KindInvalid},
		{name: "agent message without ids to fetch it", req: func(*testing.T) sdk.WebhookRequest {
			return sdk.WebhookRequest{Method: http.MethodGet, Bot: "shop", Query: map[string][]string{"external_id": {"s1"}, "text": {"hi"}, "from_agent": {"True"}}}
		}, wantErr: sdk.KindInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := webhookFake(t)
			p, _ := testProvider(t, f, nil)
			f.reset()
			res, err := p.HandleWebhook(context.Background(), tc.req(t))
			checkKind(t, err, tc.wantErr)
			if err != nil {
				return
			}
			if diff := cmp.Diff(tc.want, res.Events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if res.Status != http.StatusOK || string(res.Body) != `{"ok":true}` {
				t.Errorf("answer %d %s", res.Status, res.Body)
			}
			fetches := 0
			for _, c := range f.Calls() {
				if strings.HasPrefix(c, "GET /api/tickets/5001/messages/") {
					fetches++
				} else {
					t.Errorf("unexpected call %s", c)
				}
			}
			if fetches != tc.wantFetch {
				t.Errorf("%d message fetches, want %d", fetches, tc.wantFetch)
			}
		})
	}
}

func TestHandleWebhookFetchFailures(t *testing.T) {
	f := webhookFake(t)
	f.intercept = func(w http.ResponseWriter, r *http.Request, c call) bool {
		apiError(w, http.StatusServiceUnavailable, "An external service had an issue.")
		return true
	}
	p, _ := testProvider(t, f, nil)
	_, err := p.HandleWebhook(context.Background(), seedGET(agentVars("6001", "x", "True")))
	checkKind(t, err, sdk.KindUnavailable) // the host answers 5xx: Gorgias tries again

	_, err = New(WithLogger(discard{})).HandleWebhook(context.Background(), seedGET(agentVars("6001", "x", "True")))
	checkKind(t, err, sdk.KindNotFound) // no such bot
}

func TestInfoWebhooks(t *testing.T) {
	want := "external_id={{ticket.external_id}}&ticket_id={{ticket.id}}&event_type={{event.type}}&event_id={{event.id}}&message_id={{event.object_id}}&text={{message.body_text}}&from_agent={{message.from_agent}}"
	if len(Info.Webhooks) != 3 {
		t.Fatalf("%d webhooks", len(Info.Webhooks))
	}
	if a := Info.Webhooks[2]; a.Name != "assignment" || a.Method != "POST" || !a.Optional || !cmp.Equal(a.Triggers, []string{"ticket-assignment-updated"}) {
		t.Errorf("assignment webhook %+v", a)
	}
	m, s := Info.Webhooks[0], Info.Webhooks[1]
	if m.Name != "messages" || m.Method != "GET" || m.Query != want || m.Optional || !cmp.Equal(m.Triggers, []string{"ticket-message-created"}) {
		t.Errorf("messages webhook %+v", m)
	}
	if s.Name != "status" || s.Method != "POST" || !s.Optional || !cmp.Equal(s.Triggers, []string{"ticket-status-updated"}) {
		t.Errorf("status webhook %+v", s)
	}
	// The templates, rendered as Gorgias would, are what HandleWebhook reads.
	for name, tmpl := range map[string]string{"message": MessageTemplate, "status": StatusTemplate, "assignment": AssignmentTemplate} {
		r := strings.NewReplacer("{{event.id}}", "1", "{{event.type}}", "t", "{{event.object_id}}", "2", "{{ticket.id}}", "3",
			"{{ticket.external_id}}", "s", "{{ticket.status}}", "closed", "{{message.id}}", "2", "{{message.from_agent}}", "True",
			"{{message.public}}", "True", "{{message.channel}}", "api", "{{message.body_text}}", "hi", "{{message.sender.email}}", "a@b.c",
			"{{ticket.assignee_user_id}}", "7")
		var v map[string]any
		if err := json.Unmarshal([]byte(r.Replace(tmpl)), &v); err != nil {
			t.Errorf("%s template does not render to JSON: %v", name, err)
		}
	}
}

// FuzzParseWebhook feeds the parser anything: it must never panic, and
// whatever it accepts must plan without panicking either.
func FuzzParseWebhook(f *testing.F) {
	entries, _ := os.ReadDir(filepath.Join("testdata", "webhook"))
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join("testdata", "webhook", e.Name()))
		f.Add("POST", "", b)
	}
	f.Add("GET", "external_id=s1&ticket_id=5001&event_type=ticket-message-created&event_id=9&message_id=6&text=a&b&from_agent=True&from_agent=False", []byte(nil))
	f.Add("GET", "external_id={{ticket.external_id}}&ticket_id=%zz", []byte(nil))
	f.Add("POST", "", []byte(`ticket_id=1&external_id=x&status=closed`))
	f.Add("POST", "", []byte(`{"message": {"sender": "nobody", "attachments": [1, {"url": 5}]}, "ticket": {"id": 1.5e300, "external_id": {}}}`))
	f.Add("POST", "", []byte(`{"event": {"id": "1"}, "message": {"id": "2", "body_text": "broken "json", "ticket": 3}`))
	f.Fuzz(func(t *testing.T, method, query string, body []byte) {
		q, _ := url.ParseQuery(query)
		h, err := parseWebhook(sdk.WebhookRequest{Method: method, Query: q, Body: body})
		if err != nil {
			return
		}
		events, _, err := h.plan()
		if err != nil {
			return
		}
		for _, e := range events {
			if e.SessionID == "" {
				t.Errorf("event without a session: %+v", e)
			}
		}
		var m message
		if json.Unmarshal(body, &m) == nil {
			for _, e := range h.withMessage(m) {
				if e.SessionID == "" {
					t.Errorf("event without a session: %+v", e)
				}
			}
		}
	})
}

// Gorgias can send one agent message again under a new event id (a
// retried delivery, a second integration, the JSON template beside the
// seed URL): the host deduplicates by event id, so every request about one
// message must give its events the same ids, whatever the event id.
func TestAgentMessageResentUnderNewEventID(t *testing.T) {
	f := webhookFake(t)
	p, _ := testProvider(t, f, nil)
	resent := func(eventID string) sdk.WebhookRequest {
		v := agentVars("6001", "Your parcel left today.", "True")
		v["event.id"] = eventID
		return seedGET(v)
	}
	template := func(eventID string) sdk.WebhookRequest {
		return postBody(`{"event": {"id": "`+eventID+`", "type": "ticket-message-created", "object_id": "6001"},
			"ticket": {"id": "5001", "external_id": "s1"},
			"message": {"id": "6001", "from_agent": "True", "public": "True", "channel": "api", "body_text": "Your parcel left today."}}`, "application/json")
	}
	full := postFile(t, "message-full-objects.json") // message 6001 with an attachment, no event id
	var ids [][]string
	for _, req := range []sdk.WebhookRequest{resent("9001"), resent("9002"), template("9003"), template("9004"), full} {
		res, err := p.HandleWebhook(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range res.Events {
			got = append(got, ev.ID)
		}
		ids = append(ids, got)
	}
	want := []string{"gorgias-message-6001"}
	for i, got := range ids[:4] {
		if !cmp.Equal(got, want) {
			t.Errorf("request %d: event ids %q, want %q: one message, one id", i, got, want)
		}
	}
	if got := ids[4]; !cmp.Equal(got, []string{"gorgias-message-6001", "gorgias-message-6001-attachment-0"}) {
		t.Errorf("full objects: event ids %q", got)
	}
}
