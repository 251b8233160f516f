package zendesk

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/webhook"
)

// zdHooked collects what the fake's webhooks give through HandleWebhook.
func zdHooked(t *testing.T, e *zdEnv, ticket int64) []sdk.Event {
	t.Helper()
	var out []sdk.Event
	for _, d := range e.zd.Deliveries() {
		if d.TicketID != ticket {
			continue
		}
		ts := webhook.Zendesk.Timestamp(time.Now())
		res, err := e.p.HandleWebhook(e.ctx, sdk.WebhookRequest{Bot: "shop", Body: d.Body, Header: map[string][]string{
			"X-Zendesk-Webhook-Signature-Timestamp": {ts}, "X-Zendesk-Webhook-Signature": {webhook.Zendesk.Sign(e.zd.Secret(), ts, d.Body)}}})
		if err != nil {
			t.Fatalf("delivery %s: %v", d.ID, err)
		}
		out = append(out, res.Events...)
	}
	return out
}

func (e *zdEnv) read(t *testing.T, ticket int64, cursor string) sdk.ReadResult {
	t.Helper()
	res, err := e.p.ReadSession(e.ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: strconv.FormatInt(ticket, 10), Cursor: cursor})
	if err != nil {
		t.Fatalf("read from %q: %v", cursor, err)
	}
	return res
}

func zdIDs(evs []sdk.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID+"="+e.Message.PlainText())
	}
	return out
}

// ReadSession gives the agents' public comments with the ids and texts
// the webhook gives them, oldest first, nothing else, and goes on from its
// cursor.
func TestZendeskReadSession(t *testing.T) {
	e := newZDEnv(t, nil)
	e.zd.DropWebhooks(true) // the deliveries are still recorded, for zdHooked
	id := e.start(t, "s1", "hello")
	if _, err := e.zd.AgentReply(id, "Ann", "one"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.zd.PrivateNote(id, "Ann", "note"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.zd.ApplyMacro(id, "Bob", "Live chat: sign off"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.send(t, "s1", id, "thanks", "k1"); err != nil {
		t.Fatal(err)
	}
	first := e.read(t, id, "")
	hooked := zdHooked(t, e, id)
	if !slices.Equal(zdIDs(first.Events), zdIDs(hooked)) || len(first.Events) != 2 {
		t.Fatalf("read %q\nwebhooks %q", zdIDs(first.Events), zdIDs(hooked))
	}
	if a := first.Events[1].Message.Author; a.Type != sdk.AuthorAgent || a.Name != "Bob" || !strings.HasSuffix(first.Events[1].Message.PlainText(), "LIVECHAT_SESSION_END") {
		t.Errorf("sign-off event %+v", first.Events[1])
	}
	if first.Closed || first.Cursor == "" {
		t.Errorf("first read: closed %v cursor %q", first.Closed, first.Cursor)
	}
	// Nothing new: no events, the cursor stays.
	if again := e.read(t, id, first.Cursor); len(again.Events) != 0 || again.Cursor != "" {
		t.Errorf("read again: %+v", again)
	}
	if _, err := e.zd.AgentReply(id, "Ann", "two"); err != nil {
		t.Fatal(err)
	}
	if err := e.zd.Solve(id, "Ann"); err != nil {
		t.Fatal(err)
	}
	next := e.read(t, id, first.Cursor)
	if got := zdIDs(next.Events); len(got) != 1 || !strings.HasSuffix(got[0], "=two") || !next.Closed {
		t.Errorf("after a reply and the solve: %q closed %v", got, next.Closed)
	}
	// Two calls a read.
	before := len(e.zd.Requests())
	e.read(t, id, next.Cursor)
	if n := len(e.zd.Requests()) - before; n != 2 {
		t.Errorf("a read made %d calls, want 2", n)
	}
}

// Past a page of comments, the read follows the cursor pages and still
// returns every new reply, in order.
func TestZendeskReadSessionPages(t *testing.T) {
	e := newZDEnv(t, nil)
	id := e.start(t, "s1")
	var want []string
	for i := range 130 {
		text := "reply " + strconv.Itoa(i)
		want = append(want, text)
		if _, err := e.zd.AgentReply(id, "Ann", text); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, ev := range e.read(t, id, "").Events {
		got = append(got, ev.Message.PlainText())
	}
	if !slices.Equal(got, want) {
		t.Errorf("read %d replies, want %d in order", len(got), len(want))
	}
}

func TestZendeskReadSessionRefusals(t *testing.T) {
	e := newZDEnv(t, nil)
	id := e.start(t, "s1")
	ref := strconv.FormatInt(id, 10)
	for what, req := range map[string]sdk.ReadRequest{
		"another session": {Bot: "shop", SessionID: "s2", Ref: ref},
		"a bad cursor":    {Bot: "shop", SessionID: "s1", Ref: ref, Cursor: "x"},
		"a bad ref":       {Bot: "shop", SessionID: "s1", Ref: "ticket"},
	} {
		if _, err := e.p.ReadSession(e.ctx, req); err == nil || sdk.KindOf(err) != sdk.KindInvalid {
			t.Errorf("%s: %v, want permanent", what, err)
		}
	}
	if _, err := e.p.ReadSession(e.ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: "999"}); sdk.KindOf(err) != sdk.KindNotFound {
		t.Errorf("a deleted ticket: %v", err)
	}
}
