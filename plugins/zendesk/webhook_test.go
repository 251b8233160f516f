package zendesk

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/webhook"
)

func zdTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestZendeskParseWebhook(t *testing.T) {
	for _, tc := range []struct {
		file, bot string
		want      []sdk.Event
	}{
		{"comment_added_agent.json", "shop", []sdk.Event{{ID: "comment:360000000123", Type: sdk.EventAgentMessage, SessionID: "S1", Ref: "42",
			Message: func() sdk.Message {
				m := sdk.Text("Hi Jane, I'm Ann. Let me check your order.")
				m.Author = sdk.Author{Type: sdk.AuthorAgent, Name: "Ann"}
				return m
			}()}}},
		{"comment_added_agent.json", "other-bot", nil},   // another bot's session
		{"comment_added_requester.json", "shop", nil},    // the plugin's own post, echoed
		{"comment_added_private_note.json", "shop", nil}, // for agents only
		{"comment_added_other_ticket.json", "shop", nil}, // not a livechat ticket
		{"status_changed_solved.json", "shop", []sdk.Event{{ID: "solved:42", Type: sdk.EventSessionClosed, SessionID: "S1", Ref: "42"}}},
	} {
		got, err := parseWebhook(tc.bot, zdTestdata(t, tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s for %s: %d events %+v, want %+v", tc.file, tc.bot, len(got), got, tc.want)
			continue
		}
		for i := range got {
			g, w := got[i], tc.want[i]
			if g.ID != w.ID || g.Type != w.Type || g.SessionID != w.SessionID || g.Ref != w.Ref ||
				g.Message.PlainText() != w.Message.PlainText() || g.Message.Author != w.Message.Author {
				t.Errorf("%s: event %+v, want %+v", tc.file, g, w)
			}
		}
	}
}

func TestZendeskParseWebhookShapes(t *testing.T) {
	// Numbers where the docs show strings, the ticket only in subject,
	// statuses in lower case, other statuses, other event types.
	for _, tc := range []struct {
		body string
		want string // event ids, comma-separated
	}{
		{`{"type":"zen:event-type:ticket.comment_added","subject":"zen:ticket:7","detail":{"external_id":"livechat:shop:S","requester_id":5},"event":{"comment":{"id":99,"body":"x","is_public":true,"author":{"id":6,"is_staff":true}}}}`, "comment:99"},
		{`{"type":"zen:event-type:ticket.comment_added","detail":{"id":"7","external_id":"livechat:shop:S","requester_id":"5"},"event":{"comment":{"id":"99","body":"x","is_public":"true","author":{"id":"5","is_staff":"true"}}}}`, ""},
		{`{"type":"zen:event-type:ticket.comment_added","detail":{"id":"7","external_id":"livechat:shop:S","requester_id":"5"},"event":{"comment":{"id":"99","body":"x","is_public":true,"author":{"id":"6","is_staff":false}}}}`, ""},
		{`{"type":"zen:event-type:ticket.status_changed","detail":{"id":"7","external_id":"livechat:shop:S"},"event":{"current":"closed","previous":"solved"}}`, "solved:7"},
		{`{"type":"zen:event-type:ticket.status_changed","detail":{"id":"7","external_id":"livechat:shop:S"},"event":{"current":"PENDING","previous":"OPEN"}}`, ""},
		{`{"type":"zen:event-type:ticket.tags_changed","detail":{"id":"7","external_id":"livechat:shop:S"},"event":{}}`, ""},
		{`{"type":"zen:event-type:user.created","detail":{"id":"7"}}`, ""},
		{`{"type":"zen:event-type:ticket.comment_added","detail":{"id":"7","external_id":"livechat:shop:"},"event":{"comment":{"id":"99","is_public":true,"author":{"id":"6","is_staff":true}}}}`, ""},
		{`{"type":"zen:event-type:ticket.comment_added","detail":{"id":"7","external_id":"livechat:shop:S","requester_id":"5"},"event":{"comment":{"id":"99","body":" ","is_public":true,"author":{"id":"6","is_staff":true}}}}`, ""},
		{`{}`, ""},
	} {
		got, err := parseWebhook("shop", []byte(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		var ids []string
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		if strings.Join(ids, ",") != tc.want {
			t.Errorf("%s: events %q, want %q", tc.body, ids, tc.want)
		}
	}
	for _, bad := range []string{``, `[`, `{"detail":{"id":"x1"}}`, `{"event":{"comment":{"is_public":"maybe"}}}`} {
		if _, err := parseWebhook("shop", []byte(bad)); !errors.Is(err, errNotJSON) {
			t.Errorf("%q: err %v, want errNotJSON", bad, err)
		}
	}
}

// zdSigned is a webhook request signed at ts with secret.
func zdSigned(secret string, at time.Time, body []byte) sdk.WebhookRequest {
	ts := webhook.Zendesk.Timestamp(at)
	return sdk.WebhookRequest{Bot: "shop", Method: "POST", Path: "/v1/livechat/zendesk/receive", Body: body, Header: map[string][]string{
		"X-Zendesk-Webhook-Signature-Timestamp": {ts},
		"X-Zendesk-Webhook-Signature":           {webhook.Zendesk.Sign(secret, ts, body)},
		"Content-Type":                          {"application/json"},
	}}
}

func TestZendeskHandleWebhookSignature(t *testing.T) {
	now := time.Date(2026, 11, 29, 15, 0, 0, 0, time.UTC)
	p := New(Options{Now: func() time.Time { return now }})
	cfg := sdk.Config{"subdomain": "acme", "email": "ops@acme.com", "api_token": "tok-secret-1", "webhook_secret": "whsec-zd-1", "timestamp_tolerance": "5m", "solve_on_end": true}
	if err := p.Configure(context.Background(), "shop", cfg, nil); err != nil {
		t.Fatal(err)
	}
	body := zdTestdata(t, "comment_added_agent.json")
	res, err := p.HandleWebhook(context.Background(), zdSigned("whsec-zd-1", now.Add(-time.Minute), body))
	if err != nil || len(res.Events) != 1 || res.Events[0].ID != "comment:360000000123" {
		t.Fatalf("signed right: %+v, %v", res, err)
	}
	unsigned := zdSigned("whsec-zd-1", now, body)
	delete(unsigned.Header, "X-Zendesk-Webhook-Signature")
	tampered := zdSigned("whsec-zd-1", now, body)
	tampered.Body = bytes.Replace(body, []byte("Let me check"), []byte("Send me your password"), 1)
	for what, req := range map[string]sdk.WebhookRequest{
		"forged":   zdSigned("not-the-secret", now, body),
		"stale":    zdSigned("whsec-zd-1", now.Add(-6*time.Minute), body),
		"future":   zdSigned("whsec-zd-1", now.Add(6*time.Minute), body),
		"unsigned": unsigned,
		"tampered": tampered,
	} {
		_, err := p.HandleWebhook(context.Background(), req)
		if sdk.KindOf(err) != sdk.KindUnauthorized {
			t.Errorf("%s: %v, want Unauthorized", what, err)
		}
		if err != nil && strings.Contains(err.Error(), "whsec-zd-1") {
			t.Errorf("%s: the error shows the secret: %v", what, err)
		}
	}
	// Signed right, but not JSON: refused for good (Zendesk does not retry
	// a 4xx other than 409 and 429).
	_, err = p.HandleWebhook(context.Background(), zdSigned("whsec-zd-1", now, []byte("not json")))
	if ok, _ := sdk.IsRetryable(err); err == nil || ok || sdk.KindOf(err) == sdk.KindUnauthorized {
		t.Errorf("garbage: %v, want a permanent error", err)
	}
	if _, err := p.HandleWebhook(context.Background(), sdk.WebhookRequest{Bot: "nobody", Body: body}); sdk.KindOf(err) != sdk.KindNotFound {
		t.Errorf("unknown bot: %v", err)
	}
}
