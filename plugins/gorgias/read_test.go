package gorgias

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// Issue 11: an agent's reply must reach the user even when its webhook
// never arrives. These tests run the real plugin binary against the
// sandbox, its "messages" integration pointed at a receiver that hands
// every request to the plugin's HandleWebhook, as livechatd does.

// hookReceiver is livechatd's webhook endpoint for one plugin: it passes
// each request to HandleWebhook and keeps the events.
type hookReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	events []sdk.Event
	errs   []error
}

func newHookReceiver(t *testing.T, p *sdktest.Plugin) *hookReceiver {
	t.Helper()
	rc := &hookReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		res, err := p.HandleWebhook(ctx, sdk.WebhookRequest{Bot: "shop", Method: r.Method, Path: r.URL.Path,
			Query: r.URL.Query(), Header: r.Header, Body: body})
		rc.mu.Lock()
		if err != nil {
			rc.errs = append(rc.errs, err)
		}
		rc.events = append(rc.events, res.Events...)
		rc.mu.Unlock()
		if err != nil {
			http.Error(w, "error", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *hookReceiver) Events(t *testing.T) []sdk.Event {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, err := range rc.errs {
		t.Errorf("webhook: %v", err)
	}
	return append([]sdk.Event(nil), rc.events...)
}

// readEnv is a session of the real plugin on the sandbox, with the
// integrations an operator creates from Info.Webhooks.
type readEnv struct {
	sb     *sandbox.Sandbox
	p      *sdktest.Plugin
	ctx    context.Context
	hooks  *hookReceiver
	ticket int64
	ref    string
}

const readSession = "s-read"

func newReadEnv(t *testing.T) *readEnv {
	t.Helper()
	sb := sandbox.Start(t, sandbox.Options{BucketCapacity: -1})
	p, ctx := launchGorgias(t, sb)
	hooks := newHookReceiver(t, p)
	if _, err := sb.CreateIntegration(sandbox.Integration{Name: "livechatd messages", Type: "http", HTTP: sandbox.HTTPConfig{
		URL: hooks.URL + "/v1/providers/gorgias/webhook?token=t0k&" + WebhookQuery, Method: "GET",
		Triggers: map[string]bool{"ticket-message-created": true}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.CreateIntegration(sandbox.Integration{Name: "livechatd status", Type: "http", HTTP: sandbox.HTTPConfig{
		URL: hooks.URL + "/v1/providers/gorgias/webhook?token=t0k", Method: "POST", Body: StatusTemplate,
		Triggers: map[string]bool{"ticket-status-updated": true}}}); err != nil {
		t.Fatal(err)
	}
	res, err := p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: readSession, IdempotencyKey: "start",
		User:       sdk.User{ID: "u1", Metadata: map[string]any{"firstname": "Jane"}},
		Transcript: []sdk.Message{said("hello", sdk.AuthorUser)}})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	e := &readEnv{sb: sb, p: p, ctx: ctx, hooks: hooks, ticket: mustRef(t, res.Ref), ref: res.Ref}
	e.idle(t)
	return e
}

func (e *readEnv) idle(t *testing.T) {
	t.Helper()
	if err := e.sb.WaitIdle(e.ctx); err != nil {
		t.Fatalf("deliveries pending: %v", err)
	}
}

// read calls ReadSession and checks that it cost one API call.
func (e *readEnv) read(t *testing.T, cursor string) sdk.ReadResult {
	t.Helper()
	before := len(e.sb.Requests())
	res, err := e.p.ReadSession(e.ctx, sdk.ReadRequest{Bot: "shop", SessionID: readSession, Ref: e.ref, Cursor: cursor})
	if err != nil {
		t.Fatalf("read from %q: %v", cursor, err)
	}
	calls := e.sb.Requests()[before:]
	if len(calls) != 1 || calls[0].Method != http.MethodGet || calls[0].Path != fmt.Sprintf("/api/tickets/%d", e.ticket) {
		t.Errorf("a read made %v, want one GET /api/tickets/%d", calls, e.ticket)
	}
	return res
}

func (e *readEnv) reply(t *testing.T, text string) sandbox.Message {
	t.Helper()
	m, err := e.sb.Reply(e.ticket, "", text)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func texts(events []sdk.Event) []string {
	var out []string
	for _, ev := range events {
		out = append(out, ev.Message.PlainText())
	}
	return out
}

func TestReadSessionCatchesUpWithDroppedWebhooks(t *testing.T) {
	e := newReadEnv(t)
	e.sb.DropWebhooks()

	// Ten replies, written in bursts (several in the same second), among
	// what must not reach the user: an internal note and the user's own
	// message posted through the API.
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("reply %d", i))
		e.reply(t, want[i])
	}
	if _, err := e.sb.Note(e.ticket, "", "internal: refund approved"); err != nil {
		t.Fatal(err)
	}
	first := e.read(t, "")
	if diff := cmp.Diff(want, texts(first.Events)); diff != "" {
		t.Fatalf("first read (-want +got):\n%s", diff)
	}
	if first.Cursor == "" || first.Closed {
		t.Fatalf("first read: cursor %q, closed %v", first.Cursor, first.Closed)
	}

	if _, err := e.p.SendMessage(e.ctx, sdk.SendRequest{Bot: "shop", SessionID: readSession, Ref: e.ref,
		Message: userMsg("um-1", "thanks!"), IdempotencyKey: "send-1"}); err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 10; i++ {
		want = append(want, fmt.Sprintf("reply %d", i))
		e.reply(t, want[i])
	}
	second := e.read(t, first.Cursor)
	if diff := cmp.Diff(want[5:], texts(second.Events)); diff != "" {
		t.Fatalf("second read (-want +got):\n%s", diff)
	}

	// Nothing new: nothing, and the cursor holds.
	third := e.read(t, second.Cursor)
	if len(third.Events) != 0 || third.Closed || (third.Cursor != "" && third.Cursor != second.Cursor) {
		t.Errorf("a read at the end: %+v", third)
	}
	// An old cursor is safe: the same events again, with the same ids.
	again := e.read(t, first.Cursor)
	if diff := cmp.Diff(second.Events, again.Events); diff != "" {
		t.Errorf("repeated cursor (-second +again):\n%s", diff)
	}
	whole := e.read(t, "")
	read := append(append([]sdk.Event{}, first.Events...), second.Events...)
	if diff := cmp.Diff(read, whole.Events); diff != "" {
		t.Errorf("a read from the start (-both reads +whole):\n%s", diff)
	}

	// The ids and shapes are the webhook's: deliver the dropped webhooks
	// now, as Gorgias would have, and compare.
	e.idle(t)
	e.sb.ClearWebhookFaults()
	for _, d := range e.sb.DroppedWebhooks() {
		if _, err := e.sb.Redeliver(d.EventID); err != nil {
			t.Fatal(err)
		}
		e.idle(t) // one at a time, in the platform's order
	}
	if diff := cmp.Diff(read, e.hooks.Events(t)); diff != "" {
		t.Errorf("webhook events differ from read events (-read +webhook):\n%s", diff)
	}
	seen := map[string]bool{}
	for _, ev := range read {
		if ev.ID == "" || seen[ev.ID] || ev.Type != sdk.EventAgentMessage || ev.SessionID != readSession || ev.Ref != e.ref {
			t.Errorf("event %+v: want a unique id, an agent message, the session and its ticket", ev)
		}
		seen[ev.ID] = true
	}
}

// An agent reply that arrives by webhook and by read is one event: same id,
// same shape.
func TestReadSessionMatchesTheWebhook(t *testing.T) {
	e := newReadEnv(t)
	m := e.reply(t, "Hi Jane, Alex here & happy to help #1")
	e.idle(t)
	hooked := e.hooks.Events(t)
	if len(hooked) != 1 || hooked[0].ID != fmt.Sprintf("gorgias-message-%d", m.ID) {
		t.Fatalf("webhook events %+v, want the reply", hooked)
	}
	read := e.read(t, "")
	if diff := cmp.Diff(hooked, read.Events); diff != "" {
		t.Errorf("(-webhook +read):\n%s", diff)
	}
}

// The sign-off macro (its text, then the ticket closed) read back: the
// sign-off as the webhook gives it, then Closed.
func TestReadSessionSignOffAndClose(t *testing.T) {
	e := newReadEnv(t)
	e.sb.DropWebhooks()
	e.reply(t, "anything else?")
	first := e.read(t, "")
	if _, err := e.sb.ApplyMacro(e.ticket, "", sandbox.MacroSignOffAndClose); err != nil {
		t.Fatal(err)
	}
	res := e.read(t, first.Cursor)
	if !res.Closed {
		t.Errorf("a closed ticket read as open")
	}
	if len(res.Events) != 1 || !strings.Contains(res.Events[0].Message.PlainText(), "LIVECHAT_SESSION_END") {
		t.Fatalf("events %+v, want the sign-off", res.Events)
	}
	e.idle(t)
	e.sb.ClearWebhookFaults()
	for _, d := range e.sb.DroppedWebhooks() {
		if d.EventType == sandbox.TriggerTicketMessageCreated {
			if _, err := e.sb.Redeliver(d.EventID); err != nil {
				t.Fatal(err)
			}
			e.idle(t)
		}
	}
	hooked := e.hooks.Events(t)
	if diff := cmp.Diff(hooked[len(hooked)-1], res.Events[0]); diff != "" {
		t.Errorf("sign-off (-webhook +read):\n%s", diff)
	}

	// A ticket closed without a message; a ticket deleted.
	if _, err := e.sb.OpenTicket(e.ticket, ""); err != nil {
		t.Fatal(err)
	}
	if res := e.read(t, res.Cursor); res.Closed || len(res.Events) != 0 {
		t.Errorf("reopened: %+v", res)
	}
	if _, err := e.sb.CloseTicket(e.ticket, ""); err != nil {
		t.Fatal(err)
	}
	if res := e.read(t, res.Cursor); !res.Closed || len(res.Events) != 0 {
		t.Errorf("closed by the agent: %+v", res)
	}
}

func TestReadSessionRefusesBadInput(t *testing.T) {
	e := newReadEnv(t)
	tests := []struct {
		name string
		req  sdk.ReadRequest
		kind sdk.ErrorKind
		says string
	}{
		{"bad cursor", sdk.ReadRequest{Bot: "shop", SessionID: readSession, Ref: e.ref, Cursor: "yesterday"}, sdk.KindInvalid, "cursor"},
		{"bad ref", sdk.ReadRequest{Bot: "shop", SessionID: readSession, Ref: "T-1"}, sdk.KindInvalid, "ticket id"},
		{"another session's ticket", sdk.ReadRequest{Bot: "shop", SessionID: "s-other", Ref: e.ref}, sdk.KindInvalid, "s-other"},
		{"unknown bot", sdk.ReadRequest{Bot: "nobody", SessionID: readSession, Ref: e.ref}, sdk.KindNotFound, "nobody"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.p.ReadSession(e.ctx, tc.req)
			checkKind(t, err, tc.kind)
			if err != nil && !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %q does not say %q", err, tc.says)
			}
			if err != nil && strings.Contains(err.Error(), sandbox.DefaultAPIKey) {
				t.Errorf("error %q shows the API key", err)
			}
		})
	}
	// A ticket deleted on the platform is NotFound: the host fails the
	// session, as it does when a send finds the ticket gone.
	if err := deleteTicket(e.sb, e.ticket); err != nil {
		t.Fatal(err)
	}
	res, err := e.p.ReadSession(e.ctx, sdk.ReadRequest{Bot: "shop", SessionID: readSession, Ref: e.ref})
	if sdk.KindOf(err) != sdk.KindNotFound {
		t.Errorf("deleted ticket: %+v, %v; want NotFound", res, err)
	}
}

