package chatwoot_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
	"github.com/livechatd/livechatd/sdk"
)

// payload reads testdata/name and applies edit to it.
func payload(t *testing.T, name string, edit func(m map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return b
}

func conv(m map[string]any) map[string]any { return m["conversation"].(map[string]any) }

func attrs(m map[string]any) map[string]any { return m["custom_attributes"].(map[string]any) }

func TestWebhookEvents(t *testing.T) {
	e := newEnv(t, fake.Options{}) // bot "shop", account 1, inbox 1
	// The fixtures are Chatwoot's bodies (../shared/providers/chatwoot-payloads):
	// created_at 2026-01-19T10:15:30.123Z, kept to the second; the agent
	// named by sender.name (User#webhook_data has no available_name).
	created := time.Date(2026, 1, 19, 10, 15, 30, 0, time.UTC)
	agent := func(id, text string) sdk.Message {
		m := sdk.Text(text)
		m.ID, m.Time, m.Author = id, created, sdk.Author{Type: sdk.AuthorAgent, Name: "Ann Agent", ID: "3"}
		return m
	}
	reply := sdk.Event{ID: "message:101", Type: sdk.EventAgentMessage, SessionID: "sess-1", Ref: "7", Message: agent("101", "Hello Jane, I'm Ann. How can I help?")}
	const msg, status = "message_created_outgoing.json", "conversation_status_changed.json"
	for _, tc := range []struct {
		name string
		file string
		edit func(m map[string]any)
		want []sdk.Event
	}{
		{"agent reply", msg, nil, []sdk.Event{reply}},
		{"message_type as the API's number", msg, func(m map[string]any) { m["message_type"] = 1 }, []sdk.Event{reply}},
		{"an available_name is not the name", msg, func(m map[string]any) { m["sender"].(map[string]any)["available_name"] = "Ann" }, []sdk.Event{reply}},
		{"a sender without a name", msg, func(m map[string]any) { delete(m["sender"].(map[string]any), "name") },
			[]sdk.Event{{ID: "message:101", Type: sdk.EventAgentMessage, SessionID: "sess-1", Ref: "7",
				Message: func() sdk.Message { m := reply.Message; m.Author.Name = ""; return m }()}}},
		{"the user's own message as Chatwoot echoes it", "message_created_incoming.json", nil, nil},
		{"the user's own message echoed", msg, func(m map[string]any) { m["message_type"] = "incoming" }, nil},
		{"echo, as a number", msg, func(m map[string]any) { m["message_type"] = 0 }, nil},
		{"private note", msg, func(m map[string]any) { m["private"] = true }, nil},
		{"activity message", msg, func(m map[string]any) { m["message_type"] = "activity"; m["sender"] = nil }, nil},
		{"survey template", msg, func(m map[string]any) { m["message_type"] = "template"; m["content_type"] = "input_csat" }, nil},
		{"empty reply", msg, func(m map[string]any) { m["content"] = nil }, []sdk.Event{}},
		{"another inbox", msg, func(m map[string]any) { conv(m)["inbox_id"] = 4 }, nil},
		{"another account", msg, func(m map[string]any) { m["account"].(map[string]any)["id"] = 2 }, nil},
		{"not a livechat conversation", msg, func(m map[string]any) { conv(m)["custom_attributes"] = map[string]any{} }, nil},
		{"another bot's livechat", msg, func(m map[string]any) { attrs(conv(m))["livechat_bot"] = "other" }, nil},
		{"no conversation", msg, func(m map[string]any) { delete(m, "conversation") }, nil},
		{"input_select: a question", msg, func(m map[string]any) {
			m["content_type"] = "input_select"
			m["content"] = "Which order?"
			m["content_attributes"] = map[string]any{"items": []any{
				map[string]any{"title": "#1234", "value": "order-1234"}, map[string]any{"title": "Another"}}}
		}, []sdk.Event{{ID: "message:101", Type: sdk.EventAgentMessage, SessionID: "sess-1", Ref: "7", Message: func() sdk.Message {
			m := agent("101", "")
			m.ContentType, m.Content = "question", map[string]any{"title": "Which order?", "buttons": []any{
				map[string]any{"content_type": "button", "content": map[string]any{"title": "#1234", "payload": "order-1234"}},
				map[string]any{"content_type": "button", "content": map[string]any{"title": "Another", "payload": "Another"}},
			}}
			return m
		}()}}},
		{"attachments", msg, func(m map[string]any) {
			m["content"] = "Here is the label"
			m["attachments"] = []any{
				map[string]any{"id": 1, "file_type": "image", "data_url": "https://cw.example/label.png", "file_size": 2048},
				map[string]any{"id": 2, "file_type": "file", "data_url": "https://cw.example/invoice.pdf"},
				map[string]any{"id": 3, "file_type": "location", "data_url": ""},
			}
		}, []sdk.Event{
			{ID: "message:101", Type: sdk.EventAgentMessage, SessionID: "sess-1", Ref: "7", Message: agent("101", "Here is the label")},
			{ID: "message:101:1", Type: sdk.EventAgentMessage, SessionID: "sess-1", Ref: "7", Message: func() sdk.Message {
				m := agent("101:1", "")
				m.ContentType, m.Content = "image", map[string]any{"url": "https://cw.example/label.png", "name": "label.png", "size": int64(2048)}
				m.Attachment = &sdk.Attachment{URL: "https://cw.example/label.png", Name: "label.png", Size: 2048}
				return m
			}()},
			{ID: "message:101:2", Type: sdk.EventAgentMessage, SessionID: "sess-1", Ref: "7", Message: func() sdk.Message {
				m := agent("101:2", "")
				m.ContentType, m.Content = "file", map[string]any{"url": "https://cw.example/invoice.pdf", "name": "invoice.pdf"}
				m.Attachment = &sdk.Attachment{URL: "https://cw.example/invoice.pdf", Name: "invoice.pdf"}
				return m
			}()},
		}},
		{"ids as strings", msg, func(m map[string]any) { m["id"] = "101"; conv(m)["id"] = "7"; conv(m)["inbox_id"] = "1" }, []sdk.Event{reply}},
		{"resolved", status, nil, []sdk.Event{{ID: "resolved:7", Type: sdk.EventSessionClosed, SessionID: "sess-1", Ref: "7"}}},
		{"reopened", status, func(m map[string]any) { m["status"] = "open" }, nil},
		{"snoozed", status, func(m map[string]any) { m["status"] = "snoozed" }, nil},
		{"resolved, not a livechat", status, func(m map[string]any) { delete(m, "custom_attributes") }, nil},
		{"resolved, another inbox", status, func(m map[string]any) { m["inbox_id"] = 9 }, nil},
		{"conversation created", "conversation_created.json", nil, nil},
		// Issue 17: the assignee of a conversation_updated joined (by
		// available_name, with the avatar); an unassigned or bot-assigned
		// conversation says nothing.
		{"agent assigned", status, func(m map[string]any) {
			m["event"] = "conversation_updated"
			m["status"] = "open"
			m["meta"].(map[string]any)["assignee"].(map[string]any)["avatar_url"] = "https://cw.example/ann.png"
		}, []sdk.Event{{ID: "assignee:7:3", Type: sdk.EventAgentJoined, SessionID: "sess-1", Ref: "7", Message: sdk.Message{ContentType: "text",
			Content: map[string]any{}, Author: sdk.Author{Type: sdk.AuthorAgent, Name: "Ann", ID: "3", AvatarURL: "https://cw.example/ann.png"}}}}},
		{"unassigned", status, func(m map[string]any) {
			m["event"] = "conversation_updated"
			m["meta"].(map[string]any)["assignee"] = nil
		}, nil},
		{"assigned, not a livechat", status, func(m map[string]any) { m["event"] = "conversation_updated"; delete(m, "custom_attributes") }, nil},
		{"agent typing", status, typingBody("conversation_typing_on", "user", false), []sdk.Event{{ID: "typing:7:on:d-1", Type: sdk.EventAgentTyping,
			SessionID: "sess-1", Ref: "7", Typing: true, Message: sdk.Message{ContentType: "typing", Content: map[string]any{},
				Author: sdk.Author{Type: sdk.AuthorAgent, Name: "Ann", ID: "3"}}}}},
		{"agent stopped typing", status, typingBody("conversation_typing_off", "user", false), []sdk.Event{{ID: "typing:7:off:d-1", Type: sdk.EventAgentTyping,
			SessionID: "sess-1", Ref: "7", Message: sdk.Message{ContentType: "typing", Content: map[string]any{},
				Author: sdk.Author{Type: sdk.AuthorAgent, Name: "Ann", ID: "3"}}}}},
		{"agent typing a private note", status, typingBody("conversation_typing_on", "user", true), nil},
		{"the contact typing", status, typingBody("conversation_typing_on", "contact", false), nil},
		{"widget triggered", "webwidget_triggered.json", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.p.HandleWebhook(ctx, sdk.WebhookRequest{Bot: "shop", Method: http.MethodPost, Body: payload(t, tc.file, tc.edit),
				Header: map[string][]string{"X-Chatwoot-Delivery": {"d-1"}}})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, res.Events, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" && !(len(tc.want) == 0 && len(res.Events) == 0) {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if res.Status != 0 && res.Status != http.StatusOK {
				t.Errorf("status %d", res.Status)
			}
		})
	}
	for _, tc := range []struct {
		name   string
		method string
		body   string
		kind   sdk.ErrorKind
	}{
		{"not JSON", http.MethodPost, "event=message_created", sdk.KindInvalid},
		{"empty", http.MethodPost, "", sdk.KindInvalid},
		{"a JSON list", http.MethodPost, "[]", sdk.KindInvalid},
		{"GET", http.MethodGet, "", sdk.KindInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.p.HandleWebhook(ctx, sdk.WebhookRequest{Bot: "shop", Method: tc.method, Body: []byte(tc.body)})
			kind(t, err, tc.kind)
		})
	}
	t.Run("unknown bot", func(t *testing.T) {
		_, err := e.p.HandleWebhook(ctx, sdk.WebhookRequest{Bot: "nobody", Method: http.MethodPost, Body: payload(t, msg, nil)})
		kind(t, err, sdk.KindNotFound)
	})
}

