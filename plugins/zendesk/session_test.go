package zendesk

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/zendesk/fake"
	"github.com/livechatd/livechatd/sdk"
)

func zdUserTexts(e *zdEnv, ticket int64) []string {
	tk, _ := e.zd.Ticket(ticket)
	var out []string
	for _, c := range e.zd.Comments(ticket) {
		if c.AuthorID == tk.RequesterID && c.Public {
			out = append(out, c.Body)
		}
	}
	return out
}

func (e *zdEnv) send(t *testing.T, session string, ticket int64, text, key string) (sdk.SendResult, error) {
	t.Helper()
	return e.p.SendMessage(e.ctx, sdk.SendRequest{Bot: "shop", SessionID: session, Ref: strconv.FormatInt(ticket, 10), Message: sdk.Text(text), IdempotencyKey: key})
}

func TestZendeskStart(t *testing.T) {
	e := newZDEnv(t, sdk.Config{"user_fields": map[string]any{"plan": "plan_level"}, "tags": []any{"livechat", "vip"}})
	e.zd.DefineUserField("plan_level")
	id := e.start(t, "s1", "first", "second")
	tk, _ := e.zd.Ticket(id)
	if tk.ExternalID != "livechat:shop:s1" || tk.Subject != "Live chat with Jane Doe" || tk.Via.Channel != "api" || !slices.Equal(tk.Tags, []string{"livechat", "vip"}) {
		t.Errorf("ticket = %+v", tk)
	}
	u, _ := e.zd.User(tk.RequesterID)
	if u.ExternalID != "" || u.Email != "jane@example.com" || u.UserFields["plan_level"] != "gold" || u.Role != "end-user" {
		t.Errorf("requester = %+v", u)
	}
	cs := e.zd.Comments(id)
	if cs[0].Public || cs[0].AuthorID == tk.RequesterID {
		t.Errorf("the transcript comment %+v must be the API agent's, private", cs[0])
	}
	for _, want := range []string{"session s1", "User details:\n", "  email: jane@example.com\n", "  plan: gold\n",
		"Conversation with the bot before the handoff:\n  User: help\n  Bot: Do you want to talk to a human?\n"} {
		if !strings.Contains(cs[0].Body, want) {
			t.Errorf("transcript comment lacks %q:\n%s", want, cs[0].Body)
		}
	}
	if got := zdUserTexts(e, id); !slices.Equal(got, []string{"first", "second"}) {
		t.Errorf("requester comments = %q", got)
	}
	// A retried start finds the ticket and posts nothing twice.
	if again := e.start(t, "s1", "first", "second"); again != id {
		t.Errorf("retried start: ticket %d, want %d", again, id)
	}
	if n := len(e.zd.Tickets()); n != 1 {
		t.Errorf("%d tickets", n)
	}
	if got := zdUserTexts(e, id); !slices.Equal(got, []string{"first", "second"}) {
		t.Errorf("after a retried start, requester comments = %q", got)
	}
	// Another session of the same user: the same requester, a new ticket.
	id2 := e.start(t, "s2")
	tk2, _ := e.zd.Ticket(id2)
	if id2 == id || tk2.RequesterID != tk.RequesterID {
		t.Errorf("second session: ticket %d requester %d", id2, tk2.RequesterID)
	}
}

// A verified user is the customer Zendesk knows by their email: found by
// it, their external_id (another integration's) left alone.
func TestZendeskVerifiedUserIsTheCustomer(t *testing.T) {
	e := newZDEnv(t, nil)
	known := e.zd.AddUser(fake.User{Name: "Jane D.", Email: "jane@example.com", ExternalID: "crm-4711"})
	id := e.start(t, "s1")
	tk, _ := e.zd.Ticket(id)
	u, _ := e.zd.User(tk.RequesterID)
	if u.ID != known.ID || u.ExternalID != "crm-4711" || u.Name != "Jane Doe" {
		t.Errorf("requester = %+v, want the known customer %d with their external_id", u, known.ID)
	}
	if n := len(e.zd.Users()); n != 2 {
		t.Errorf("%d users, want the admin and Jane", n)
	}
}

