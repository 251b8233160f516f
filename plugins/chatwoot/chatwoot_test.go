package chatwoot_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/plugins/chatwoot"
	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

func TestConformance(t *testing.T) {
	f := fake.New(t, fake.Options{})
	sdktest.Run(t, sdktest.Suite{Binary: binary(t), Config: sdk.Config{
		"base_url": f.URL, "account_id": "1", "api_access_token": f.Token(), "webhook_secret": "whsec-conformance",
	}})
	// Configured twice: one inbox, found the second time.
	if got := f.Inboxes(); len(got) != 1 || got[0].Name != "livechat" || got[0].ChannelType != "Channel::Api" {
		t.Errorf("inboxes = %+v, want one API inbox named livechat", got)
	}
}

func TestInfo(t *testing.T) {
	if len(chatwoot.Info.Webhooks) != 1 {
		t.Fatalf("webhooks = %+v", chatwoot.Info.Webhooks)
	}
	w := chatwoot.Info.Webhooks[0]
	if w.Method != http.MethodPost || !cmp.Equal(w.Triggers, []string{"message_created", "conversation_status_changed", "conversation_updated", "conversation_typing_on", "conversation_typing_off"}) ||
		!strings.Contains(w.Instructions, "Settings › Integrations › Webhooks") {
		t.Errorf("webhook setup = %+v", w)
	}
	for _, name := range []string{"api_access_token", "webhook_secret"} {
		if a, _ := chatwoot.Info.Schema.Attribute(name); !a.Sensitive {
			t.Errorf("%s is not sensitive", name)
		}
	}
}

func TestValidateConfig(t *testing.T) {
	f := fake.New(t, fake.Options{})
	p := chatwoot.New(chatwoot.Options{Logger: nopLogger{}})
	for _, tc := range []struct {
		name string
		kv   []any
		attr string // "" for valid
	}{
		{"valid", nil, ""},
		{"base_url not a URL", []any{"base_url", "chatwoot.example.com"}, "base_url"},
		{"account_id not a number", []any{"account_id", "acme"}, "account_id"},
		{"account_id zero", []any{"account_id", "0"}, "account_id"},
		{"inbox_id not a number", []any{"inbox_id", "web"}, "inbox_id"},
		{"no inbox_name", []any{"inbox_name", " "}, "inbox_name"},
		{"tolerance zero", []any{"timestamp_tolerance", "0s"}, "timestamp_tolerance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diags := p.ValidateConfig(ctx, "shop", config(t, f, tc.kv...))
			if tc.attr == "" {
				if diags.HasErrors() {
					t.Fatalf("diags = %v", diags)
				}
				return
			}
			if len(diags) != 1 || diags[0].Attribute != tc.attr {
				t.Fatalf("diags = %v, want one about %s", diags, tc.attr)
			}
		})
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("ValidateConfig called Chatwoot %d times", n)
	}
}

