package freshdesk_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/freshdesk"
	"github.com/livechatd/livechatd/plugins/freshdesk/fake"
	"github.com/livechatd/livechatd/sdk"
)

const fdBot = "shop"

// fdSetup is a provider configured for bot "shop" on a fake helpdesk.
func fdSetup(t *testing.T, host sdk.Host, extra sdk.Config) (*freshdesk.Provider, *fake.Server) {
	t.Helper()
	return fdSetupWith(t, host, extra, fake.Options{Retries: []time.Duration{}})
}

func fdSetupWith(t *testing.T, host sdk.Host, extra sdk.Config, o fake.Options) (*freshdesk.Provider, *fake.Server) {
	t.Helper()
	f := fake.New(t, o)
	p := freshdesk.New(freshdesk.Options{})
	cfg := sdk.Config{"base_url": f.URL, "api_key": f.APIKey(), "webhook_secret": fdSecret}
	for k, v := range extra {
		cfg[k] = v
	}
	if err := p.Configure(context.Background(), fdBot, freshdesk.Info.Schema.WithDefaults(cfg), host); err != nil {
		t.Fatal(err)
	}
	return p, f
}

func fdStart(t *testing.T, p *freshdesk.Provider, session string, verified bool, msgs ...string) (sdk.StartRequest, int64, error) {
	t.Helper()
	req := sdk.StartRequest{Bot: fdBot, SessionID: session, IdempotencyKey: "start-" + session,
		User: sdk.User{ID: "u-" + session, ChannelID: "web", Verified: verified,
			Metadata: map[string]any{"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com", "plan": "gold"}},
		Transcript: []sdk.Message{{ContentType: "text", Content: map[string]any{"text": "help"}, Author: sdk.Author{Type: sdk.AuthorUser}},
			{ContentType: "text", Content: map[string]any{"text": "A human?"}, Author: sdk.Author{Type: sdk.AuthorBot}}}}
	for _, m := range msgs {
		req.Messages = append(req.Messages, sdk.Text(m))
	}
	res, err := p.StartSession(context.Background(), req)
	if err != nil {
		return req, 0, err
	}
	id, _ := strconv.ParseInt(res.Ref, 10, 64)
	return req, id, nil
}

func fdUserNotes(f *fake.Server, ticket int64) []string {
	var out []string
	for _, c := range f.Conversations(ticket) {
		if c.Source == fake.ConvNote && c.Incoming && !c.Private {
			out = append(out, c.BodyText)
		}
	}
	return out
}

func TestFreshdeskStartTicket(t *testing.T) {
	p, f := fdSetup(t, newFDHost(), sdk.Config{"tags": []any{"vip"}, "group_id": 7, "priority": 2})
	_, id, err := fdStart(t, p, "s1", true, "waiting <one>\nline two")
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := f.Ticket(id)
	c, _ := f.Contact(tk.RequesterID)
	if tk.Source != fake.SourceChat || tk.Status != fake.StatusOpen || tk.Priority != 2 || tk.GroupID == nil || *tk.GroupID != 7 ||
		!slices.Equal(tk.Tags, []string{"livechat", "vip"}) || c.Email != "jane@example.com" || c.Name != "Jane Doe" {
		t.Errorf("ticket %+v, requester %+v", tk, c)
	}
	want := "About the user\nemail: jane@example.com\nfirstname: Jane\nlastname: Doe\nplan: gold\nConversation with the bot before the handoff\nUser: help\nBot: A human?\nLivechat session: s1"
	if tk.DescriptionText != want {
		t.Errorf("description_text = %q\nwant %q", tk.DescriptionText, want)
	}
	if got := fdUserNotes(f, id); !slices.Equal(got, []string{"waiting <one>\nline two"}) {
		t.Errorf("notes = %q", got)
	}
	if n := f.Conversations(id)[0]; n.UserID != tk.RequesterID {
		t.Errorf("the note is by %d, not the requester %d", n.UserID, tk.RequesterID)
	}
}