func TestWebhookSignature(t *testing.T) {
	const secret = "whsec-123"
	e := newEnv(t, fake.Options{}, "webhook_secret", secret, "timestamp_tolerance", "5m")
	now := e.clk.Now()
	// Signed over the file's exact bytes, as Chatwoot signs @payload.to_json.
	body, err := os.ReadFile("testdata/message_created_outgoing.json")
	if err != nil {
		t.Fatal(err)
	}
	ts := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	sig := func(secret, ts string, body []byte) string { return "sha256=" + fake.Sign(secret, ts, body) }
	for _, tc := range []struct {
		name   string
		header map[string]string
		body   []byte
		ok     bool
	}{
		{"signed", map[string]string{"X-Chatwoot-Timestamp": ts(0), "X-Chatwoot-Signature": sig(secret, ts(0), body)}, body, true},
		{"bare hex digest", map[string]string{"X-Chatwoot-Timestamp": ts(0), "X-Chatwoot-Signature": fake.Sign(secret, ts(0), body)}, body, true},
		{"upper-case hex", map[string]string{"X-Chatwoot-Timestamp": ts(0), "X-Chatwoot-Signature": "sha256=" + strings.ToUpper(fake.Sign(secret, ts(0), body))}, body, true},
		{"lower-case header names", map[string]string{"x-chatwoot-timestamp": ts(0), "x-chatwoot-signature": sig(secret, ts(0), body)}, body, true},
		{"one of two signatures", map[string]string{"X-Chatwoot-Timestamp": ts(0), "X-Chatwoot-Signature": sig("old", ts(0), body) + ", " + sig(secret, ts(0), body)}, body, true},
		{"4 minutes old", map[string]string{"X-Chatwoot-Timestamp": ts(-4 * time.Minute), "X-Chatwoot-Signature": sig(secret, ts(-4*time.Minute), body)}, body, true},
		{"6 minutes old", map[string]string{"X-Chatwoot-Timestamp": ts(-6 * time.Minute), "X-Chatwoot-Signature": sig(secret, ts(-6*time.Minute), body)}, body, false},
		{"6 minutes ahead", map[string]string{"X-Chatwoot-Timestamp": ts(6 * time.Minute), "X-Chatwoot-Signature": sig(secret, ts(6*time.Minute), body)}, body, false},
		{"wrong secret", map[string]string{"X-Chatwoot-Timestamp": ts(0), "X-Chatwoot-Signature": sig("guess", ts(0), body)}, body, false},
		{"body changed", map[string]string{"X-Chatwoot-Timestamp": ts(0), "X-Chatwoot-Signature": sig(secret, ts(0), body)},
			[]byte(strings.Replace(string(body), "How can I help?", "Click evil.example", 1)), false},
		{"timestamp changed", map[string]string{"X-Chatwoot-Timestamp": ts(time.Second), "X-Chatwoot-Signature": sig(secret, ts(0), body)}, body, false},
		{"signed without the timestamp", map[string]string{"X-Chatwoot-Timestamp": ts(0), "X-Chatwoot-Signature": "sha256=" + fake.Sign(secret, "", body)[:64]}, body, false},
		{"timestamp in milliseconds", map[string]string{"X-Chatwoot-Timestamp": ts(0) + "000", "X-Chatwoot-Signature": sig(secret, ts(0)+"000", body)}, body, false},
		{"timestamp not a number", map[string]string{"X-Chatwoot-Timestamp": "yesterday", "X-Chatwoot-Signature": sig(secret, "yesterday", body)}, body, false},
		{"no timestamp", map[string]string{"X-Chatwoot-Signature": sig(secret, ts(0), body)}, body, false},
		{"unsigned", map[string]string{"X-Chatwoot-Delivery": "d-1"}, body, false},
		{"signature not hex", map[string]string{"X-Chatwoot-Timestamp": ts(0), "X-Chatwoot-Signature": "sha256=zz"}, body, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string][]string{}
			for k, v := range tc.header {
				h[k] = []string{v}
			}
			res, err := e.p.HandleWebhook(ctx, sdk.WebhookRequest{Bot: "shop", Method: http.MethodPost, Header: h, Body: tc.body})
			if tc.ok {
				if err != nil || len(res.Events) != 1 {
					t.Fatalf("refused a good delivery: %v %+v", err, res)
				}
				return
			}
			kind(t, err, sdk.KindUnauthorized)
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the secret is in the error %q", err)
			}
		})
	}
	t.Run("no secret: the URL token is the check", func(t *testing.T) {
		e := newEnv(t, fake.Options{})
		res, err := e.p.HandleWebhook(ctx, sdk.WebhookRequest{Bot: "shop", Method: http.MethodPost, Body: body,
			Header: map[string][]string{"X-Chatwoot-Signature": {"sha256=whatever"}}})
		if err != nil || len(res.Events) != 1 {
			t.Errorf("unsigned delivery without a secret: %v %+v", err, res)
		}
	})
}

