package chatwoot_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
	"github.com/livechatd/livechatd/sdk"
)

// Issue 11: Chatwoot sends an account webhook once and never retries it,
// so a reply whose webhook livechatd missed is only found by reading the
// conversation back (ReadSession).

// webhookEvents is what the plugin makes of the webhooks the fake made
// (dropped ones included) of conversation conv's messages: the events
// the webhook path would have given.
func webhookEvents(t *testing.T, f *fake.Server, handle func(sdk.WebhookRequest) (sdk.WebhookResult, error), conv int64) []sdk.Event {
	t.Helper()
	var out []sdk.Event
	for _, d := range f.Deliveries() {
		if d.Event != "message_created" || d.ConversationID != conv {
			continue
		}
		res, err := handle(sdk.WebhookRequest{Bot: "shop", Method: http.MethodPost, Body: d.Body,
			Header: map[string][]string{"X-Chatwoot-Delivery": {d.ID}}})
		if err != nil {
			t.Fatalf("webhook of message %d: %v", d.MessageID, err)
		}
		out = append(out, res.Events...)
	}
	return out
}

// TestReadSessionCatchesUpLostWebhooks runs the plugin binary against a
// Chatwoot whose every webhook is lost: ten agent replies, several in the
// same second, come back from ReadSession once each, in order, as the
// events their webhooks would have been; a read from the cursor finds
// nothing new; the agent resolving shows as Closed.
func TestReadSessionCatchesUpLostWebhooks(t *testing.T) {
	clk := newClock()
	f := fake.New(t, fake.Options{Now: clk.Now})
	f.DropWebhooks(fake.WebhookRule{})
	p, ctx := launchChatwoot(t, f)
	if !slices.Contains(p.Info.Capabilities, sdk.CapReadSession) {
		t.Errorf("capabilities = %v, want read_session", p.Info.Capabilities)
	}
	start, err := p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1", User: jane, Transcript: transcript, IdempotencyKey: "start:s1"})
	if err != nil {
		t.Fatal(err)
	}
	conv := conversationOf(t, f, start.Ref).ID
	read := func(cursor string) sdk.ReadResult {
		t.Helper()
		res, err := p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: start.Ref, User: jane, Cursor: cursor})
		if err != nil {
			t.Fatalf("read from %q: %v", cursor, err)
		}
		return res
	}
	if res := read(""); len(res.Events) != 0 || res.Closed {
		t.Fatalf("first read of a new conversation: %+v", res)
	}

	if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: start.Ref, User: jane, Message: sdk.Text("hello?"), IdempotencyKey: "k1"}); err != nil {
		t.Fatal(err)
	}
	f.PrivateNote(conv, "Ann Agent", "VIP")
	var want []string
	for i := 1; i <= 10; i++ {
		if i%4 == 0 {
			clk.Set(clk.Now().Add(time.Second)) // three or four replies a second
		}
		text := fmt.Sprintf("reply %d", i)
		if i == 7 {
			f.AgentReplyWith(conv, "Ann Agent", text, fake.Attachment{FileType: "image", DataURL: "https://cw.example/label.png"})
			want = append(want, text, "https://cw.example/label.png")
			continue
		}
		f.AgentReply(conv, "Ann Agent", text)
		want = append(want, text)
	}
	f.WaitIdle(t)
	for _, d := range f.Deliveries() {
		if len(d.Attempts) != 0 || !d.Dropped {
			t.Fatalf("delivery %s (%s) was sent: %+v", d.ID, d.Event, d)
		}
	}

	before := len(f.Requests())
	res := read("")
	if n := len(f.Requests()) - before; n != 2 {
		t.Errorf("a read made %d calls to Chatwoot, want 2", n)
	}
	var got []string
	for _, ev := range res.Events {
		got = append(got, ev.Message.PlainText())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("agent messages read (-want +got):\n%s", diff)
	}
	hooks := webhookEvents(t, f, func(r sdk.WebhookRequest) (sdk.WebhookResult, error) { return p.HandleWebhook(ctx, r) }, conv)
	if diff := cmp.Diff(hooks, res.Events, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("read events differ from the webhook's (-webhook +read):\n%s", diff)
	}
	for _, ev := range res.Events {
		if ev.SessionID != "s1" || ev.Ref != start.Ref || ev.Message.Author != (sdk.Author{Type: sdk.AuthorAgent, Name: "Ann Agent", ID: ev.Message.Author.ID}) {
			t.Errorf("event %+v", ev)
		}
	}
	ms := f.Messages(conv)
	if res.Cursor != itoa(ms[len(ms)-1].ID) || res.Closed {
		t.Errorf("cursor %q closed %v, want the last message %d, open", res.Cursor, res.Closed, ms[len(ms)-1].ID)
	}

	again := read(res.Cursor)
	if len(again.Events) != 0 || again.Closed || (again.Cursor != "" && again.Cursor != res.Cursor) {
		t.Errorf("read from the cursor: %+v, want nothing new", again)
	}
	// A repeated read from an old cursor finds the same events again
	// (the host drops them as replays).
	if old := read(""); !cmp.Equal(old.Events, res.Events) {
		t.Errorf("a repeated read differs")
	}

	last := f.AgentReply(conv, "Ann Agent", "bye")
	f.Resolve(conv, "Ann Agent")
	closed := read(res.Cursor)
	if !closed.Closed || len(closed.Events) != 1 || closed.Events[0].ID != "message:"+itoa(last.ID) {
		t.Errorf("after the agent resolved: %+v, want the last reply and Closed", closed)
	}
}