func deleteTicket(sb *sandbox.Sandbox, id int64) error {
	req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("%stickets/%d", sb.BaseURL(), id), nil)
	req.SetBasicAuth(sandbox.DefaultEmail, sandbox.DefaultAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("DELETE ticket: %s", resp.Status)
	}
	return nil
}

func TestInfoRateLimit(t *testing.T) {
	if got, want := Info.RateLimit, (sdk.RateLimit{Calls: 40, Per: 20 * time.Second}); got != want {
		t.Errorf("Info.RateLimit %v, want %v", got, want)
	}
}

// Issue 11, point 5: the user leaving is told to the agent in the ticket,
// in an internal note the user never gets back, once however often the
// host retries the end.
func TestUserLeftNote(t *testing.T) {
	e := newReadEnv(t)
	end := sdk.EndRequest{Bot: "shop", SessionID: readSession, Ref: e.ref, Reason: sdk.EndUser, IdempotencyKey: "end-1"}
	for range 2 { // a retried end
		if err := e.p.EndSession(e.ctx, end); err != nil {
			t.Fatalf("end: %v", err)
		}
	}
	e.idle(t)
	tk, err := e.sb.Ticket(e.ticket)
	if err != nil {
		t.Fatal(err)
	}
	var notes []sandbox.Message
	for _, m := range tk.Messages {
		if strings.Contains(string(m.BodyText), "left the chat") {
			notes = append(notes, m)
		}
	}
	if len(notes) != 1 {
		t.Fatalf("%d notes saying the user left, want 1: %+v", len(notes), tk.Messages)
	}
	if n := notes[0]; n.Public || n.Channel != "internal-note" {
		t.Errorf("the note is public %v on channel %q, want an internal note", n.Public, n.Channel)
	}
	if tk.Status != "closed" {
		t.Errorf("ticket %s, want closed", tk.Status)
	}
	// The note was added before the ticket closed: an agent reading the
	// closed ticket sees why.
	if tk.ClosedDatetime == nil || notes[0].CreatedDatetime.After(tk.ClosedDatetime.Time) {
		t.Errorf("note at %v, closed at %v", notes[0].CreatedDatetime, tk.ClosedDatetime)
	}
	// Its webhook (it was delivered) and a read give the user nothing.
	for _, ev := range e.hooks.Events(t) {
		if ev.Type == sdk.EventAgentMessage {
			t.Errorf("webhook event %+v reaches the user", ev)
		}
	}
	if res := e.read(t, ""); len(res.Events) != 0 || !res.Closed {
		t.Errorf("read after the user left: %+v", res)
	}

	// Other reasons write no such note.
	e2 := newReadEnvSession(t, e, "s-expired")
	if err := e.p.EndSession(e.ctx, sdk.EndRequest{Bot: "shop", SessionID: "s-expired", Ref: e2, Reason: sdk.EndAdmin, IdempotencyKey: "end-2"}); err != nil {
		t.Fatal(err)
	}
	tk2, _ := e.sb.Ticket(mustRef(t, e2))
	for _, m := range tk2.Messages {
		if strings.Contains(string(m.BodyText), "left the chat") {
			t.Errorf("an admin end wrote %q", m.BodyText)
		}
	}
}