func TestInbox(t *testing.T) {
	t.Run("created when absent, found after", func(t *testing.T) {
		e := newEnv(t, fake.Options{}, "inbox_name", "Website livechat")
		if err := chatwoot.New(chatwoot.Options{Logger: nopLogger{}}).Configure(ctx, "shop", config(t, e.f, "inbox_name", "Website livechat"), nil); err != nil {
			t.Fatal(err)
		}
		want := []fake.Inbox{{ID: 1, Name: "Website livechat", ChannelType: "Channel::Api", Identifier: "inbox-identifier-1"}}
		if diff := cmp.Diff(want, e.f.Inboxes()); diff != "" {
			t.Errorf("inboxes (-want +got):\n%s", diff)
		}
		if n := e.f.Count(http.MethodPost, "/inboxes"); n != 1 {
			t.Errorf("%d inbox creations", n)
		}
	})
	t.Run("inbox_id is used as is", func(t *testing.T) {
		f := fake.New(t, fake.Options{})
		in := f.AddInbox("Support", "Channel::Api")
		p := chatwoot.New(chatwoot.Options{Logger: nopLogger{}})
		if err := p.Configure(ctx, "shop", config(t, f, "inbox_id", itoa(in.ID)), nil); err != nil {
			t.Fatal(err)
		}
		if len(f.Inboxes()) != 1 || f.Count(http.MethodPost, "/inboxes") != 0 {
			t.Errorf("inboxes = %+v", f.Inboxes())
		}
	})
	for _, tc := range []struct {
		name  string
		setup func(f *fake.Server) []any
		kind  sdk.ErrorKind
		says  string
	}{
		{"inbox_id of a website inbox", func(f *fake.Server) []any {
			return []any{"inbox_id", itoa(f.AddInbox("Website", "Channel::WebWidget").ID)}
		}, sdk.KindInvalid, "API channel"},
		{"inbox_name of a website inbox", func(f *fake.Server) []any {
			f.AddInbox("livechat", "Channel::WebWidget")
			return nil
		}, sdk.KindInvalid, "API channel"},
		{"unknown inbox_id", func(*fake.Server) []any { return []any{"inbox_id", "42"} }, sdk.KindNotFound, "404"},
		{"wrong token", func(*fake.Server) []any { return []any{"api_access_token", "not-the-token"} }, sdk.KindUnauthorized, "Invalid Access Token"},
		{"unknown account", func(*fake.Server) []any { return []any{"account_id", "2"} }, sdk.KindNotFound, "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fake.New(t, fake.Options{})
			kv := tc.setup(f)
			err := chatwoot.New(chatwoot.Options{Logger: nopLogger{}}).Configure(ctx, "shop", config(t, f, kv...), nil)
			kind(t, err, tc.kind)
			if !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "not-the-token") || strings.Contains(err.Error(), f.Token()) {
				t.Errorf("error = %q; want it to say %q and never the token", err, tc.says)
			}
		})
	}
	t.Run("chatwoot down: configured, inbox made at the first start", func(t *testing.T) {
		f := fake.New(t, fake.Options{})
		f.Fail(fake.Fault{Method: http.MethodGet, Path: "/inboxes", Status: http.StatusServiceUnavailable})
		p := chatwoot.New(chatwoot.Options{Logger: nopLogger{}})
		if err := p.Configure(ctx, "shop", config(t, f), nil); err != nil {
			t.Fatalf("configure while chatwoot is down: %v", err)
		}
		if len(f.Inboxes()) != 0 {
			t.Fatal("an inbox was made while listing failed")
		}
		if _, err := p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1", User: jane}); err != nil {
			t.Fatal(err)
		}
		if len(f.Inboxes()) != 1 || len(f.Conversations()) != 1 || f.Conversations()[0].InboxID != f.Inboxes()[0].ID {
			t.Errorf("inboxes %+v conversations %+v", f.Inboxes(), f.Conversations())
		}
	})
}

