package chatwoot_test

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
	"github.com/livechatd/livechatd/sdk"
)

// Issue 11, point 4: the plugin against what the real Chatwoot does
// (others.md §6b).

// An inbox locked to a single conversation answers POST /conversations
// with the contact's earlier conversation, resolved or not: a new session
// must never take it over. The plugin refuses, saying which setting to
// turn off, and writes nothing into the old conversation.
func TestLockToSingleConversationIsRefused(t *testing.T) {
	e := newEnv(t, fake.Options{})
	first := e.start(t, "s1", jane)
	e.f.Resolve(first, "Ann")
	e.f.SetLockToSingleConversation(1, true)
	before := len(e.f.Messages(first))

	_, err := e.p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s2", User: jane, Transcript: transcript, IdempotencyKey: "start:s2"})
	kind(t, err, sdk.KindInvalid)
	for _, want := range []string{"lock_to_single_conversation", "Lock to single conversation", "inbox 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	cv, _ := e.f.Conversation(first)
	if n := len(e.f.Messages(first)); n != before || cv.Status != "resolved" || cv.CustomAttributes["livechat_session_id"] != "s1" {
		t.Errorf("the earlier conversation was touched: %d messages (had %d), %+v", n, before, cv)
	}

	// Configured on such an inbox, the bot is refused at once.
	err = newEnv(t, fake.Options{}).p.Configure(ctx, "shop", config(t, e.f, "inbox_id", "1"), nil)
	kind(t, err, sdk.KindInvalid)
	if !strings.Contains(err.Error(), "Lock to single conversation") {
		t.Errorf("configure: %v", err)
	}
}

// A blank search term is a 422 on the real API: never sent. A user with no
// id, email or phone number could never be found again (Chatwoot's search
// finds contacts only by those), so a retried start would make a second
// contact: refused, naming the field.
func TestNoBlankSearch(t *testing.T) {
	e := newEnv(t, fake.Options{})
	_, err := e.p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1", User: sdk.User{Metadata: map[string]any{"name": "Nobody"}}, IdempotencyKey: "k"})
	kind(t, err, sdk.KindInvalid)
	if !strings.Contains(err.Error(), "user.id") {
		t.Errorf("error %q does not name user.id", err)
	}
	// A verified user with an email but no id is found by the email.
	e.f.AddContact(fake.Contact{Name: "Bob", Email: "bob@example.com"})
	c := e.start(t, "s2", sdk.User{Verified: true, Metadata: map[string]any{"email": "bob@example.com"}})
	if cv, _ := e.f.Conversation(c); cv.ContactID != 1 {
		t.Errorf("conversation on contact %d, want Bob's", cv.ContactID)
	}
	for _, r := range e.f.Requests() {
		if r.Status == http.StatusUnprocessableEntity {
			t.Errorf("%s %s answered 422", r.Method, r.Path)
		}
	}
}

// A verified user known to Chatwoot by phone number only is found by it.
func TestVerifiedUserFoundByPhone(t *testing.T) {
	e := newEnv(t, fake.Options{})
	known := e.f.AddContact(fake.Contact{Name: "Jane", PhoneNumber: "+33612345678"})
	conv := e.start(t, "s1", sdk.User{ID: "u7", Verified: true, Metadata: map[string]any{"phone": "+33612345678"}})
	if cv, _ := e.f.Conversation(conv); cv.ContactID != known.ID || len(e.f.Contacts()) != 1 {
		t.Errorf("conversation on contact %d with %d contacts, want %d alone", cv.ContactID, len(e.f.Contacts()), known.ID)
	}
}

// Issue 11, point 5: the user leaving is told to the agent in a private
// note before the conversation is resolved, once however often the end is
// retried.
func TestUserLeftNote(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "s", jane)
	end := func() error {
		return e.p.EndSession(ctx, sdk.EndRequest{Bot: "shop", SessionID: "s", Ref: itoa(conv), Reason: sdk.EndUser, IdempotencyKey: "end:s"})
	}
	e.f.Fail(fake.Fault{Method: http.MethodPost, Path: "/toggle_status", Status: http.StatusBadGateway})
	if err := end(); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("end with toggle_status failing: %v", err)
	}
	for range 2 {
		if err := end(); err != nil {
			t.Fatal(err)
		}
	}
	e.f.WaitStatus(t, conv, "resolved")
	ms := e.f.Messages(conv)
	var notes []string
	resolvedAt := -1
	for i, m := range ms {
		if m.Private {
			notes = append(notes, m.Content)
		}
		if m.MessageType == "activity" && strings.Contains(m.Content, "resolved") {
			resolvedAt = i
		}
	}
	if len(notes) != 2 || !strings.Contains(notes[1], "The customer left the chat") {
		t.Fatalf("notes = %q, want the transcript and one note that the customer left", notes)
	}
	for i, m := range ms {
		if m.Content == notes[1] && i > resolvedAt {
			t.Errorf("the note comes after the resolve: %+v", ms)
		}
	}
}

// The real webhook's sender is User#webhook_data: a name, no
// available_name. The fixture is Chatwoot's body (chatwoot-payloads/),
// signed over its exact bytes, never re-serialised.
func TestWebhookFixtureAsChatwootSendsIt(t *testing.T) {
	const secret = "whsec-1"
	e := newEnv(t, fake.Options{}, "webhook_secret", secret)
	body, err := os.ReadFile("testdata/message_created_outgoing.json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body[strings.LastIndex(string(body), `"sender"`):]), "available_name") {
		t.Fatal("the fixture's sender has available_name; Chatwoot's webhook has none")
	}
	ts := strconv.FormatInt(e.clk.Now().Unix(), 10)
	res, err := e.p.HandleWebhook(ctx, sdk.WebhookRequest{Bot: "shop", Method: http.MethodPost, Body: body, Header: map[string][]string{
		"X-Chatwoot-Timestamp": {ts}, "X-Chatwoot-Signature": {"sha256=" + fake.Sign(secret, ts, body)}, "X-Chatwoot-Delivery": {"d-1"},
	}})
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("webhook: %+v %v", res, err)
	}
	if a := res.Events[0].Message.Author; a.Name != "Ann Agent" || a.ID != "3" {
		t.Errorf("author = %+v, want Ann Agent (sender.name), id 3", a)
	}
	// A sender that still carries available_name (an enterprise fork, a
	// future release) is named the same way, as the API read names it.
	edited := strings.Replace(string(body), `"name": "Ann Agent", "email"`, `"name": "Ann Agent", "available_name": "Ann", "email"`, 1)
	res, err = e.p.HandleWebhook(ctx, sdk.WebhookRequest{Bot: "shop", Method: http.MethodPost, Body: []byte(edited), Header: map[string][]string{
		"X-Chatwoot-Timestamp": {ts}, "X-Chatwoot-Signature": {"sha256=" + fake.Sign(secret, ts, []byte(edited))},
	}})
	if err != nil || len(res.Events) != 1 || res.Events[0].Message.Author.Name != "Ann Agent" {
		t.Errorf("with available_name: %+v %v", res, err)
	}
	if want := time.Date(2026, 1, 19, 10, 15, 30, 0, time.UTC); !res.Events[0].Message.Time.Equal(want) {
		t.Errorf("time = %s, want %s (whole seconds, as the API read gives)", res.Events[0].Message.Time, want)
	}
}
