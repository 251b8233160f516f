package gorgias

import (
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/sdk"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func said(s string, author sdk.AuthorType) sdk.Message {
	m := sdk.Text(s)
	m.Author.Type = author
	return m
}

func userMsg(id, s string) sdk.Message {
	m := said(s, sdk.AuthorUser)
	m.ID = id
	return m
}

func start(t *testing.T, p *Provider, session string, user sdk.User, msgs ...sdk.Message) string {
	t.Helper()
	res, err := p.StartSession(context.Background(), sdk.StartRequest{
		Bot: "shop", SessionID: session, User: user, IdempotencyKey: "start-" + session,
		Transcript: []sdk.Message{said("hello", sdk.AuthorUser), said("Hi! How can I help?", sdk.AuthorBot)},
		Messages:   msgs,
	})
	if err != nil {
		t.Fatalf("start %s: %v", session, err)
	}
	return res.Ref
}

func mustRef(t *testing.T, ref string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(ref, 10, 64)
	if err != nil {
		t.Fatalf("ref %q is not a ticket id", ref)
	}
	return n
}

func TestStartSessionFindsOrCreatesTheCustomer(t *testing.T) {
	tests := []struct {
		name     string
		existing map[string]any // a customer already in Gorgias
		metadata map[string]any
		// missFirstLookup makes the first email lookup come back empty, as
		// if the customer was created meanwhile: the create meets a 409.
		missFirstLookup bool
		wantCreate      map[string]any // POST /api/customers body; nil: none
		wantData        map[string]any // PUT .../data "data"; nil: none
		wantSame        bool           // the ticket's customer is the existing one
		// unverified: the channel does not vouch for the metadata; the
		// existing customer must be neither the ticket's nor written to.
		unverified bool
	}{
		{
			name:     "existing by email",
			existing: map[string]any{"email": "jane@example.com", "name": "Jane Doe"},
			metadata: map[string]any{"email": "jane@example.com", "firstname": "Jane"},
			wantSame: true,
		},
		{
			name:     "existing by external_id",
			existing: map[string]any{"email": "old@example.com", "external_id": "u1"},
			metadata: map[string]any{"email": "new@example.com"},
			wantSame: true,
		},
		{
			name:       "new, with the other metadata as data",
			metadata:   map[string]any{"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com", "plan": "gold", "orders": float64(3)},
			wantCreate: map[string]any{"name": "Jane Doe", "firstname": "Jane", "lastname": "Doe", "email": "jane@example.com", "external_id": "u1"},
			wantData:   map[string]any{"plan": "gold", "orders": float64(3)},
		},
		{
			name:       "no email: a synthetic one",
			metadata:   map[string]any{"name": "Bob"},
			wantCreate: map[string]any{"name": "Bob", "email": "no-reply-" + stableID("u1", "") + "@livechat.invalid", "external_id": "u1"},
		},
		{
			name:            "created meanwhile: 409, then found",
			existing:        map[string]any{"email": "jane@example.com"},
			metadata:        map[string]any{"email": "jane@example.com"},
			missFirstLookup: true,
			wantCreate:      map[string]any{"email": "jane@example.com", "external_id": "u1"},
			wantSame:        true,
		},
		{
			name:       "unverified: an existing customer's email is only a claim",
			existing:   map[string]any{"email": "jane@example.com", "name": "Jane Doe"},
			metadata:   map[string]any{"email": "jane@example.com", "firstname": "Jane", "plan": "gold"},
			unverified: true,
			wantCreate: map[string]any{"name": "Jane", "firstname": "Jane", "email": "no-reply-" + stableID("livechat:shop:u1", "") + "@livechat.invalid", "external_id": "livechat:shop:u1"},
			wantData:   map[string]any{"plan": "gold"},
		},
		{
			name:       "unverified: the user id is not an existing customer's external_id",
			existing:   map[string]any{"email": "old@example.com", "external_id": "u1"},
			metadata:   map[string]any{"name": "Bob"},
			unverified: true,
			wantCreate: map[string]any{"name": "Bob", "email": "no-reply-" + stableID("livechat:shop:u1", "") + "@livechat.invalid", "external_id": "livechat:shop:u1"},
		},
		{
			name:       "unverified: the user's own customer is found again",
			existing:   map[string]any{"email": "no-reply-" + stableID("livechat:shop:u1", "") + "@livechat.invalid", "external_id": "livechat:shop:u1"},
			metadata:   map[string]any{"email": "jane@example.com"},
			unverified: true,
			wantSame:   true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			var existing int64
			if tc.existing != nil {
				existing = f.addCustomer(tc.existing)
			}
			if tc.missFirstLookup {
				var n atomic.Int32
				f.intercept = func(w http.ResponseWriter, r *http.Request, c call) bool {
					if c.String() == "GET /api/customers" && r.URL.Query().Get("email") != "" && n.Add(1) == 1 {
						writeJSON(w, http.StatusOK, page(nil))
						return true
					}
					return false
				}
			}
			p, _ := testProvider(t, f, nil)
			ref := start(t, p, "s1", sdk.User{ID: "u1", Metadata: tc.metadata, Verified: !tc.unverified})

			creates := f.bodies("POST /api/customers")
			switch {
			case tc.wantCreate == nil && len(creates) != 0:
				t.Errorf("created a customer: %v", creates)
			case tc.wantCreate != nil && len(creates) != 1:
				t.Errorf("%d customers created, want 1", len(creates))
			case tc.wantCreate != nil:
				if diff := cmp.Diff(tc.wantCreate, creates[0]); diff != "" {
					t.Errorf("POST /api/customers (-want +got):\n%s", diff)
				}
			}
			var data []map[string]any
			for _, c := range f.allCalls() {
				if c.Method == http.MethodPut && strings.HasSuffix(c.Path, "/data") {
					data = append(data, c.Body)
					if tc.unverified && !tc.wantSame && c.Path == "/api/customers/"+strconv.FormatInt(existing, 10)+"/data" {
						t.Errorf("an unverified user wrote the existing customer's data: %v", c.Body)
					}
				}
			}
			if tc.wantData == nil && len(data) != 0 {
				t.Errorf("set data %v", data)
			}
			if tc.wantData != nil {
				if len(data) != 1 {
					t.Fatalf("%d data updates, want 1", len(data))
				}
				if diff := cmp.Diff(tc.wantData, data[0]["data"]); diff != "" {
					t.Errorf("customer data (-want +got):\n%s", diff)
				}
				if data[0]["version"] == "" {
					t.Error("data without version")
				}
			}
			tickets := f.bodies("POST /api/tickets")
			if len(tickets) != 1 {
				t.Fatalf("%d tickets created", len(tickets))
			}
			cust := int64(tickets[0]["customer"].(map[string]any)["id"].(float64))
			if tc.wantSame && cust != existing {
				t.Errorf("ticket for customer %d, want the existing %d", cust, existing)
			}
			if !tc.wantSame && existing != 0 && cust == existing {
				t.Errorf("ticket for the existing customer %d, want another", existing)
			}
			if ref == "" {
				t.Error("no ref")
			}
		})
	}
}