func TestStartSession(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "sess-1", jane)

	want := []fake.Contact{{ID: 1, Name: "Jane Doe", Email: "jane@example.com", PhoneNumber: "+33612345678", Identifier: "u1",
		CustomAttributes: map[string]any{"plan": "gold"}}}
	if diff := cmp.Diff(want, e.f.Contacts(), ignoreTimes); diff != "" {
		t.Errorf("contacts (-want +got):\n%s", diff)
	}
	cv, _ := e.f.Conversation(conv)
	if cv.InboxID != 1 || cv.ContactID != 1 || cv.Status != "open" || cv.SourceID != e.f.ContactInboxes()[0].SourceID {
		t.Errorf("conversation = %+v", cv)
	}
	wantAttrs := map[string]any{"livechat_session_id": "sess-1", "livechat_bot": "shop", "livechat_user_id": "u1", "livechat_channel_id": "web"}
	if diff := cmp.Diff(wantAttrs, cv.CustomAttributes); diff != "" {
		t.Errorf("custom attributes (-want +got):\n%s", diff)
	}
	notes := messagesOf(e.f, conv, "outgoing", true)
	wantNote := "Conversation with the bot before the handoff:\n\nUser: help\nBot: Do you need some help from a human agent? [Yes, talk to a human!]"
	if len(notes) != 1 || notes[0].Content != wantNote || len(e.f.Messages(conv)) != 1 {
		t.Errorf("messages = %+v\nwant one private note %q", e.f.Messages(conv), wantNote)
	}

	t.Run("a retry opens nothing twice", func(t *testing.T) {
		if got := e.start(t, "sess-1", jane); got != conv {
			t.Errorf("retry gave conversation %d, want %d", got, conv)
		}
		if len(e.f.Conversations()) != 1 || len(e.f.Contacts()) != 1 || len(e.f.Messages(conv)) != 1 {
			t.Errorf("after a retry: %d conversations, %d contacts, %d messages", len(e.f.Conversations()), len(e.f.Contacts()), len(e.f.Messages(conv)))
		}
	})
	t.Run("answers lost: the retry finds the conversation and the note", func(t *testing.T) {
		for _, path := range []string{"/conversations", "/messages"} {
			e.f.Fail(fake.Fault{Method: http.MethodPost, Path: path, Status: http.StatusBadGateway, Apply: true})
			_, err := e.p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "sess-2", User: jane, Transcript: transcript})
			kind(t, err, sdk.KindUnavailable)
		}
		c2 := e.start(t, "sess-2", jane)
		if len(e.f.Conversations()) != 2 || len(e.f.Messages(c2)) != 1 || len(e.f.Contacts()) != 1 {
			t.Errorf("%d conversations, %d messages in the new one, %d contacts", len(e.f.Conversations()), len(e.f.Messages(c2)), len(e.f.Contacts()))
		}
	})
	t.Run("a known contact is reused, by identifier or by email", func(t *testing.T) {
		byID := e.f.AddContact(fake.Contact{Name: "Old Name", Identifier: "u2"})
		byEmail := e.f.AddContact(fake.Contact{Name: "Bob", Email: "bob@example.com", Identifier: "crm-77"})
		c := e.start(t, "sess-3", sdk.User{ID: "u2", Verified: true, Metadata: map[string]any{"firstname": "Newer"}})
		d := e.start(t, "sess-4", sdk.User{ID: "u3", Verified: true, Metadata: map[string]any{"email": "Bob@Example.com"}})
		cvC, _ := e.f.Conversation(c)
		cvD, _ := e.f.Conversation(d)
		if cvC.ContactID != byID.ID || cvD.ContactID != byEmail.ID || len(e.f.Contacts()) != 3 {
			t.Errorf("conversations on contacts %d and %d, want %d and %d; %d contacts", cvC.ContactID, cvD.ContactID, byID.ID, byEmail.ID, len(e.f.Contacts()))
		}
	})
	t.Run("an email Chatwoot refuses goes to custom attributes", func(t *testing.T) {
		e.start(t, "sess-5", sdk.User{ID: "u5", Verified: true, Metadata: map[string]any{"name": "Zed", "email": "not an email", "phone": "0612"}})
		cs := e.f.Contacts()
		got := cs[len(cs)-1]
		if got.Identifier != "u5" || got.Name != "Zed" || got.Email != "" || got.CustomAttributes["email"] != "not an email" || got.CustomAttributes["phone"] != "0612" {
			t.Errorf("contact = %+v", got)
		}
	})
}

// Chatwoot's search matches substrings, 15 to a page: the contact may be on
// a later page than the look-alikes.
func TestContactOnALaterPage(t *testing.T) {
	e := newEnv(t, fake.Options{})
	for i := 10; i < 40; i++ {
		e.f.AddContact(fake.Contact{Name: "x", Identifier: "u1" + itoa(int64(i))})
	}
	e.start(t, "s1", jane)
	e.start(t, "s2", jane)
	if n := len(e.f.Contacts()); n != 31 {
		t.Errorf("%d contacts, want the 30 look-alikes and Jane once", n)
	}
}