// Metadata the channel does not vouch for never attaches the session to a
// customer found by email: the requester is found by the plugin's own
// external_id only, gets no email, and the details are marked unverified.
func TestZendeskUnverifiedUser(t *testing.T) {
	e := newZDEnv(t, nil)
	e.host.AddSession("shop", "s1")
	res, err := e.p.StartSession(e.ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1", IdempotencyKey: "k",
		User: sdk.User{ID: "u9", Metadata: map[string]any{"email": "ops@acme.test", "firstname": "Mallory"}}})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := ticketID(res.Ref)
	tk, _ := e.zd.Ticket(id)
	u, _ := e.zd.User(tk.RequesterID)
	if u.Email != "" || u.Role != "end-user" || u.ExternalID != "livechat:shop:u9" {
		t.Errorf("requester = %+v: an unverified email must not select or change a Zendesk user", u)
	}
	if admin := e.zd.Users()[0]; admin.Email != "ops@acme.test" || admin.Name != "Ops" {
		t.Errorf("the account's admin was changed: %+v", admin)
	}
	if body := e.zd.Comments(id)[0].Body; !strings.Contains(body, "User details (typed by the user, unverified):") {
		t.Errorf("transcript comment = %q", body)
	}
}

func TestZendeskSendOnce(t *testing.T) {
	e := newZDEnv(t, nil)
	id := e.start(t, "s1", "waiting")
	for range 2 {
		if _, err := e.send(t, "s1", id, "hello", "k1"); err != nil {
			t.Fatal(err)
		}
	}
	// The same text again is another message.
	if _, err := e.send(t, "s1", id, "hello", "k2"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(zdUserTexts(e, id), "|"); got != "waiting|hello|hello" {
		t.Errorf("user comments = %q", got)
	}
	if n := e.zd.Count(http.MethodGet, "/audits.json", 0); n != 0 {
		t.Errorf("%d audit reads: with plugin state, sends need no lookup", n)
	}
}

// A try that posted but died before recording it (the plugin killed, the
// answer lost): the retry finds the comment by the key in its audit's
// metadata.
func TestZendeskSendAfterLostAnswer(t *testing.T) {
	e := newZDEnv(t, nil)
	id := e.start(t, "s1")
	// The first try's answer is lost: Zendesk applied the update but the
	// plugin saw a 503.
	e.zd.Fail(fake.Fault{Method: http.MethodPut, Status: http.StatusServiceUnavailable, Times: 1, ApplyFirst: true})
	if _, err := e.send(t, "s1", id, "are you there?", "k1"); err == nil {
		t.Fatal("the lost answer was not an error")
	}
	res, err := e.send(t, "s1", id, "are you there?", "k1")
	if err != nil {
		t.Fatal(err)
	}
	if got := zdUserTexts(e, id); !slices.Equal(got, []string{"are you there?"}) {
		t.Errorf("user comments = %q, want the message once", got)
	}
	if cs := e.zd.Comments(id); res.PlatformMessageID != strconv.FormatInt(cs[len(cs)-1].ID, 10) {
		t.Errorf("message id %s, want the comment's %d", res.PlatformMessageID, cs[len(cs)-1].ID)
	}
}

// Against a host without plugin state, every send first looks for its key
// among the ticket's audits.
func TestZendeskSendWithoutState(t *testing.T) {
	zd := fake.New(t, fake.Options{})
	p := New(Options{})
	cfg := sdk.Config{"base_url": zd.URL, "email": zd.Email(), "api_token": zd.Token(), "webhook_secret": zd.Secret(), "solve_on_end": true}
	if err := p.Configure(context.Background(), "shop", cfg, nil); err != nil {
		t.Fatal(err)
	}
	res, err := p.StartSession(context.Background(), sdk.StartRequest{Bot: "shop", SessionID: "s1", User: zdJane, IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := p.SendMessage(context.Background(), sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: res.Ref, Message: sdk.Text("once"), IdempotencyKey: "k1"}); err != nil {
			t.Fatal(err)
		}
	}
	id, _ := ticketID(res.Ref)
	n := 0
	for _, c := range zd.Comments(id) {
		if c.Body == "once" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d comments \"once\", want 1", n)
	}
}

func TestZendeskEnd(t *testing.T) {
	e := newZDEnv(t, nil)
	id := e.start(t, "s1")
	ref := strconv.FormatInt(id, 10)
	for range 2 {
		if err := e.p.EndSession(e.ctx, sdk.EndRequest{Bot: "shop", SessionID: "s1", Ref: ref, Reason: sdk.EndExpired, IdempotencyKey: "end"}); err != nil {
			t.Fatal(err)
		}
	}
	tk, _ := e.zd.Ticket(id)
	cs := e.zd.Comments(id)
	if tk.Status != "solved" || cs[len(cs)-1].Public || !strings.HasPrefix(cs[len(cs)-1].Body, "The live chat expired") {
		t.Errorf("ticket %s, last comment %+v", tk.Status, cs[len(cs)-1])
	}
	if n := e.zd.Count(http.MethodPut, "/tickets/", 0); n != 1 {
		t.Errorf("%d updates, want one: a solved ticket is left alone", n)
	}
	// A ticket Zendesk no longer knows counts as closed.
	if err := e.p.EndSession(e.ctx, sdk.EndRequest{Bot: "shop", SessionID: "s9", Ref: "999", Reason: sdk.EndUser}); err != nil {
		t.Errorf("ending a deleted ticket: %v", err)
	}
	// solve_on_end = false leaves the ticket to the agents.
	e2 := newZDEnv(t, sdk.Config{"solve_on_end": false})
	id2 := e2.start(t, "s2")
	if err := e2.p.EndSession(e2.ctx, sdk.EndRequest{Bot: "shop", SessionID: "s2", Ref: strconv.FormatInt(id2, 10), Reason: sdk.EndUser}); err != nil {
		t.Fatal(err)
	}
	if tk, _ := e2.zd.Ticket(id2); tk.Status != "new" {
		t.Errorf("solve_on_end false: ticket %s", tk.Status)
	}
}

