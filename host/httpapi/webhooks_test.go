package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/pluginhost"
)

// The engine is told which plugin pushed, so it refuses a push naming a
// session of another provider (engine.PushEventsAs).
var _ pluginhost.ProviderHost = (*engine.Engine)(nil)

// Gorgias fires every HTTP integration of an account for every ticket, and
// disables an integration after 100 failed answers in a row: with two bots
// on one account, each bot's webhook sees the other bot's tickets. A webhook
// with the right token that names another bot's session, an unknown session
// or a ticket that is not the session's is answered 200 and ignored (logged
// and counted), never 4xx; the same platform event is still applied by the
// bot it belongs to.
func TestWebhooksForOtherBotsAreIgnored(t *testing.T) {
	s := newStack(t, stackOptions{provider: "recorder", config: map[string]any{"ack": false}})
	shopStart := s.click("u1", "LIVECHAT_SESSION_START")
	sid, _ := shopStart.livechat()
	s.waitDone("start:" + sid)
	otherStart := s.postJSON("/v1/bots/other/events", map[string]any{"client": map[string]any{"user_id": "u9"},
		"payload": map[string]any{"content_type": "payload", "content": map[string]any{"payload": "LIVECHAT_SESSION_START"}}})
	otherID, _ := otherStart.livechat()
	if sid == "" || otherID == "" {
		t.Fatalf("sessions not started: shop %s, other %s", shopStart.Raw, otherStart.Raw)
	}
	s.waitDone("start:" + otherID)

	hook := func(token, event string, q url.Values) response {
		t.Helper()
		q.Set("token", token)
		q.Set("event_id", event)
		q.Set("agent", "Ann")
		return s.webhook(q)
	}
	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"another bot's session", url.Values{"session_id": {otherID}, "text": {"for other, by session"}}},
		{"another bot's ticket", url.Values{"ref": {"T-" + otherID}, "text": {"for other, by ticket"}}},
		{"another bot's session and ticket", url.Values{"session_id": {otherID}, "ref": {"T-" + otherID}, "text": {"for other, by both"}}},
		{"unknown session", url.Values{"session_id": {"nope"}, "text": {"for nobody"}}},
		{"unknown ticket", url.Values{"ref": {"T-nope"}, "text": {"for no ticket"}}},
		{"another session's ticket", url.Values{"session_id": {sid}, "ref": {"T-" + otherID}, "text": {"mismatch"}}},
		{"closed for another bot's ticket", url.Values{"ref": {"T-" + otherID}, "type": {"closed"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := hook(webhookToken, "ev-"+strings.ReplaceAll(tc.name, " ", "-"), tc.q)
			if r.Status != http.StatusOK {
				t.Errorf("got %d %s, want 200: the webhook is authenticated, its event is not this bot's", r.Status, r.Raw)
			}
			if r.Body["ignored"] != float64(1) || r.Body["applied"] != float64(0) {
				t.Errorf("body = %s, want 1 event ignored, none applied", r.Raw)
			}
		})
	}
	// The same platform event, through the other bot's integration, is the
	// other bot's: delivered (an ignored event is not remembered as seen).
	if r := hook("other-webhook-token", "ev-another-bot's-session", url.Values{"session_id": {otherID}, "text": {"for other"}}); r.Status != http.StatusOK {
		t.Fatalf("the other bot's own webhook: %d %s", r.Status, r.Raw)
	}
	if r := hook(webhookToken, "ev-mine", url.Values{"session_id": {sid}, "ref": {"T-" + sid}, "text": {"for shop"}}); r.Status != http.StatusOK {
		t.Fatalf("shop's own webhook: %d %s", r.Status, r.Raw)
	}
	got := s.channel.WaitTexts(t, 2)
	slices.Sort(got)
	if !slices.Equal(got, []string{"for other", "for shop"}) {
		t.Errorf("channel = %q, want each bot's own message once and nothing of the ignored webhooks", got)
	}
	if st := s.session(otherID)["state"]; st != "active" {
		t.Errorf("the other bot's session is %v: a close through shop's webhook was applied", st)
	}
	if m := s.do(http.MethodGet, "/metrics", nil, nil).Raw; !strings.Contains(m, `livechat_webhooks_total{provider="recorder",result="ignored"} 7`) {
		t.Errorf("metrics lack 7 ignored webhooks:\n%s", grepLines(m, "livechat_webhooks_total"))
	}
	// A wrong token is still refused.
	if r := hook("guess", "ev-x", url.Values{"session_id": {sid}, "text": {"x"}}); r.Status != http.StatusUnauthorized {
		t.Errorf("wrong token: %d %s, want 401", r.Status, r.Raw)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