func TestSyntheticEmailIsStablePerUser(t *testing.T) {
	f := newFake(t)
	p, _ := testProvider(t, f, sdk.Config{"no_email_domain": "chat.example"})
	start(t, p, "s1", sdk.User{ID: "visitor-42"})
	start(t, p, "s2", sdk.User{ID: "visitor-42"})
	start(t, p, "s3", sdk.User{ID: "visitor-43"})
	creates := f.bodies("POST /api/customers")
	if len(creates) != 2 {
		t.Fatalf("%d customers for 2 users", len(creates))
	}
	a, b := str(creates[0]["email"]), str(creates[1]["email"])
	if !strings.HasPrefix(a, "no-reply-") || !strings.HasSuffix(a, "@chat.example") || a == b {
		t.Errorf("synthetic emails %q, %q", a, b)
	}
	if f.count("POST /api/tickets") != 3 {
		t.Errorf("%d tickets for 3 sessions", f.count("POST /api/tickets"))
	}
}

func TestStartSessionTicket(t *testing.T) {
	f := newFake(t)
	p, _ := testProvider(t, f, sdk.Config{"tags": []string{"livechat", "vip"}, "subject": "Chat: {name} ({email}) on {bot}"})
	img := sdk.Message{ID: "m2", ContentType: "image", Content: map[string]any{"url": "https://cdn.example/p.png"}, Author: sdk.Author{Type: sdk.AuthorUser}}
	ref := start(t, p, "s1", sdk.User{ID: "u1", Verified: true, Metadata: map[string]any{"firstname": "Jane", "lastname": "Doe", "email": "jane@example.com"}},
		userMsg("m1", "I need <help> & more"), img)

	tickets := f.bodies("POST /api/tickets")
	if len(tickets) != 1 {
		t.Fatalf("%d tickets", len(tickets))
	}
	got := tickets[0]
	cust := got["customer"].(map[string]any)["id"].(float64)
	sender := map[string]any{"id": cust, "email": "jane@example.com"}
	want := map[string]any{
		"customer":    map[string]any{"id": cust},
		"external_id": "s1",
		"subject":     "Chat: Jane Doe (jane@example.com) on shop",
		"channel":     "api", "via": "api", "from_agent": false,
		"tags": []any{map[string]any{"name": "livechat"}, map[string]any{"name": "vip"}},
		"meta": map[string]any{"livechat_session": "s1", "bot": "shop"},
		"messages": []any{
			map[string]any{"channel": "api", "via": "api", "from_agent": false, "sender": sender, "external_id": "livechat-transcript-s1",
				"body_text": "Conversation with the bot before the handoff:\n\nUser: hello\nBot: Hi! How can I help?",
				"body_html": "<p>Conversation with the bot before the handoff:</p>\n<p><strong>User:</strong> hello</p>\n<p><strong>Bot:</strong> Hi! How can I help?</p>"},
			map[string]any{"channel": "api", "via": "api", "from_agent": false, "sender": sender, "external_id": "m1",
				"body_text": "I need <help> & more", "body_html": "<p>I need &lt;help&gt; &amp; more</p>"},
			map[string]any{"channel": "api", "via": "api", "from_agent": false, "sender": sender, "external_id": "m2",
				"body_text": "[image] https://cdn.example/p.png", "body_html": `<p>[image] <a href="https://cdn.example/p.png">https://cdn.example/p.png</a></p>`},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("POST /api/tickets (-want +got):\n%s", diff)
	}
	if tid := mustRef(t, ref); f.ticketStatus(tid) != "open" {
		t.Errorf("ref %s is not the created ticket", ref)
	}
}

// An unverified user's ticket says what they claimed, marked unverified,
// in the subject and at the top of the first message.
func TestStartSessionTicketUnverified(t *testing.T) {
	f := newFake(t)
	p, _ := testProvider(t, f, sdk.Config{"subject": "Chat: {name} ({email})"})
	start(t, p, "s1", sdk.User{ID: "u1", Metadata: map[string]any{"firstname": "Jane", "email": "jane@example.com", "phone_number": "+15550100"}})
	tickets := f.bodies("POST /api/tickets")
	if len(tickets) != 1 {
		t.Fatalf("%d tickets", len(tickets))
	}
	if got, want := tickets[0]["subject"], "Chat: Jane (jane@example.com (unverified))"; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	first := tickets[0]["messages"].([]any)[0].(map[string]any)
	want := "Contact details the user typed in the chat (unverified: the chat channel does not vouch for them, " +
		"so this ticket is not linked to any existing customer with them): email: jane@example.com, phone: +15550100.\n\n" +
		"Conversation with the bot before the handoff:\n\nUser: hello\nBot: Hi! How can I help?"
	if diff := cmp.Diff(want, first["body_text"]); diff != "" {
		t.Errorf("first message (-want +got):\n%s", diff)
	}
	if h, _ := first["body_html"].(string); !strings.HasPrefix(h, "<p>Contact details the user typed") {
		t.Errorf("first message's HTML: %s", h)
	}
}

func TestStartSessionNeverOpensASecondTicket(t *testing.T) {
	user := sdk.User{ID: "u1", Metadata: map[string]any{"email": "jane@example.com"}}
	t.Run("retried start", func(t *testing.T) {
		f := newFake(t)
		p, _ := testProvider(t, f, nil)
		first := start(t, p, "s1", user, userMsg("m1", "hi"))
		again := start(t, p, "s1", user, userMsg("m1", "hi"))
		if first != again {
			t.Errorf("refs %s, %s", first, again)
		}
		if n := f.count("POST /api/tickets"); n != 1 {
			t.Errorf("%d POST /api/tickets", n)
		}
		if n := f.count("POST /api/customers"); n != 1 {
			t.Errorf("%d POST /api/customers", n)
		}
	})
	t.Run("created but the answer lost", func(t *testing.T) {
		f := newFake(t)
		var lost atomic.Int32
		f.afterCreate = func(w http.ResponseWriter, c call) bool {
			if c.String() == "POST /api/tickets" && lost.Add(1) == 1 {
				apiError(w, http.StatusGatewayTimeout, "Gateway timeout")
				return true
			}
			return false
		}
		p, clk := testProvider(t, f, nil)
		ref := start(t, p, "s1", user)
		if n := f.count("POST /api/tickets"); n != 1 {
			t.Errorf("%d POST /api/tickets; the lookup after the 504 must find the ticket", n)
		}
		if n := f.count("GET /api/tickets"); n != 2 {
			t.Errorf("%d ticket lookups, want 2 (before, and after the 504)", n)
		}
		if mustRef(t, ref) == 0 || len(clk.Slept()) != 1 {
			t.Errorf("ref %s, backoffs %v", ref, clk.Slept())
		}
	})
	t.Run("a lookup that ignores the filter", func(t *testing.T) {
		// Another session's ticket in the answer is not ours; and when the
		// lookup finds nothing, the process remembers what it opened.
		f := newFake(t)
		other := f.addTicket(map[string]any{"external_id": "someone-else"})
		f.intercept = func(w http.ResponseWriter, r *http.Request, c call) bool {
			if c.String() == "GET /api/tickets" {
				writeJSON(w, http.StatusOK, page([]map[string]any{{"id": other, "external_id": "someone-else"}}))
				return true
			}
			return false
		}
		p, _ := testProvider(t, f, nil)
		first := start(t, p, "s1", user)
		again := start(t, p, "s1", user)
		if first == strconv.FormatInt(other, 10) || first != again {
			t.Errorf("refs %s, %s; the other session's ticket is %d", first, again, other)
		}
		if n := f.count("POST /api/tickets"); n != 1 {
			t.Errorf("%d POST /api/tickets", n)
		}
	})
	t.Run("a refused ticket is permanent", func(t *testing.T) {
		f := newFake(t)
		f.intercept = func(w http.ResponseWriter, r *http.Request, c call) bool {
			if c.String() == "POST /api/tickets" {
				writeJSON(w, 400, map[string]any{"error": map[string]any{"msg": "Failed to create ticket", "data": map[string]any{"subject": []string{"Too long."}}}})
				return true
			}
			return false
		}
		p, _ := testProvider(t, f, nil)
		_, err := p.StartSession(context.Background(), sdk.StartRequest{Bot: "shop", SessionID: "s1", User: user})
		checkKind(t, err, sdk.KindInvalid)
		if !strings.Contains(err.Error(), "subject: Too long.") {
			t.Errorf("error %q lacks Gorgias's reason", err)
		}
	})
}

func TestTranscriptGolden(t *testing.T) {
	msgs := []sdk.Message{
		said("hello", sdk.AuthorUser),
		{ContentType: "question", Author: sdk.Author{Type: sdk.AuthorBot}, Content: map[string]any{
			"title": "Do you need some help from a human agent?",
			"buttons": []any{map[string]any{"content_type": "button", "content": map[string]any{
				"title": "Yes, talk to a human!", "payload": "LIVECHAT_SESSION_START"}}},
		}},
		{ContentType: "payload", Author: sdk.Author{Type: sdk.AuthorUser}, Content: map[string]any{"payload": "LIVECHAT_SESSION_START"}},
		said("Two lines:\nsee https://shop.example/order?id=1&x=<2>", sdk.AuthorUser),
		{ContentType: "typing", Author: sdk.Author{Type: sdk.AuthorBot}, Content: map[string]any{"duration": float64(1000)}},
		{ContentType: "url", Author: sdk.Author{Type: sdk.AuthorBot}, Content: map[string]any{"url": "https://help.example/returns", "title": "Returns"}},
		{ContentType: "file", Author: sdk.Author{Type: sdk.AuthorUser}, Content: map[string]any{"url": "https://cdn.example/invoice.pdf"}},
		said("Welcome back", sdk.AuthorSystem),
	}
	got := transcript(msgs)
	for _, g := range []struct{ file, got string }{{"transcript.txt", got.text}, {"transcript.html", got.html}} {
		path := filepath.Join("testdata", g.file)
		if *update {
			if err := os.WriteFile(path, []byte(g.got+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -update writes it)", err)
		}
		if diff := cmp.Diff(strings.TrimSuffix(string(want), "\n"), g.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", path, diff)
		}
	}
	if e := transcript(nil); !strings.Contains(e.text, "no conversation with the bot") {
		t.Errorf("empty transcript: %q", e.text)
	}
}

func TestSendMessage(t *testing.T) {
	user := sdk.User{ID: "u1", Verified: true, Metadata: map[string]any{"email": "jane@example.com"}}
	send := func(t *testing.T, p *Provider, ref string, m sdk.Message) (sdk.SendResult, error) {
		t.Helper()
		return p.SendMessage(context.Background(), sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: ref, User: user, Message: m, IdempotencyKey: "send-" + m.ID})
	}
	posted := func(f *fakeGorgias, ref string) []map[string]any {
		return f.bodies("POST /api/tickets/" + ref + "/messages")
	}

	t.Run("posts the customer message", func(t *testing.T) {
		f := newFake(t)
		p, _ := testProvider(t, f, nil)
		ref := start(t, p, "s1", user)
		f.reset()
		res, err := send(t, p, ref, userMsg("m1", "where is <my> order?"))
		if err != nil {
			t.Fatal(err)
		}
		got := posted(f, ref)
		if len(got) != 1 {
			t.Fatalf("%d posts", len(got))
		}
		sender := got[0]["sender"].(map[string]any)
		want := map[string]any{"channel": "api", "via": "api", "from_agent": false, "external_id": "m1", "sender": sender,
			"body_text": "where is <my> order?", "body_html": "<p>where is &lt;my&gt; order?</p>"}
		if diff := cmp.Diff(want, got[0]); diff != "" {
			t.Errorf("message (-want +got):\n%s", diff)
		}
		if sender["email"] != "jane@example.com" || sender["id"] == nil {
			t.Errorf("sender %v", sender)
		}
		if res.PlatformMessageID == "" {
			t.Error("no platform message id")
		}
		if diff := cmp.Diff([]string{"GET /api/tickets/" + ref + "/messages", "POST /api/tickets/" + ref + "/messages"}, f.Calls()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
	})

	t.Run("a retry does not post twice", func(t *testing.T) {
		f := newFake(t)
		p, _ := testProvider(t, f, nil)
		ref := start(t, p, "s1", user)
		a, err := send(t, p, ref, userMsg("m1", "hi"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := send(t, p, ref, userMsg("m1", "hi"))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(posted(f, ref)); n != 1 || a != b {
			t.Errorf("%d posts; results %v, %v", n, a, b)
		}
	})

	t.Run("posted but the answer lost", func(t *testing.T) {
		f := newFake(t)
		p, _ := testProvider(t, f, nil)
		ref := start(t, p, "s1", user)
		var lost atomic.Int32
		f.afterCreate = func(w http.ResponseWriter, c call) bool {
			if strings.HasSuffix(c.Path, "/messages") && lost.Add(1) == 1 {
				apiError(w, http.StatusInternalServerError, "Internal error")
				return true
			}
			return false
		}
		if _, err := send(t, p, ref, userMsg("m1", "hi")); err != nil {
			t.Fatal(err)
		}
		if n := len(posted(f, ref)); n != 1 {
			t.Errorf("%d posts", n)
		}
		if n := len(f.messagesOf(mustRef(t, ref))); n != 2 {
			t.Errorf("%d messages on the ticket, want transcript + 1", n)
		}
	})

	t.Run("after a restart the sender comes from the ticket", func(t *testing.T) {
		f := newFake(t)
		p, _ := testProvider(t, f, nil)
		ref := start(t, p, "s1", user)
		fresh, _ := testProvider(t, f, nil) // a new plugin process: empty cache
		f.reset()
		if _, err := send(t, fresh, ref, userMsg("m1", "hi")); err != nil {
			t.Fatal(err)
		}
		got := posted(f, ref)
		if len(got) != 1 || got[0]["sender"].(map[string]any)["email"] != "jane@example.com" {
			t.Errorf("posts %v", got)
		}
	})

	t.Run("a helpdesk ticket: the sender is its customer", func(t *testing.T) {
		f := newFake(t)
		cust := f.addCustomer(map[string]any{"email": "walk-in@example.com"})
		tid := f.addTicket(map[string]any{"customer": map[string]any{"id": cust}})
		p, _ := testProvider(t, f, nil)
		ref := strconv.FormatInt(tid, 10)
		if _, err := send(t, p, ref, userMsg("m1", "hi")); err != nil {
			t.Fatal(err)
		}
		got := posted(f, ref)
		if len(got) != 1 || got[0]["sender"].(map[string]any)["id"] != float64(cust) {
			t.Errorf("posts %v", got)
		}
	})

	t.Run("non-text messages become text with the URL", func(t *testing.T) {
		f := newFake(t)
		p, _ := testProvider(t, f, nil)
		ref := start(t, p, "s1", user)
		for _, m := range []sdk.Message{
			{ID: "a", ContentType: "file", Content: map[string]any{"url": "https://cdn.example/a.pdf"}},
			{ID: "b", ContentType: "url", Content: map[string]any{"url": "https://shop.example/x", "title": "My order"}},
			{ID: "c", ContentType: "typing", Content: map[string]any{"duration": float64(500)}},
		} {
			if _, err := send(t, p, ref, m); err != nil {
				t.Fatal(err)
			}
		}
		var texts []string
		for _, b := range posted(f, ref) {
			texts = append(texts, str(b["body_text"]))
		}
		want := []string{"[file] https://cdn.example/a.pdf", "My order https://shop.example/x"}
		if diff := cmp.Diff(want, texts); diff != "" {
			t.Errorf("texts (-want +got):\n%s", diff)
		}
	})

	t.Run("errors", func(t *testing.T) {
		f := newFake(t)
		p, _ := testProvider(t, f, nil)
		_, err := send(t, p, "999999", userMsg("m1", "hi"))
		checkKind(t, err, sdk.KindNotFound)
		_, err = send(t, p, "not-a-ticket", userMsg("m1", "hi"))
		checkKind(t, err, sdk.KindInvalid)
		_, err = p.SendMessage(context.Background(), sdk.SendRequest{Bot: "nobody", Ref: "1", Message: userMsg("m1", "hi")})
		checkKind(t, err, sdk.KindNotFound)
	})
}

func TestEndSession(t *testing.T) {
	tests := []struct {
		name       string
		config     sdk.Config
		reason     sdk.EndReason
		times      int
		wantStatus string
		wantNotes  []string
		wantCalls  int
	}{
		// Issue 11, point 5: the user leaving is an internal note before
		// the close, written once however often the end is retried.
		{name: "user", reason: sdk.EndUser, wantStatus: "closed", wantNotes: []string{defaultUserLeftNote}, wantCalls: 3},
		{name: "admin", reason: sdk.EndAdmin, wantStatus: "closed", wantCalls: 1},
		{name: "user, twice", reason: sdk.EndUser, times: 2, wantStatus: "closed", wantNotes: []string{defaultUserLeftNote}, wantCalls: 5},
		{name: "user, close_on_end off", reason: sdk.EndUser, config: sdk.Config{"close_on_end": false}, wantStatus: "open",
			wantNotes: []string{defaultUserLeftNote}, wantCalls: 2},
		{name: "user, no note", reason: sdk.EndUser, config: sdk.Config{"user_left_note": ""}, wantStatus: "closed", wantCalls: 1},
		{name: "agent: closed already", reason: sdk.EndAgent, wantStatus: "open"},
		{name: "expired", reason: sdk.EndExpired, wantStatus: "closed", wantNotes: []string{defaultExpiryNote}, wantCalls: 3},
		{name: "expired, retried", reason: sdk.EndExpired, times: 2, wantStatus: "closed", wantNotes: []string{defaultExpiryNote}, wantCalls: 5},
		{name: "expired, own note, left open", reason: sdk.EndExpired, config: sdk.Config{"close_on_expiry": false, "expiry_note": "Timed out."},
			wantStatus: "open", wantNotes: []string{"Timed out."}, wantCalls: 2},
		{name: "expired, no note", reason: sdk.EndExpired, config: sdk.Config{"expiry_note": ""}, wantStatus: "closed", wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			p, _ := testProvider(t, f, tc.config)
			ref := start(t, p, "s1", sdk.User{ID: "u1"})
			f.reset()
			for i := 0; i < max(tc.times, 1); i++ {
				if err := p.EndSession(context.Background(), sdk.EndRequest{Bot: "shop", SessionID: "s1", Ref: ref, Reason: tc.reason}); err != nil {
					t.Fatal(err)
				}
			}
			tid := mustRef(t, ref)
			if got := f.ticketStatus(tid); got != tc.wantStatus {
				t.Errorf("ticket status %q, want %q", got, tc.wantStatus)
			}
			var notes []string
			for _, m := range f.messagesOf(tid) {
				if m["channel"] != "internal-note" {
					continue
				}
				notes = append(notes, str(m["body_text"]))
				key := map[sdk.EndReason]string{sdk.EndExpired: "livechat-expired-s1", sdk.EndUser: "livechat-user-left-s1"}[tc.reason]
				want := map[string]any{"public": false, "from_agent": true, "via": "api", "external_id": key,
					"sender": map[string]any{"email": testEmail}}
				for k, v := range want {
					if !cmp.Equal(m[k], v) {
						t.Errorf("note %s = %v, want %v", k, m[k], v)
					}
				}
			}
			if diff := cmp.Diff(tc.wantNotes, notes); diff != "" {
				t.Errorf("notes (-want +got):\n%s", diff)
			}
			if n := len(f.Calls()); n != tc.wantCalls {
				t.Errorf("%d calls %v, want %d", n, f.Calls(), tc.wantCalls)
			}
		})
	}
	t.Run("a deleted ticket is closed enough", func(t *testing.T) {
		f := newFake(t)
		p, _ := testProvider(t, f, nil)
		for _, r := range []sdk.EndReason{sdk.EndUser, sdk.EndExpired, sdk.EndAdmin} {
			if err := p.EndSession(context.Background(), sdk.EndRequest{Bot: "shop", SessionID: "s1", Ref: "424242", Reason: r}); err != nil {
				t.Errorf("%s: %v", r, err)
			}
		}
	})
}