// Zendesk's answers, classified: a 429 with a long Retry-After goes back to
// the host with it, 401 is Unauthorized and shows no credential, 422
// permanent with Zendesk's message, 503 retryable.
func TestZendeskErrors(t *testing.T) {
	e := newZDEnv(t, nil)
	id := e.start(t, "s1")
	e.zd.Fail(fake.Fault{Method: http.MethodPut, Status: http.StatusTooManyRequests, RetryAfter: 42 * time.Second, Times: 1})
	_, err := e.send(t, "s1", id, "x", "k1")
	if ok, after := sdk.IsRetryable(err); !ok || after != 42*time.Second || sdk.KindOf(err) != sdk.KindRateLimited {
		t.Errorf("429 Retry-After 42: %v (retry %v after %s)", err, ok, after)
	}
	// The 429 holds every call of the account for its Retry-After.
	if _, err := e.send(t, "s1", id, "x", "k1"); sdk.KindOf(err) != sdk.KindRateLimited {
		t.Errorf("right after a 429 of 42s: %v, want rate limited without calling", err)
	}
	e = newZDEnv(t, nil)
	id = e.start(t, "s1")
	e.zd.Fail(fake.Fault{Method: http.MethodPut, Status: http.StatusUnprocessableEntity, Times: 1})
	_, err = e.send(t, "s1", id, "x", "k2")
	if ok, _ := sdk.IsRetryable(err); ok || err == nil || !strings.Contains(err.Error(), "Record validation errors") {
		t.Errorf("422: %v", err)
	}
	e.zd.Fail(fake.Fault{Status: http.StatusServiceUnavailable, RetryAfter: 7 * time.Second, Times: 1})
	_, err = e.send(t, "s1", id, "x", "k3")
	if ok, after := sdk.IsRetryable(err); !ok || after != 7*time.Second {
		t.Errorf("503: %v", err)
	}
	// Zendesk's 409 (two updates of the ticket collided) is tried again.
	e = newZDEnv(t, nil)
	id = e.start(t, "s1")
	e.zd.Fail(fake.Fault{Method: http.MethodPut, Status: http.StatusConflict, Times: 1})
	_, err = e.send(t, "s1", id, "x", "k4")
	if ok, after := sdk.IsRetryable(err); !ok || after != conflictRetry {
		t.Errorf("409: %v, want retryable after %s", err, conflictRetry)
	}
	if _, err := e.send(t, "s1", id, "x", "k4"); err != nil {
		t.Errorf("409 retried: %v", err)
	}
	if got := zdUserTexts(e, id); !slices.Equal(got, []string{"x"}) {
		t.Errorf("after a 409 and its retry: %q", got)
	}
	bad := newZDEnv(t, sdk.Config{"api_token": "wrong-token-value"})
	bad.host.AddSession("shop", "s1")
	_, err = bad.p.StartSession(bad.ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1", User: zdJane, IdempotencyKey: "k"})
	if sdk.KindOf(err) != sdk.KindUnauthorized || strings.Contains(err.Error(), "wrong-token-value") || strings.Contains(err.Error(), bad.zd.Secret()) {
		t.Errorf("401: %v", err)
	}
}

// Short 429s are waited out inside the call; the whole account waits.
func TestZendeskShortRateLimitWaited(t *testing.T) {
	e := newZDEnv(t, nil)
	id := e.start(t, "s1")
	e.zd.Fail(fake.Fault{Status: http.StatusTooManyRequests, RetryAfter: time.Second, Times: 2})
	if _, err := e.send(t, "s1", id, "patience", "k1"); err != nil {
		t.Fatalf("two 429s of a second: %v", err)
	}
	if got := zdUserTexts(e, id); !slices.Equal(got, []string{"patience"}) {
		t.Errorf("user comments = %q", got)
	}
}