// TestReadSessionPages: more than a page of new messages (Chatwoot's
// messages_after answers 100 at a time) is read whole, in order.
func TestReadSessionPages(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "s1", jane)
	e.f.Resolve(conv, "Ann")
	for i := 1; i <= 230; i++ {
		e.f.AgentReply(conv, "Ann", fmt.Sprint(i))
	}
	before := len(e.f.Requests())
	res, err := e.p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: itoa(conv)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.f.Requests()) - before; n != 4 {
		t.Errorf("%d calls, want the conversation and 3 pages", n)
	}
	if len(res.Events) != 230 {
		t.Fatalf("%d events, want 230", len(res.Events))
	}
	for i, ev := range res.Events {
		if ev.Message.PlainText() != fmt.Sprint(i+1) {
			t.Fatalf("event %d is %q", i, ev.Message.PlainText())
		}
	}
	// Agents' replies do not reopen a resolved conversation.
	if !res.Closed {
		t.Errorf("closed = false, want true (resolved before the replies)")
	}
}

// TestReadSessionKeepsWhatPrecedesTheResolve: the status is read before
// the messages, so a reply written just before the agent resolved is in
// the same read as the Closed that ends the session.
func TestReadSessionKeepsWhatPrecedesTheResolve(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "s1", jane)
	e.f.AgentReply(conv, "Ann", "first")
	res, err := e.p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: itoa(conv)})
	if err != nil || len(res.Events) != 1 || res.Closed {
		t.Fatalf("read: %+v %v", res, err)
	}
	n := len(e.f.Requests())
	e.f.AgentReply(conv, "Ann", "last words")
	e.f.Resolve(conv, "Ann")
	res, err = e.p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: itoa(conv), Cursor: res.Cursor})
	if err != nil || !res.Closed || len(res.Events) != 1 || res.Events[0].Message.PlainText() != "last words" {
		t.Fatalf("read: %+v %v", res, err)
	}
	var order []string
	for _, r := range e.f.Requests()[n:] {
		order = append(order, r.Method+" "+strings.TrimPrefix(r.Path, "/conversations/"+itoa(conv)))
	}
	if diff := cmp.Diff([]string{"GET ", "GET /messages"}, order); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestReadSessionErrors(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "s1", jane)
	other := e.start(t, "s2", jane)
	for _, tc := range []struct {
		name   string
		fault  fake.Fault
		ref    string
		cursor string
		kind   sdk.ErrorKind
		says   string
	}{
		{"rate limited without Retry-After", fake.Fault{Method: "GET", Status: 429}, "", "", sdk.KindRateLimited, "429"},
		{"rate limited on the messages", fake.Fault{Method: "GET", Path: "/messages", Status: 429}, "", "", sdk.KindRateLimited, "429"},
		{"token refused", fake.Fault{Status: 401}, "", "", sdk.KindUnauthorized, "401"},
		{"conversation deleted", fake.Fault{}, "999", "", sdk.KindNotFound, "404"},
		{"chatwoot down", fake.Fault{Status: 502}, "", "", sdk.KindUnavailable, "502"},
		{"a cursor that is no message id", fake.Fault{}, "", "abc", sdk.KindInvalid, `cursor "abc"`},
		{"a ref that is no conversation id", fake.Fault{}, "T-1", "", sdk.KindInvalid, `ref "T-1"`},
		{"another session's conversation", fake.Fault{}, itoa(other), "", sdk.KindInvalid, "livechat session"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fault.Status != 0 {
				e.f.Fail(tc.fault)
			}
			ref := tc.ref
			if ref == "" {
				ref = itoa(conv)
			}
			_, err := e.p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: ref, Cursor: tc.cursor})
			kind(t, err, tc.kind)
			if !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), e.f.Token()) {
				t.Errorf("error %q, want it to say %q and never the token", err, tc.says)
			}
			if retry, after := sdk.IsRetryable(err); tc.kind == sdk.KindRateLimited && (!retry || after != 0) {
				t.Errorf("IsRetryable = %v, %s", retry, after)
			}
		})
	}
	t.Run("a foreign account", func(t *testing.T) {
		f := fake.New(t, fake.Options{ForeignAccounts: []int64{2}})
		p := newEnv(t, fake.Options{}).p // a configured provider, then pointed at the foreign account
		if err := p.Configure(ctx, "shop", config(t, f, "account_id", "2", "inbox_id", "1"), nil); sdk.KindOf(err) != sdk.KindUnauthorized || !strings.Contains(err.Error(), "not authorized to access this account") {
			t.Errorf("configure on a foreign account: %v", err)
		}
	})
}
