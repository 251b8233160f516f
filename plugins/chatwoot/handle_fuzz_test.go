package chatwoot

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// FuzzHandleWebhook drives the whole of HandleWebhook, in process, for a
// bot with a webhook_secret (account 1, inbox 1): method, delivery id and
// body are the fuzzer's, and the delivery is signed as Chatwoot signs it —
// with the bot's secret, or with another one when forged is set. It never
// panics; a forged delivery is always refused as unauthorized; a failure
// carries an SDK kind; and what it accepts are events the host can take:
// each with an id (unique in the answer), a session, a conversation and a
// known type, agent messages with content and an agent author.
func FuzzHandleWebhook(f *testing.F) {
	f.Add("POST", "d-1", []byte(`{"event": "conversation_status_changed", "id": 7, "inbox_id": 1, "status": "resolved", "custom_attributes": {"livechat_session_id": "s1", "livechat_bot": "shop"}}`), false)
	const secret = "whsec-fuzz"
	now := time.Unix(1741083330, 0)
	p := New(Options{Now: func() time.Time { return now }, Logger: nopLog{}, HTTPClient: &http.Client{Transport: inboxAPI{}}})
	cfg := Info.Schema.WithDefaults(sdk.Config{"base_url": "http://chatwoot.test", "account_id": "1", "inbox_id": "1",
		"api_access_token": "tok", "webhook_secret": secret})
	if err := p.Configure(context.Background(), "shop", cfg, nil); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, delivery string, body []byte, forged bool) {
		key := secret
		if forged {
			key = "not-" + secret
		}
		ts := strconv.FormatInt(now.Unix(), 10)
		h := map[string][]string{
			"Content-Type":  {"application/json"},
			headerTimestamp: {ts},
			headerSignature: {"sha256=" + sign(key, ts, body)},
		}
		if delivery != "" {
			h[headerDelivery] = []string{delivery}
		}
		res, err := p.HandleWebhook(context.Background(), sdk.WebhookRequest{Bot: "shop", Method: method,
			Path: "/v1/livechat/chatwoot/receive", Header: h, Body: body})
		if forged && method == http.MethodPost && sdk.KindOf(err) != sdk.KindUnauthorized {
			t.Fatalf("a delivery signed with another secret was not refused as unauthorized: %v, %+v", err, res)
		}
		if err != nil {
			if sdk.KindOf(err) == sdk.KindUnknown {
				t.Fatalf("error without a kind: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range res.Events {
			if e.ID == "" || e.SessionID == "" {
				t.Errorf("event without an id or a session: %+v", e)
			}
			if seen[e.ID] {
				t.Errorf("two events with id %q in one answer: the host drops the second as a replay", e.ID)
			}
			seen[e.ID] = true
			if n, err := strconv.ParseInt(e.Ref, 10, 64); err != nil || n <= 0 {
				t.Errorf("event ref %q is not a conversation id", e.Ref)
			}
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
	})
}

// sign is X-Chatwoot-Signature's digest, as Chatwoot computes it.
func sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// inboxAPI answers Configure's look-up of inbox 1 as Chatwoot does, and
// anything else with Chatwoot's 404.
type inboxAPI struct{}

func (inboxAPI) RoundTrip(r *http.Request) (*http.Response, error) {
	status, body := http.StatusNotFound, `{"error": "Resource could not be found"}`
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/api/v1/accounts/1/inboxes/1") {
		status, body = http.StatusOK, `{"id": 1, "name": "livechat", "channel_type": "Channel::Api"}`
	}
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

type nopLog struct{}

func (nopLog) Debug(string, ...any) {}
func (nopLog) Info(string, ...any)  {}
func (nopLog) Warn(string, ...any)  {}
