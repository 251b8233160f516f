package intercom_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/livechatd/livechatd/plugins/intercom"
	"github.com/livechatd/livechatd/plugins/intercom/fake"
	"github.com/livechatd/livechatd/sdk"
)

// icCaught is a notification as the endpoint received it.
type icCaught struct {
	header http.Header
	body   []byte
}

// icCatch points the fake's webhook at a recorder and returns what it
// caught so far.
func icCatch(t *testing.T, f *fake.Server) func() []icCaught {
	var mu sync.Mutex
	var got []icCaught
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, icCaught{header: r.Header.Clone(), body: b})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	f.SetWebhookURL(srv.URL)
	return func() []icCaught {
		f.WaitIdle(t)
		mu.Lock()
		defer mu.Unlock()
		return append([]icCaught(nil), got...)
	}
}

func (w *icWorld) handle(c icCaught) (sdk.WebhookResult, error) {
	return w.p.HandleWebhook(context.Background(), sdk.WebhookRequest{Bot: "shop", Method: http.MethodPost,
		Path: "/v1/livechat/intercom/receive", Header: c.header, Body: c.body})
}

func TestIntercomWebhookEvents(t *testing.T) {
	w := icNew(t, fake.Options{Topics: []string{"conversation"}})
	caught := icCatch(t, w.ic)
	ref := w.start("s1")
	if _, err := w.send("s1", ref, "user text", "k1"); err != nil {
		t.Fatal(err)
	}
	w.ic.AgentNote(ref, "Ann", "a note")
	reply := w.ic.AgentReplyHTML(ref, "Ann", "<p>Hello&nbsp;<b>Jane</b></p><ul><li>one</li><li>two</li></ul><p>Bye &amp; thanks</p>")
	w.ic.Close(ref, "Ann")

	all := caught()
	var topics []string
	var events []sdk.Event
	for _, c := range all {
		if !strings.HasPrefix(c.header.Get("X-Hub-Signature"), "sha1=") || c.header.Get("User-Agent") != "intercom-parrot-service-client/1.0" {
			t.Errorf("notification headers %v", c.header)
		}
		res, err := w.handle(c)
		if err != nil || res.Status != 0 {
			t.Fatalf("notification %s: %+v, %v", c.body, res, err)
		}
		n, _, _ := intercom.ParseNotification(c.body)
		topics = append(topics, n.Topic)
		events = append(events, res.Events...)
	}
	want := "conversation.user.created conversation.user.replied conversation.admin.noted conversation.admin.replied conversation.admin.closed"
	if got := strings.Join(topics, " "); got != want {
		t.Errorf("topics = %s, want %s", got, want)
	}
	cv, _ := w.ic.Conversation(ref)
	closePart := cv.Parts[len(cv.Parts)-1]
	if len(events) != 2 {
		t.Fatalf("events = %+v, want the reply and the close", events)
	}
	r, c := events[0], events[1]
	if r.ID != "part:"+reply.ID || r.Type != sdk.EventAgentMessage || r.Ref != ref || r.SessionID != "s1" ||
		r.Message.PlainText() != "Hello Jane\n- one\n- two\nBye & thanks" || r.Message.Author != (sdk.Author{Type: sdk.AuthorAgent, Name: "Ann", ID: fake.DefaultAdminID}) {
		t.Errorf("reply event = %+v", r)
	}
	if c.ID != "close:"+closePart.ID || c.Type != sdk.EventSessionClosed || c.Ref != ref || c.SessionID != "s1" {
		t.Errorf("close event = %+v", c)
	}
}