var ignoreTimes = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".CreatedAt" }, cmp.Ignore())

func TestSendMessageIdempotent(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "sess-1", jane)
	send := func(key, text string) (sdk.SendResult, error) {
		return e.p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "sess-1", Ref: itoa(conv), User: jane,
			Message: sdk.Message{ID: "m-" + key, ContentType: "text", Content: map[string]any{"text": text}}, IdempotencyKey: key})
	}
	first, err := send("k1", "I need help with my order")
	if err != nil {
		t.Fatal(err)
	}
	again, err := send("k1", "I need help with my order")
	if err != nil {
		t.Fatal(err)
	}
	if first.PlatformMessageID == "" || again != first {
		t.Errorf("results %+v and %+v, want the same message", first, again)
	}
	// The answer is lost after Chatwoot stored the message: the retry finds it.
	e.f.Fail(fake.Fault{Method: http.MethodPost, Path: "/messages", Status: http.StatusGatewayTimeout, Apply: true})
	if _, err := send("k2", "order 1234"); sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("lost answer: %v, want a retryable error", err)
	}
	if _, err := send("k2", "order 1234"); err != nil {
		t.Fatal(err)
	}
	// The same text under another key is another message.
	if _, err := send("k3", "order 1234"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range messagesOf(e.f, conv, "incoming", false) {
		got = append(got, m.Content+" @"+m.ContentAttributes["livechat_key"].(string))
	}
	want := []string{"I need help with my order @k1", "order 1234 @k2", "order 1234 @k3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("incoming messages (-want +got):\n%s", diff)
	}
	// Media and clicks reach the agent as text.
	if _, err := e.p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", Ref: itoa(conv), IdempotencyKey: "k4",
		Message: sdk.Message{ContentType: "image", Content: map[string]any{"url": "https://cdn.example/p.png"}}}); err != nil {
		t.Fatal(err)
	}
	e.f.WaitMessage(t, conv, "the image URL", func(m fake.Message) bool { return m.Content == "https://cdn.example/p.png" })
}

func TestErrors(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "sess-1", jane)
	send := func(ref string) error {
		_, err := e.p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", Ref: ref, Message: sdk.Text("hi"), IdempotencyKey: "k"})
		return err
	}
	for _, tc := range []struct {
		name       string
		fault      fake.Fault
		ref        string
		kind       sdk.ErrorKind
		retryAfter time.Duration
	}{
		{"rate limited", fake.Fault{Status: 429, RetryAfter: "7"}, "", sdk.KindRateLimited, 7 * time.Second},
		{"unavailable", fake.Fault{Status: 503, RetryAfter: "2"}, "", sdk.KindUnavailable, 2 * time.Second},
		{"server error", fake.Fault{Status: 500}, "", sdk.KindUnavailable, 0},
		{"refused token", fake.Fault{Status: 401}, "", sdk.KindUnauthorized, 0},
		{"forbidden", fake.Fault{Status: 403}, "", sdk.KindUnauthorized, 0},
		{"bad request", fake.Fault{Status: 400}, "", sdk.KindInvalid, 0},
		{"unknown conversation", fake.Fault{}, "999", sdk.KindNotFound, 0},
		{"not a conversation id", fake.Fault{}, "T-1", sdk.KindInvalid, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fault.Status != 0 {
				e.f.Fail(tc.fault)
			}
			ref := tc.ref
			if ref == "" {
				ref = itoa(conv)
			}
			err := send(ref)
			kind(t, err, tc.kind)
			retry, after := sdk.IsRetryable(err)
			if retry != (tc.kind == sdk.KindUnavailable || tc.kind == sdk.KindRateLimited) || after != tc.retryAfter {
				t.Errorf("IsRetryable = %v, %s; want retry after %s", retry, after, tc.retryAfter)
			}
			if strings.Contains(err.Error(), e.f.Token()) {
				t.Errorf("the token is in the error %q", err)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		down := httptest.NewServer(http.NotFoundHandler())
		down.Close()
		p := chatwoot.New(chatwoot.Options{Logger: nopLogger{}})
		if err := p.Configure(ctx, "shop", config(t, e.f, "base_url", down.URL, "inbox_id", "1"), nil); err != nil {
			t.Fatal(err)
		}
		_, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", Ref: "1", Message: sdk.Text("hi"), IdempotencyKey: "k"})
		kind(t, err, sdk.KindUnavailable)
	})
	t.Run("unknown bot", func(t *testing.T) {
		_, err := e.p.SendMessage(ctx, sdk.SendRequest{Bot: "nobody", Ref: "1", Message: sdk.Text("hi")})
		kind(t, err, sdk.KindNotFound)
	})
}

