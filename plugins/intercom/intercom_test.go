package intercom_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/intercom"
	"github.com/livechatd/livechatd/plugins/intercom/fake"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// icClock is a settable clock; sleeping moves it.
type icClock struct {
	mu     sync.Mutex
	now    time.Time
	slept  []time.Duration
	frozen bool
}

func (c *icClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return c.now
	}
	return time.Now()
}

func (c *icClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return nil
}

// icWorld is an in-process provider on a fake workspace, with a host that
// keeps plugin state as livechatd does.
type icWorld struct {
	t     *testing.T
	ic    *fake.Server
	p     *intercom.Provider
	host  *sdktest.Host
	clock *icClock
}

func icNew(t *testing.T, o fake.Options) *icWorld {
	t.Helper()
	w := &icWorld{t: t, clock: &icClock{}, host: sdktest.NewHost()}
	if o.Now == nil {
		o.Now = w.clock.Now
	}
	w.ic = fake.New(t, o)
	w.p = intercom.New(intercom.Options{Now: w.clock.Now, Sleep: w.clock.Sleep})
	if err := w.p.Configure(context.Background(), "shop", w.config(), w.host); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *icWorld) config() sdk.Config {
	return sdk.Config{"base_url": w.ic.URL, "access_token": w.ic.Token(), "client_secret": w.ic.ClientSecret(),
		"admin_id": fake.DefaultAdminID, "app_id": w.ic.AppID(), "api_version": intercom.APIVersion}
}

var icUser = sdk.User{ID: "u1", Metadata: map[string]any{"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com"}}

func (w *icWorld) start(session string) string {
	w.t.Helper()
	w.host.AddSession("shop", session)
	res, err := w.p.StartSession(context.Background(), sdk.StartRequest{Bot: "shop", SessionID: session, User: icUser,
		Transcript: []sdk.Message{sdk.Text("help")}, IdempotencyKey: "start-" + session})
	if err != nil {
		w.t.Fatal(err)
	}
	return res.Ref
}

func (w *icWorld) send(session, ref, text, key string) (string, error) {
	res, err := w.p.SendMessage(context.Background(), sdk.SendRequest{Bot: "shop", SessionID: session, Ref: ref, User: icUser,
		Message: sdk.Text(text), IdempotencyKey: key})
	return res.PlatformMessageID, err
}

// TestIntercomSendAnswerLost: Intercom posts the reply and its answer is
// lost (a 502 after the write); the retry with the same key finds the
// reply instead of posting it again, and a later message with the same
// text is still posted.
func TestIntercomSendAnswerLost(t *testing.T) {
	w := icNew(t, fake.Options{})
	ref := w.start("s1")
	w.ic.Fail(fake.Fault{Method: http.MethodPost, Path: "/reply", Status: http.StatusBadGateway, Times: 1, Lost: true})
	if _, err := w.send("s1", ref, "ok", "k1"); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("lost answer: %v, want a retryable error", err)
	}
	id, err := w.send("s1", ref, "ok", "k1")
	if err != nil || id == "" {
		t.Fatalf("retry: %q, %v", id, err)
	}
	again, err := w.send("s1", ref, "ok", "k1")
	if err != nil || again != id {
		t.Errorf("second retry: %q, %v; want %q", again, err, id)
	}
	if _, err := w.send("s1", ref, "ok", "k2"); err != nil {
		t.Fatal(err)
	}
	// Intercom stores a paragraph a line: the retry still knows its text.
	w.ic.Fail(fake.Fault{Method: http.MethodPost, Path: "/reply", Status: http.StatusBadGateway, Times: 1, Lost: true})
	if _, err := w.send("s1", ref, "line one\n\n  line two", "k3"); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("lost answer: %v", err)
	}
	if _, err := w.send("s1", ref, "line one\n\n  line two", "k3"); err != nil {
		t.Fatal(err)
	}
	if got := w.ic.UserTexts(ref); !slices.Equal(got, []string{"ok", "ok", "line one\n  line two"}) {
		t.Errorf("user replies = %q, want: k1 once, k2, k3 once", got)
	}
}