func TestIntercomWebhookRefusals(t *testing.T) {
	w := icNew(t, fake.Options{})
	caught := icCatch(t, w.ic)
	ref := w.start("s1")
	w.ic.AgentReply(ref, "Ann", "hi")
	good := caught()[0]

	forged := icCaught{header: good.header.Clone(), body: good.body}
	forged.header.Set("X-Hub-Signature", fake.Sign("another-secret", good.body))
	unsigned := icCaught{header: http.Header{}, body: good.body}
	tampered := icCaught{header: good.header, body: []byte(strings.Replace(string(good.body), "hi", "ho", 1))}
	for name, c := range map[string]icCaught{"forged": forged, "unsigned": unsigned, "tampered": tampered} {
		_, err := w.handle(c)
		if sdk.KindOf(err) != sdk.KindUnauthorized || strings.Contains(err.Error(), w.ic.ClientSecret()) {
			t.Errorf("%s: %v, want Unauthorized without the secret", name, err)
		}
	}
	// Another workspace's notification, signed right: refused by app_id.
	other := strings.Replace(string(good.body), `"app_id":"`+w.ic.AppID()+`"`, `"app_id":"other1"`, 1)
	h := http.Header{"X-Hub-Signature": {fake.Sign(w.ic.ClientSecret(), []byte(other))}}
	if _, err := w.handle(icCaught{header: h, body: []byte(other)}); sdk.KindOf(err) != sdk.KindUnauthorized || !strings.Contains(err.Error(), "app_id") {
		t.Errorf("another workspace: %v", err)
	}
	// Garbage, signed right: permanent, naming what is wrong.
	for body, want := range map[string]string{`{`: "body", `{"type":"ping"}`: "type", `{"type":"notification_event","topic":"conversation.admin.replied","data":{"item":{"id":"x"}}}`: "data.item.id"} {
		h := http.Header{"X-Hub-Signature": {fake.Sign(w.ic.ClientSecret(), []byte(body))}}
		if _, err := w.handle(icCaught{header: h, body: []byte(body)}); sdk.KindOf(err) != sdk.KindInvalid || !strings.Contains(err.Error(), want) {
			t.Errorf("body %s: %v, want invalid naming %s", body, err, want)
		}
	}
	// Intercom's ping, and topics the plugin does not act on: 200, nothing.
	ping := `{"type":"notification_event","topic":"ping","app_id":"` + w.ic.AppID() + `","data":{"type":"notification_event_data","item":{"type":"ping","message":"something"}}}`
	h = http.Header{"X-Hub-Signature": {fake.Sign(w.ic.ClientSecret(), []byte(ping))}}
	if res, err := w.handle(icCaught{header: h, body: []byte(ping)}); err != nil || len(res.Events) != 0 {
		t.Errorf("ping: %+v, %v", res, err)
	}
}

// TestIntercomWebhookDescribed: what `livechatd webhook-url` prints.
func TestIntercomWebhookDescribed(t *testing.T) {
	p := intercom.New(intercom.Options{})
	ws, err := p.DescribeWebhooks(context.Background(), "shop", sdk.Config{"app_id": "abc123", "client_secret": "s3cr3t-value"})
	if err != nil || len(ws) != 1 {
		t.Fatal(ws, err)
	}
	d := ws[0]
	if d.Method != http.MethodPost || strings.Join(d.Triggers, ",") != "conversation.admin.replied,conversation.admin.closed,conversation.admin.assigned" ||
		!strings.Contains(d.Instructions, "Developer Hub") || !strings.Contains(d.Instructions, "abc123") || strings.Contains(d.Instructions, "s3cr3t-value") {
		t.Errorf("webhook setup = %+v", d)
	}
}

// TestIntercomBotReplyDelivered: Intercom sends its bots' replies (Fin, a
// workflow) as conversation.admin.replied too, author type bot (as in a
// notification quoted on Intercom's community forum); they reach the user
// like a teammate's.
func TestIntercomBotReplyDelivered(t *testing.T) {
	w := icNew(t, fake.Options{})
	body, err := os.ReadFile("testdata/conversation_admin_replied.json")
	if err != nil {
		t.Fatal(err)
	}
	bot := strings.Replace(string(body), `"type":"admin","id":"814860","name":"Ann"`, `"type":"bot","id":"6827949","name":"Fin Bot"`, 1)
	bot = strings.Replace(bot, `"app_id":"fk3app1d"`, `"app_id":"`+w.ic.AppID()+`"`, 1)
	h := http.Header{"X-Hub-Signature": {fake.Sign(w.ic.ClientSecret(), []byte(bot))}}
	res, err := w.handle(icCaught{header: h, body: []byte(bot)})
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	e := res.Events[0]
	if e.ID != "part:4010" || e.Ref != "4003" || e.SessionID != "ASSNGCML7YN4NJYHGXW6H7KY74" || e.Message.Author.Name != "Fin Bot" ||
		e.Message.PlainText() != "Hi Jane, I'm Ann.\nLIVECHAT_SESSION_END" {
		t.Errorf("event = %+v", e)
	}
}