// A start whose answer was lost (the ticket was created) finds that
// ticket on the retry, with and without plugin state.
func TestFreshdeskStartRetriedAfterLostAnswer(t *testing.T) {
	for name, host := range map[string]sdk.Host{"state": newFDHost(), "no state": fdStatelessHost{}} {
		t.Run(name, func(t *testing.T) {
			p, f := fdSetup(t, host, nil)
			f.Fail(fake.Fault{Method: http.MethodPost, Path: "/api/v2/tickets", Status: http.StatusGatewayTimeout, Times: 1, After: true})
			_, _, err := fdStart(t, p, "s1", false, "hello")
			if ok, _ := sdk.IsRetryable(err); !ok {
				t.Fatalf("first try: %v, want retryable", err)
			}
			_, id, err := fdStart(t, p, "s1", false, "hello")
			if err != nil {
				t.Fatal(err)
			}
			if n := len(f.Tickets()); n != 1 || f.Tickets()[0].ID != id {
				t.Errorf("%d tickets, want the first try's", n)
			}
			if got := fdUserNotes(f, id); !slices.Equal(got, []string{"hello"}) {
				t.Errorf("notes = %q", got)
			}
		})
	}
}

// A start Freshdesk refused (a 4xx: 429, 400...) leaves no pending mark:
// the retry creates the ticket without listing the requester's tickets
// (capped at 20 a minute on Growth). A 409 here: the limiter would hold
// the retry after a 429 for its Retry-After.
func TestFreshdeskRefusedStartNeedsNoLookup(t *testing.T) {
	p, f := fdSetup(t, newFDHost(), nil)
	f.Fail(fake.Fault{Method: http.MethodPost, Path: "/api/v2/tickets", Status: http.StatusConflict, Times: 1})
	_, _, err := fdStart(t, p, "s1", true)
	if sdk.KindOf(err) != sdk.KindInvalid {
		t.Fatalf("first try: %v, want refused", err)
	}
	if _, _, err := fdStart(t, p, "s1", true); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Calls() {
		if c.Method == http.MethodGet && c.Path == "/api/v2/tickets" {
			t.Errorf("the retry listed tickets")
		}
	}
}

func TestFreshdeskSendOnce(t *testing.T) {
	host := newFDHost()
	p, f := fdSetup(t, host, nil)
	_, id, err := fdStart(t, p, "s1", true)
	if err != nil {
		t.Fatal(err)
	}
	send := func(text, key string) error {
		_, err := p.SendMessage(context.Background(), sdk.SendRequest{Bot: fdBot, SessionID: "s1", Ref: strconv.FormatInt(id, 10), Message: sdk.Text(text), IdempotencyKey: key})
		return err
	}
	if err := send("ok", "k1"); err != nil {
		t.Fatal(err)
	}
	if err := send("ok", "k1"); err != nil { // a retry after success
		t.Fatal(err)
	}
	// "ok" again, new key, its answer lost: the retry finds its own note,
	// not the first "ok".
	f.Fail(fake.Fault{Method: http.MethodPost, Path: "/notes", Status: http.StatusBadGateway, Times: 1, After: true})
	if err := send("ok", "k2"); err == nil {
		t.Fatal("the lost answer did not fail the send")
	}
	if err := send("ok", "k2"); err != nil {
		t.Fatal(err)
	}
	if got := fdUserNotes(f, id); !slices.Equal(got, []string{"ok", "ok"}) {
		t.Errorf("notes = %q, want two", got)
	}
	// Refused (400): permanent, with Freshdesk's message.
	f.Fail(fake.Fault{Method: http.MethodPost, Path: "/notes", Status: http.StatusBadRequest, Times: 1})
	err = send("three", "k3")
	if ok, _ := sdk.IsRetryable(err); err == nil || ok || !strings.Contains(err.Error(), "Validation failed (body: It should not be blank") {
		t.Errorf("400: %v", err)
	}
}