// TestIntercomStartAnswerLost: POST /conversations and POST /contacts
// take effect and their answers are lost; the retried start finds the
// contact (409 names it) and the conversation (by the session's marker)
// and opens nothing twice.
func TestIntercomStartAnswerLost(t *testing.T) {
	w := icNew(t, fake.Options{})
	w.host.AddSession("shop", "s1")
	req := sdk.StartRequest{Bot: "shop", SessionID: "s1", User: icUser, IdempotencyKey: "start-s1",
		Messages: []sdk.Message{sdk.Text("waiting")}}
	for _, path := range []string{"/contacts", "/conversations"} {
		w.ic.Fail(fake.Fault{Method: http.MethodPost, Path: path, Status: http.StatusGatewayTimeout, Times: 1, Lost: true})
		if _, err := w.p.StartSession(context.Background(), req); sdk.KindOf(err) != sdk.KindUnavailable {
			t.Fatalf("answer of POST %s lost: %v, want retryable", path, err)
		}
		// A new process: the contact id is not known yet on the
		// first retry.
		w.host = sdktest.NewHost()
		w.host.AddSession("shop", "s1")
		if err := w.p.Configure(context.Background(), "shop", w.config(), w.host); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.p.StartSession(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(w.ic.Contacts()); n != 1 {
		t.Errorf("%d contacts", n)
	}
	if cvs := w.ic.Conversations(); len(cvs) != 1 || cvs[0].ID != res.Ref {
		t.Errorf("conversations = %+v, ref %q", cvs, res.Ref)
	}
	if got := w.ic.UserTexts(res.Ref); !slices.Equal(got, []string{"waiting"}) {
		t.Errorf("user replies = %q", got)
	}
}

// TestIntercomUnverifiedUserOwnContact: an unverified user typing the
// email of the site's customer gets a contact of their own, without that
// email; a verified one is the site's contact.
func TestIntercomUnverifiedUserOwnContact(t *testing.T) {
	w := icNew(t, fake.Options{})
	w.start("s1")
	verified := icUser
	verified.ID, verified.Verified = "u2", true
	w.host.AddSession("shop", "s2")
	if _, err := w.p.StartSession(context.Background(), sdk.StartRequest{Bot: "shop", SessionID: "s2", User: verified, IdempotencyKey: "k"}); err != nil {
		t.Fatal(err)
	}
	cs := w.ic.Contacts()
	if len(cs) != 2 || cs[0].ExternalID != "livechat:shop:u1" || cs[0].Email != "" || cs[0].Name != "Jane Doe" ||
		cs[1].ExternalID != "u2" || cs[1].Email != "jane@example.com" {
		t.Errorf("contacts = %+v", cs)
	}
	cv := w.ic.Conversations()[0]
	if body := fake.Text(cv.Body); !strings.Contains(body, "Unverified details (typed by the user):\nemail: jane@example.com") {
		t.Errorf("first message = %q", body)
	}
}

// TestIntercomRateLimitResetBecomesRetryAfter: Intercom's 429 has no
// Retry-After, only X-RateLimit-Reset; the plugin waits it out twice
// inside the call, then tells the host to come back at the reset.
func TestIntercomRateLimitResetBecomesRetryAfter(t *testing.T) {
	w := icNew(t, fake.Options{})
	ref := w.start("s1")
	w.clock.mu.Lock()
	w.clock.now, w.clock.frozen = time.Unix(1_800_000_003, 0), true // 7 s before the window's end
	w.clock.mu.Unlock()
	w.ic.Fail(fake.Fault{Method: http.MethodPost, Path: "/reply", Status: http.StatusTooManyRequests})
	_, err := w.send("s1", ref, "hello", "k1")
	// At :03 the window resets at :10 (8 s, rounded up); waited, the next
	// try at :11 meets the window ending at :20 (10 s), and so does the
	// third, at :21, which the host is told.
	retry, after := sdk.IsRetryable(err)
	if sdk.KindOf(err) != sdk.KindRateLimited || !retry || after != 10*time.Second {
		t.Fatalf("error %v (kind %v), retry after %s; want rate limited, after 10 s, when the window resets", err, sdk.KindOf(err), after)
	}
	w.clock.mu.Lock()
	slept := slices.Clone(w.clock.slept)
	w.clock.mu.Unlock()
	if !slices.Equal(slept, []time.Duration{8 * time.Second, 10 * time.Second}) {
		t.Errorf("waited %v inside the call, want [8s 10s]: until each X-RateLimit-Reset", slept)
	}
	if !strings.Contains(err.Error(), "rate_limit_exceeded") {
		t.Errorf("error %q does not say Intercom's code", err)
	}
	if n := w.ic.Count(http.MethodPost, "/reply", http.StatusTooManyRequests); n != 3 {
		t.Errorf("%d tries answered 429, want 3 (two waited out inside the call)", n)
	}
	w.ic.Heal()
	if _, err := w.send("s1", ref, "hello", "k1"); err != nil {
		t.Fatal(err)
	}
	if got := w.ic.UserTexts(ref); !slices.Equal(got, []string{"hello"}) {
		t.Errorf("user replies = %q", got)
	}
}

// TestIntercomReadSession: the agents' messages after the cursor, with
// the webhook's ids; notes, the user's replies and empty parts left out.
func TestIntercomReadSession(t *testing.T) {
	w := icNew(t, fake.Options{})
	ref := w.start("s1")
	ctx := context.Background()
	read := func(cursor string) sdk.ReadResult {
		t.Helper()
		res, err := w.p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: ref, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := read("")
	if len(first.Events) != 0 || first.Closed || first.Cursor != "" {
		t.Errorf("empty conversation: %+v", first)
	}
	a := w.ic.AgentReply(ref, "Ann", "one")
	w.ic.AgentNote(ref, "Ann", "note")
	if _, err := w.send("s1", ref, "user text", "k1"); err != nil {
		t.Fatal(err)
	}
	b := w.ic.AgentReply(ref, "Ann", "two")
	res := read("")
	if len(res.Events) != 2 || res.Events[0].ID != "part:"+a.ID || res.Events[1].ID != "part:"+b.ID ||
		res.Events[1].Message.PlainText() != "two" || res.Events[0].Message.Author.Name != "Ann" || res.Cursor != b.ID || res.Closed {
		t.Fatalf("read = %+v", res)
	}
	again := read(res.Cursor)
	if len(again.Events) != 0 || again.Cursor != "" {
		t.Errorf("read after the cursor = %+v", again)
	}
	w.ic.Close(ref, "Ann")
	if closed := read(res.Cursor); !closed.Closed || len(closed.Events) != 0 {
		t.Errorf("after the close: %+v", closed)
	}
	if _, err := w.p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: "99999"}); sdk.KindOf(err) != sdk.KindNotFound {
		t.Errorf("a conversation Intercom does not have: %v, want NotFound", err)
	}
	if _, err := w.p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: ref, Cursor: "x"}); sdk.KindOf(err) != sdk.KindInvalid {
		t.Errorf("a bad cursor: %v, want Permanent", err)
	}
}