func TestEndSession(t *testing.T) {
	end := func(e *env, conv int64, reason sdk.EndReason) error {
		return e.p.EndSession(ctx, sdk.EndRequest{Bot: "shop", SessionID: "s", Ref: itoa(conv), Reason: reason, IdempotencyKey: "end:s"})
	}
	t.Run("user: resolved", func(t *testing.T) {
		e := newEnv(t, fake.Options{})
		conv := e.start(t, "s", jane)
		if err := end(e, conv, sdk.EndUser); err != nil {
			t.Fatal(err)
		}
		e.f.WaitStatus(t, conv, "resolved")
		if err := end(e, conv, sdk.EndUser); err != nil { // a retry keeps it resolved
			t.Fatal(err)
		}
		e.f.WaitStatus(t, conv, "resolved")
		if notes := messagesOf(e.f, conv, "outgoing", true); len(notes) != 2 || !strings.Contains(notes[1].Content, "The customer left the chat") {
			t.Errorf("private notes %+v, want the transcript and one saying the customer left", notes)
		}
	})
	t.Run("expired: a note, then resolved, once", func(t *testing.T) {
		e := newEnv(t, fake.Options{})
		conv := e.start(t, "s", jane)
		e.f.Fail(fake.Fault{Method: http.MethodPost, Path: "/toggle_status", Status: 500})
		if err := end(e, conv, sdk.EndExpired); sdk.KindOf(err) != sdk.KindUnavailable {
			t.Fatalf("end with toggle_status failing: %v", err)
		}
		if err := end(e, conv, sdk.EndExpired); err != nil {
			t.Fatal(err)
		}
		e.f.WaitStatus(t, conv, "resolved")
		notes := messagesOf(e.f, conv, "outgoing", true)
		if len(notes) != 2 || !strings.Contains(notes[1].Content, "expired") {
			t.Errorf("notes = %+v, want the transcript and one expiry note", notes)
		}
	})
	t.Run("resolve_on_end false: a note, still open", func(t *testing.T) {
		e := newEnv(t, fake.Options{}, "resolve_on_end", false)
		conv := e.start(t, "s", jane)
		if err := end(e, conv, sdk.EndUser); err != nil {
			t.Fatal(err)
		}
		cv, _ := e.f.Conversation(conv)
		notes := messagesOf(e.f, conv, "outgoing", true)
		if cv.Status != "open" || len(notes) != 2 || !strings.Contains(notes[1].Content, "left") {
			t.Errorf("status %s, notes %+v", cv.Status, notes)
		}
	})
	t.Run("agent: nothing to do", func(t *testing.T) {
		e := newEnv(t, fake.Options{})
		conv := e.start(t, "s", jane)
		e.f.Resolve(conv, "Ann")
		n := len(e.f.Requests())
		if err := end(e, conv, sdk.EndAgent); err != nil {
			t.Fatal(err)
		}
		if len(e.f.Requests()) != n {
			t.Errorf("EndSession(agent) called Chatwoot")
		}
	})
	t.Run("deleted conversation: nothing to close", func(t *testing.T) {
		e := newEnv(t, fake.Options{})
		if err := end(e, 999, sdk.EndUser); err != nil {
			t.Errorf("end of an unknown conversation: %v", err)
		}
	})
}