func TestFreshdeskUnverifiedRequester(t *testing.T) {
	p, f := fdSetup(t, newFDHost(), nil)
	_, id, err := fdStart(t, p, "s1", false)
	if err != nil {
		t.Fatal(err)
	}
	_, id2, err := fdStart(t, p, "s2", true)
	if err != nil {
		t.Fatal(err)
	}
	t1, _ := f.Ticket(id)
	t2, _ := f.Ticket(id2)
	c1, _ := f.Contact(t1.RequesterID)
	c2, _ := f.Contact(t2.RequesterID)
	if !strings.HasSuffix(c1.Email, "@livechat.invalid") || c1.ID == c2.ID || c2.Email != "jane@example.com" {
		t.Errorf("unverified %+v, verified %+v", c1, c2)
	}
	if !strings.Contains(t1.DescriptionText, "About the user (unverified: typed by the user)") {
		t.Errorf("description = %q", t1.DescriptionText)
	}
}

func fdHook(body string, header map[string][]string) sdk.WebhookRequest {
	if header == nil {
		header = map[string][]string{freshdesk.SecretHeader: {fdSecret}}
	}
	return sdk.WebhookRequest{Bot: fdBot, Method: http.MethodPost, Path: "/v1/livechat/freshdesk/receive", Header: header, Body: []byte(body)}
}