// TestWebhooksFromTheFake runs the plugin against what the fake sends, so
// the fake's payloads and the parser agree: the user's echoes, private
// notes and activity messages make no event, agent replies and resolving
// do, and replays are the same events.
func TestWebhooksFromTheFake(t *testing.T) {
	const secret = "whsec-fake"
	e := newEnv(t, fake.Options{Secret: secret, Now: time.Now}, "webhook_secret", secret)
	e.clk.Set(time.Now())
	var mu sync.Mutex
	var events []sdk.Event
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		res, err := e.p.HandleWebhook(r.Context(), sdk.WebhookRequest{Bot: "shop", Method: r.Method, Header: r.Header, Body: body})
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		events = append(events, res.Events...)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	e.f.SetWebhookURL(hook.URL)

	conv := e.start(t, "sess-1", jane)
	if _, err := e.p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", Ref: itoa(conv), Message: sdk.Text("hello?"), IdempotencyKey: "k1"}); err != nil {
		t.Fatal(err)
	}
	e.f.PrivateNote(conv, "Ann", "VIP customer")
	r := e.f.AgentReply(conv, "Ann", "Hi! I'm Ann.")
	e.f.UseCannedResponse(conv, "Ann", fake.SignOffShortCode)
	e.f.Resolve(conv, "Ann")
	e.f.WaitIdle(t)
	d := e.f.DeliveryOf(t, r.ID)
	if st := e.f.Replay(t, d.ID); st != http.StatusOK {
		t.Errorf("replay answered %d", st)
	}
	if st := e.f.Redeliver(t, d.ID); st != http.StatusOK {
		t.Errorf("redelivery answered %d", st)
	}

	ref := itoa(conv)
	want := []string{
		"agent_message message:" + itoa(r.ID) + " Ann: Hi! I'm Ann.",
		"agent_message message:" + itoa(r.ID+1) + " Ann: " + fake.SignOffContent,
		"session_closed resolved:" + ref + " : ",
		"agent_message message:" + itoa(r.ID) + " Ann: Hi! I'm Ann.",
		"agent_message message:" + itoa(r.ID) + " Ann: Hi! I'm Ann.",
	}
	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, ev := range events {
		if ev.SessionID != "sess-1" || ev.Ref != ref {
			t.Errorf("event %+v names the wrong session", ev)
		}
		got = append(got, string(ev.Type)+" "+ev.ID+" "+ev.Message.Author.Name+": "+ev.Message.PlainText())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	// Every message of the conversation was delivered, echoes and notes too.
	if n, m := len(e.f.Deliveries()), len(e.f.Messages(conv)); n < m {
		t.Errorf("%d deliveries for %d messages", n, m)
	}
}

// typingBody turns a conversation payload into a conversation_typing_on/off
// one as WebhookListener#handle_typing_status sends it: the user's
// webhook_data, the conversation's, is_private.
func typingBody(event, userType string, private bool) func(m map[string]any) {
	return func(m map[string]any) {
		cv := map[string]any{}
		for k, v := range m {
			cv[k] = v
		}
		for k := range m {
			delete(m, k)
		}
		m["event"] = event
		m["user"] = map[string]any{"id": 3, "name": "Ann Agent", "email": "ann@example.com", "type": userType}
		m["conversation"] = cv
		m["is_private"] = private
	}
}