// TestIntercomEndSession: closed by the configured admin; closing again,
// or a conversation Intercom no longer has, succeeds.
func TestIntercomEndSession(t *testing.T) {
	w := icNew(t, fake.Options{})
	ref := w.start("s1")
	end := func(reason sdk.EndReason, ref string) error {
		return w.p.EndSession(context.Background(), sdk.EndRequest{Bot: "shop", SessionID: "s1", Ref: ref, Reason: reason, IdempotencyKey: "e"})
	}
	if err := end(sdk.EndUser, ref); err != nil {
		t.Fatal(err)
	}
	cv, _ := w.ic.Conversation(ref)
	if n := len(cv.Parts); cv.State != "closed" || n != 2 || cv.Parts[0].PartType != "note" || !strings.Contains(fake.Text(cv.Parts[0].Body), "The user left the live chat") ||
		cv.Parts[1].PartType != "close" || cv.Parts[1].Author.ID != fake.DefaultAdminID {
		t.Errorf("conversation = %+v, want a note saying why, then the close", cv)
	}
	// Retried with the same key: no second note, no second close.
	if err := end(sdk.EndUser, ref); err != nil {
		t.Errorf("closing a closed conversation: %v", err)
	}
	if again, _ := w.ic.Conversation(ref); len(again.Parts) != 2 {
		t.Errorf("after a retried end: %+v", again.Parts)
	}
	// The agent closed it: nothing added, not even a look's worth of close.
	ref2 := w.start("s2")
	w.ic.Close(ref2, "Ann")
	if err := w.p.EndSession(context.Background(), sdk.EndRequest{Bot: "shop", SessionID: "s2", Ref: ref2, Reason: sdk.EndAgent, IdempotencyKey: "e2"}); err != nil {
		t.Fatal(err)
	}
	if cv2, _ := w.ic.Conversation(ref2); len(cv2.Parts) != 1 {
		t.Errorf("after the agent's close: %+v", cv2.Parts)
	}
	if err := end(sdk.EndExpired, "424242"); err != nil {
		t.Errorf("closing a conversation Intercom no longer has: %v", err)
	}
	if err := end(sdk.EndUser, "not-a-ref"); sdk.KindOf(err) != sdk.KindInvalid {
		t.Errorf("bad ref: %v", err)
	}
}

func TestIntercomValidateConfig(t *testing.T) {
	p := intercom.New(intercom.Options{})
	diags := p.ValidateConfig(context.Background(), "shop", sdk.Config{"access_token": " ", "client_secret": "", "admin_id": "ann",
		"base_url": "ftp://x"})
	var attrs []string
	for _, d := range diags {
		attrs = append(attrs, d.Attribute)
	}
	if want := []string{"access_token", "client_secret", "admin_id", "base_url"}; !slices.Equal(attrs, want) {
		t.Errorf("diagnostics on %q, want %q: %v", attrs, want, diags)
	}
	err := p.Configure(context.Background(), "shop", sdk.Config{"access_token": "tok-secret-value", "client_secret": "cs", "admin_id": "x1"}, sdktest.NewHost())
	if sdk.KindOf(err) != sdk.KindInvalid || !strings.Contains(err.Error(), "admin_id") || strings.Contains(err.Error(), "tok-secret-value") {
		t.Errorf("Configure with a bad admin_id: %v", err)
	}
	var info map[string]any
	b, _ := json.Marshal(intercom.Info)
	_ = json.Unmarshal(b, &info)
	if intercom.Info.Name != "intercom" || intercom.Info.RateLimit.Calls != 1666 || intercom.Info.RateLimit.Per != 10*time.Second {
		t.Errorf("info = %v", info)
	}
}

func TestIntercomStartNeedsUserID(t *testing.T) {
	w := icNew(t, fake.Options{})
	w.host.AddSession("shop", "s1")
	_, err := w.p.StartSession(context.Background(), sdk.StartRequest{Bot: "shop", SessionID: "s1", IdempotencyKey: "k"})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindInvalid || !strings.Contains(err.Error(), "user.id") {
		t.Errorf("start without a user id: %v", err)
	}
}