func TestFreshdeskWebhook(t *testing.T) {
	p, f := fdSetup(t, newFDHost(), nil)
	_, id, err := fdStart(t, p, "s1", true, "from the user")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	body := fmt.Sprintf(`{"ticket_id": %d, "status": "Open"}`, id)

	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("livechat:"+fdSecret))
	for name, h := range map[string]map[string][]string{
		"no secret":        {},
		"wrong secret":     {freshdesk.SecretHeader: {"x" + fdSecret}},
		"wrong basic auth": {"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("livechat:nope"))}},
	} {
		if _, err := p.HandleWebhook(ctx, fdHook(body, h)); sdk.KindOf(err) != sdk.KindUnauthorized {
			t.Errorf("%s: %v, want unauthorized", name, err)
		} else if strings.Contains(err.Error(), fdSecret) {
			t.Errorf("%s: the error shows the secret", name)
		}
	}
	if res, err := p.HandleWebhook(ctx, fdHook(body, map[string][]string{"Authorization": {basic}})); err != nil || len(res.Events) != 0 {
		t.Errorf("basic auth: %v %v, want accepted with no events yet", res, err)
	}
	for _, bad := range []string{"", "{", `{"status":"Open"}`, `{"ticket_id": "abc"}`, `{"ticket_id": -3}`} {
		if _, err := p.HandleWebhook(ctx, fdHook(bad, nil)); err == nil || sdk.KindOf(err) != sdk.KindInvalid {
			t.Errorf("body %q: %v, want permanent", bad, err)
		}
	}

	f.AgentNote(id, "Ann", "private", true)
	f.AgentNote(id, "Ann", "public note", false)
	r1, _ := f.AgentReply(id, "Ann", "Hello <Jane>")
	r2, _ := f.AgentReply(id, "Ann", "Hello <Jane>")
	res, err := p.HandleWebhook(ctx, fdHook(body, nil))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Events {
		got = append(got, fmt.Sprintf("%s %s %s %s %s %s %s", e.ID, e.Type, e.SessionID, e.Ref, e.Message.PlainText(), e.Message.Author.Type, e.Message.Author.Name))
	}
	ref := strconv.FormatInt(id, 10)
	want := []string{
		fmt.Sprintf("conversation:%d agent_message s1 %s Hello <Jane> agent Ann", r1.ID, ref),
		fmt.Sprintf("conversation:%d agent_message s1 %s Hello <Jane> agent Ann", r2.ID, ref),
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Closed: the replies, then session_closed.
	f.SetStatus(id, "Ann", fake.StatusClosed)
	res, _ = p.HandleWebhook(ctx, fdHook(body, nil))
	if n := len(res.Events); n != 3 || res.Events[2].Type != sdk.EventSessionClosed || res.Events[2].ID != "closed:"+ref {
		t.Errorf("events after the close: %+v", res.Events)
	}
	// A ticket that is not livechat's, or gone: 200, nothing.
	if res, err := p.HandleWebhook(ctx, fdHook(`{"ticket_id": 999999}`, nil)); err != nil || len(res.Events) != 0 {
		t.Errorf("unknown ticket: %v %v", res, err)
	}
	// Freshdesk down: retryable, so the host keeps the webhook.
	f.Fail(fake.Fault{Status: http.StatusServiceUnavailable, RetryAfter: 5 * time.Second})
	if _, err := p.HandleWebhook(ctx, fdHook(body, nil)); err == nil {
		t.Error("webhook with Freshdesk down: no error")
	} else if ok, after := sdk.IsRetryable(err); !ok || after < 5*time.Second {
		t.Errorf("webhook with Freshdesk down: %v, retry after %s", err, after)
	}
}

func TestFreshdeskReadSession(t *testing.T) {
	p, f := fdSetup(t, newFDHost(), nil)
	_, id, err := fdStart(t, p, "s1", true, "first")
	if err != nil {
		t.Fatal(err)
	}
	ref := strconv.FormatInt(id, 10)
	var want []string
	for i := range 250 { // three pages of conversations
		if i%2 == 0 {
			c, _ := f.AgentReply(id, "Ann", "reply "+strconv.Itoa(i))
			want = append(want, "conversation:"+strconv.FormatInt(c.ID, 10))
		} else {
			f.AgentNote(id, "Ann", "note", i%3 == 0)
		}
	}
	read := func(cursor string) sdk.ReadResult {
		t.Helper()
		res, err := p.ReadSession(context.Background(), sdk.ReadRequest{Bot: fdBot, SessionID: "s1", Ref: ref, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := read("")
	var got []string
	for _, e := range res.Events {
		got = append(got, e.ID)
	}
	convs := f.Conversations(id)
	if !slices.Equal(got, want) || res.Closed || res.Cursor != "3:"+strconv.FormatInt(convs[len(convs)-1].ID, 10) {
		t.Fatalf("read: %d events (want %d), closed %v, cursor %q", len(got), len(want), res.Closed, res.Cursor)
	}
	calls := len(f.Calls())
	again := read(res.Cursor)
	if len(again.Events) != 0 || again.Cursor != "" {
		t.Errorf("read again: %+v", again)
	}
	if n := len(f.Calls()) - calls; n != 2 {
		t.Errorf("a read from the cursor made %d calls, want 2 (the ticket, the last page)", n)
	}
	c, _ := f.AgentReply(id, "Ann", "last")
	f.SetStatus(id, "Ann", fake.StatusResolved)
	last := read(res.Cursor)
	if len(last.Events) != 1 || last.Events[0].ID != "conversation:"+strconv.FormatInt(c.ID, 10) || !last.Closed {
		t.Errorf("read after reply and resolve: %+v", last)
	}
	if _, err := p.ReadSession(context.Background(), sdk.ReadRequest{Bot: fdBot, SessionID: "s1", Ref: ref, Cursor: "bogus"}); sdk.KindOf(err) != sdk.KindInvalid {
		t.Errorf("bad cursor: %v", err)
	}
	if _, err := p.ReadSession(context.Background(), sdk.ReadRequest{Bot: fdBot, SessionID: "other", Ref: ref}); sdk.KindOf(err) != sdk.KindInvalid {
		t.Errorf("another session's ticket: %v", err)
	}
}

func TestFreshdeskEndSession(t *testing.T) {
	for _, status := range []string{"closed", "resolved"} {
		t.Run(status, func(t *testing.T) {
			p, f := fdSetup(t, newFDHost(), sdk.Config{"close_status": status})
			_, id, err := fdStart(t, p, "s1", true)
			if err != nil {
				t.Fatal(err)
			}
			end := func(reason sdk.EndReason, ref string) error {
				return p.EndSession(context.Background(), sdk.EndRequest{Bot: fdBot, SessionID: "s1", Ref: ref, Reason: reason, IdempotencyKey: "end-s1"})
			}
			ref := strconv.FormatInt(id, 10)
			for range 2 {
				if err := end(sdk.EndExpired, ref); err != nil {
					t.Fatal(err)
				}
			}
			tk, _ := f.Ticket(id)
			want := map[string]int{"closed": fake.StatusClosed, "resolved": fake.StatusResolved}[status]
			notes := 0
			for _, c := range f.Conversations(id) {
				if c.Private && strings.HasPrefix(c.BodyText, "The live chat expired") {
					notes++
				}
			}
			if tk.Status != want || notes != 1 {
				t.Errorf("status %d (want %d), %d end notes (want 1)", tk.Status, want, notes)
			}
			if err := end(sdk.EndAgent, "424242"); err != nil {
				t.Errorf("a ticket Freshdesk no longer knows: %v", err)
			}
		})
	}
}

func TestFreshdeskErrorsKeepSecrets(t *testing.T) {
	for _, tc := range []struct {
		status int
		after  time.Duration
		kind   sdk.ErrorKind
	}{
		{http.StatusUnauthorized, 0, sdk.KindUnauthorized},
		{http.StatusForbidden, 0, sdk.KindUnauthorized},
		{http.StatusTooManyRequests, 40 * time.Second, sdk.KindRateLimited},
		{http.StatusServiceUnavailable, 0, sdk.KindUnavailable},
	} {
		p, f := fdSetup(t, newFDHost(), nil) // a limiter of its own: a 429 holds it
		f.Fail(fake.Fault{Status: tc.status, RetryAfter: tc.after})
		_, _, err := fdStart(t, p, "s-"+strconv.Itoa(tc.status), true)
		if sdk.KindOf(err) != tc.kind {
			t.Errorf("%d: %v (kind %v), want %v", tc.status, err, sdk.KindOf(err), tc.kind)
		}
		if tc.after > 0 {
			if _, after := sdk.IsRetryable(err); after < tc.after {
				t.Errorf("%d: retry after %s, want %s", tc.status, after, tc.after)
			}
		}
		if err != nil && (strings.Contains(err.Error(), f.APIKey()) || strings.Contains(err.Error(), fdSecret)) {
			t.Errorf("%d: the error shows a secret: %v", tc.status, err)
		}
	}
}

func TestFreshdeskValidateConfig(t *testing.T) {
	p := freshdesk.New(freshdesk.Options{})
	good := sdk.Config{"base_url": "https://acme.freshdesk.com", "api_key": "k", "webhook_secret": fdSecret}
	if d := p.ValidateConfig(context.Background(), fdBot, freshdesk.Info.Schema.WithDefaults(good)); d.Err() != nil {
		t.Errorf("good config: %v", d)
	}
	bad := sdk.Config{"base_url": "https://acme.freshdesk.com/api/v2", "api_key": " ", "webhook_secret": "short",
		"priority": 9, "group_id": -1, "rate_limit": 0, "tags": []any{"a,b"}}
	d := p.ValidateConfig(context.Background(), fdBot, freshdesk.Info.Schema.WithDefaults(bad))
	var attrs []string
	for _, x := range d {
		attrs = append(attrs, x.Attribute)
	}
	if want := []string{"base_url", "api_key", "webhook_secret", "priority", "group_id", "rate_limit", "tags"}; !slices.Equal(attrs, want) {
		t.Errorf("diagnostics on %q, want %q: %v", attrs, want, d)
	}
	if err := p.Configure(context.Background(), fdBot, freshdesk.Info.Schema.WithDefaults(bad), newFDHost()); sdk.KindOf(err) != sdk.KindInvalid {
		t.Errorf("configure with a bad config: %v", err)
	}
	if _, err := p.SendMessage(context.Background(), sdk.SendRequest{Bot: "nobody", Ref: "1"}); sdk.KindOf(err) != sdk.KindNotFound {
		t.Errorf("unknown bot: %v", err)
	}
}

func TestFreshdeskDescribeWebhooks(t *testing.T) {
	p := freshdesk.New(freshdesk.Options{})
	cfg := sdk.Config{"base_url": "https://acme.freshdesk.com/", "api_key": "the-api-key", "webhook_secret": fdSecret}
	ws, err := p.DescribeWebhooks(context.Background(), fdBot, cfg)
	if err != nil || len(ws) != 1 {
		t.Fatal(ws, err)
	}
	w := ws[0]
	text := fmt.Sprint(w)
	if w.Method != http.MethodPost || w.Body != freshdesk.WebhookBody || !strings.Contains(w.Instructions, "In https://acme.freshdesk.com: Admin › Workflows › Automations") ||
		w.Headers[freshdesk.SecretHeader] == "" || strings.Contains(text, fdSecret) || strings.Contains(text, "the-api-key") {
		t.Errorf("webhook setup = %+v", w)
	}
}

// Without plugin state (a livechatd older than it, or the conformance
// suite's host), a send is kept once by the process's memory and, across
// a restart, by the user's last note; "ok" twice still posts twice.
func TestFreshdeskSendOnceWithoutState(t *testing.T) {
	p, f := fdSetup(t, fdStatelessHost{}, nil)
	_, id, err := fdStart(t, p, "s1", true)
	if err != nil {
		t.Fatal(err)
	}
	ref := strconv.FormatInt(id, 10)
	send := func(p *freshdesk.Provider, text, key string) error {
		_, err := p.SendMessage(context.Background(), sdk.SendRequest{Bot: fdBot, SessionID: "s1", Ref: ref, Message: sdk.Text(text), IdempotencyKey: key})
		return err
	}
	for _, s := range []struct{ text, key string }{{"ok", "k1"}, {"ok", "k1"}, {"ok", "k2"}} {
		if err := send(p, s.text, s.key); err != nil {
			t.Fatal(err)
		}
	}
	f.Fail(fake.Fault{Method: http.MethodPost, Path: "/notes", Status: http.StatusGatewayTimeout, Times: 1, After: true})
	if err := send(p, "hi", "k3"); err == nil {
		t.Fatal("the lost answer did not fail the send")
	}
	// The plugin restarts: a new process, no memory.
	p2 := freshdesk.New(freshdesk.Options{})
	if err := p2.Configure(context.Background(), fdBot, freshdesk.Info.Schema.WithDefaults(sdk.Config{"base_url": f.URL, "api_key": f.APIKey(), "webhook_secret": fdSecret}), fdStatelessHost{}); err != nil {
		t.Fatal(err)
	}
	if err := send(p2, "hi", "k3"); err != nil {
		t.Fatal(err)
	}
	if got := fdUserNotes(f, id); !slices.Equal(got, []string{"ok", "ok", "hi"}) {
		t.Errorf("notes = %q", got)
	}
}

// Agent names come from the Agents API, once per agent; a key that may not
// view agents gives nameless replies, never failed reads.
func TestFreshdeskAgentNames(t *testing.T) {
	for _, forbidden := range []bool{false, true} {
		p, f := fdSetupWith(t, newFDHost(), nil, fake.Options{Retries: []time.Duration{}, AgentsForbidden: forbidden})
		_, id, err := fdStart(t, p, "s1", true)
		if err != nil {
			t.Fatal(err)
		}
		f.AgentReply(id, "Ann Lee", "one")
		f.AgentReply(id, "Bo", "two")
		f.AgentReply(id, "Ann Lee", "three")
		var names []string
		for range 2 {
			res, err := p.ReadSession(context.Background(), sdk.ReadRequest{Bot: fdBot, SessionID: "s1", Ref: strconv.FormatInt(id, 10)})
			if err != nil {
				t.Fatal(err)
			}
			names = names[:0]
			for _, e := range res.Events {
				names = append(names, e.Message.Author.Name)
			}
		}
		want := []string{"Ann Lee", "Bo", "Ann Lee"}
		if forbidden {
			want = []string{"", "", ""}
		}
		agentCalls := 0
		for _, c := range f.Calls() {
			if strings.HasPrefix(c.Path, "/api/v2/agents/") {
				agentCalls++
			}
		}
		if !slices.Equal(names, want) || agentCalls != 2 {
			t.Errorf("forbidden %v: names %q, want %q; %d Agents API calls, want 2 (once per agent)", forbidden, names, want, agentCalls)
		}
	}
}