// newReadEnvSession starts another session on e's plugin and sandbox.
func newReadEnvSession(t *testing.T, e *readEnv, session string) string {
	t.Helper()
	res, err := e.p.StartSession(e.ctx, sdk.StartRequest{Bot: "shop", SessionID: session, IdempotencyKey: "start-" + session,
		User: sdk.User{ID: "u2"}})
	if err != nil {
		t.Fatalf("start %s: %v", session, err)
	}
	return res.Ref
}

// A ticket that embeds fewer messages than it has is paged through
// GET /api/messages, 100 at a time, and read the same.
func TestReadSessionPagesALongTicket(t *testing.T) {
	sb := sandbox.Start(t, sandbox.Options{BucketCapacity: -1, TicketMessages: 30})
	p := New(WithLogger(discard{}))
	ctx := context.Background()
	if err := p.Configure(ctx, "shop", sdk.Config{"base_url": sb.BaseURL(), "email": sandbox.DefaultEmail, "api_key": sandbox.DefaultAPIKey}, nil); err != nil {
		t.Fatal(err)
	}
	ref := start(t, p, readSession, sdk.User{ID: "u1"})
	tid := mustRef(t, ref)
	var want []string
	for i := range 150 {
		want = append(want, fmt.Sprintf("reply %d", i))
		if _, err := sb.Reply(tid, "", want[i]); err != nil {
			t.Fatal(err)
		}
	}
	before := len(sb.Requests())
	res, err := p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: readSession, Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, texts(res.Events)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var calls []string
	for _, r := range sb.Requests()[before:] {
		calls = append(calls, r.Method+" "+r.Path)
	}
	wantCalls := []string{"GET /api/tickets/" + ref, "GET /api/messages", "GET /api/messages"} // 151 messages: two pages
	if diff := cmp.Diff(wantCalls, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	// From the returned cursor, nothing; from one in the middle, the rest.
	if res, err := p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: readSession, Ref: ref, Cursor: res.Cursor}); err != nil || len(res.Events) != 0 {
		t.Errorf("read at the end: %d events, %v", len(res.Events), err)
	}
	mid := strings.TrimPrefix(res.Events[99].ID, "gorgias-message-")
	rest, err := p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: readSession, Ref: ref, Cursor: mid})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[100:], texts(rest.Events)); diff != "" {
		t.Errorf("from the 100th (-want +got):\n%s", diff)
	}
}
