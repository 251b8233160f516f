package chatwoot_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/plugins/chatwoot"
	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
	"github.com/livechatd/livechatd/sdk"
)

// TestHandoffCapabilities: the capabilities listed are the ones the
// plugin implements on Chatwoot.
func TestHandoffCapabilities(t *testing.T) {
	for _, c := range []sdk.Capability{sdk.CapAgentAssigned, sdk.CapAgentTyping, sdk.CapAttachments, sdk.CapRouting} {
		if !slices.Contains(chatwoot.Info.Capabilities, c) {
			t.Errorf("capabilities %v lack %s", chatwoot.Info.Capabilities, c)
		}
	}
	var p any = chatwoot.New(chatwoot.Options{})
	if _, ok := p.(sdk.TypingSender); !ok {
		t.Error("not a TypingSender: Serve would not add user_typing")
	}
	if _, ok := p.(sdk.RatingRecorder); !ok {
		t.Error("not a RatingRecorder: Serve would not add csat")
	}
	if _, ok := p.(sdk.ReadMarker); !ok {
		t.Error("not a ReadMarker: Serve would not add read")
	}
}

// TestRouting: team (through the teams map) is the conversation's team,
// priority Chatwoot's (normal is medium), tags its labels, language a
// custom attribute; a retried start sets them again without harm; a team
// not in the map is left out.
func TestRouting(t *testing.T) {
	f := fake.New(t, fake.Options{})
	billing := f.AddTeam("Billing")
	e := &env{f: f, clk: newClock()}
	e.p = chatwoot.New(chatwoot.Options{Now: e.clk.Now, Logger: nopLogger{}})
	if err := e.p.Configure(ctx, "shop", config(t, f, "teams", map[string]any{"Billing": itoa(billing.ID)}), nil); err != nil {
		t.Fatal(err)
	}
	req := sdk.StartRequest{Bot: "shop", SessionID: "s1", User: jane, IdempotencyKey: "start:s1",
		Routing: sdk.Routing{Team: "billing", Priority: "normal", Tags: []string{"vip", "refund"}, Language: "fr-ca"}}
	for range 2 {
		if _, err := e.p.StartSession(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	cvs := f.Conversations()
	if len(cvs) != 1 {
		t.Fatalf("%d conversations", len(cvs))
	}
	cv := cvs[0]
	if cv.TeamID != billing.ID || cv.Priority != "medium" || !slices.Equal(cv.Labels, []string{"vip", "refund"}) || cv.CustomAttributes["livechat_language"] != "fr-ca" {
		t.Errorf("conversation team %d priority %q labels %v attrs %v", cv.TeamID, cv.Priority, cv.Labels, cv.CustomAttributes)
	}
	for _, pr := range []struct{ ours, theirs string }{{"low", "low"}, {"high", "high"}, {"urgent", "urgent"}} {
		req := sdk.StartRequest{Bot: "shop", SessionID: "s-" + pr.ours, User: jane, Routing: sdk.Routing{Team: "sales", Priority: pr.ours}}
		res, err := e.p.StartSession(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, cv := range f.Conversations() {
			if itoa(cv.ID) == res.Ref && (cv.Priority != pr.theirs || cv.TeamID != 0 || len(cv.Labels) != 0) {
				t.Errorf("%s: priority %q team %d labels %v", pr.ours, cv.Priority, cv.TeamID, cv.Labels)
			}
		}
	}
	// No routing: none of the calls.
	before := f.Count(http.MethodPost, "/toggle_priority") + f.Count(http.MethodPost, "/labels")
	e.start(t, "s-plain", jane)
	if n := f.Count(http.MethodPost, "/toggle_priority") + f.Count(http.MethodPost, "/labels"); n != before {
		t.Errorf("%d routing calls without routing", n-before)
	}
	// A team id that is not a number is refused at validation.
	diags := e.p.ValidateConfig(ctx, "shop", config(t, f, "teams", map[string]any{"sales": "abc"}))
	if !diags.HasErrors() || diags[0].Attribute != "teams" {
		t.Errorf("diags %v", diags)
	}
}

// fileServer serves a user's files on 127.0.0.1.
func fileServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/receipt.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write([]byte("\x89PNG\r\n\x1a\nreceipt"))
		case "/huge.bin":
			_, _ = w.Write(make([]byte, 4096))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSendAttachment: a user's image is uploaded as the attachment of an
// incoming message (multipart attachments[]), once however often the send
// is retried; a file over max_attachment_bytes, or one that cannot be
// downloaded, is posted as a link.
func TestSendAttachment(t *testing.T) {
	files := fileServer(t)
	e := newEnv(t, fake.Options{}, "max_attachment_bytes", 1024)
	conv := e.start(t, "s", jane)
	img := sdk.Message{ContentType: "image", Content: map[string]any{"url": files.URL + "/receipt.png", "name": "receipt.png"},
		Attachment: &sdk.Attachment{URL: files.URL + "/receipt.png", Name: "receipt.png", MIME: "image/png", Size: 15}}
	for range 2 {
		res, err := e.p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s", Ref: itoa(conv), User: jane, Message: img, IdempotencyKey: "m1"})
		if err != nil || res.PlatformMessageID == "" {
			t.Fatalf("send: %+v %v", res, err)
		}
	}
	var uploads []fake.Message
	for _, m := range messagesOf(e.f, conv, "incoming", false) {
		if len(m.Attachments) > 0 {
			uploads = append(uploads, m)
		}
	}
	if len(uploads) != 1 {
		t.Fatalf("%d messages with attachments, want 1: %+v", len(uploads), e.f.Messages(conv))
	}
	a := uploads[0].Attachments[0]
	if a.FileType != "image" || a.Name != "receipt.png" || a.MIME != "image/png" || string(a.Data) != "\x89PNG\r\n\x1a\nreceipt" {
		t.Errorf("attachment %+v", a)
	}
	for _, tc := range []struct{ key, path, want string }{
		{"m2", "/huge.bin", "huge.bin: " + files.URL + "/huge.bin"},
		{"m3", "/missing.pdf", "missing.pdf: " + files.URL + "/missing.pdf"},
	} {
		msg := sdk.Message{ContentType: "file", Content: map[string]any{"url": files.URL + tc.path},
			Attachment: &sdk.Attachment{URL: files.URL + tc.path, Name: strings.TrimPrefix(tc.path, "/")}}
		if _, err := e.p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s", Ref: itoa(conv), User: jane, Message: msg, IdempotencyKey: tc.key}); err != nil {
			t.Fatal(err)
		}
		e.f.WaitMessage(t, conv, "the link "+tc.want, func(m fake.Message) bool { return m.MessageType == "incoming" && m.Content == tc.want })
	}
}

// TestAgentAttachmentBack: an agent's attachment reaches the user as an
// image or file message with its URL, name and size, through the webhook
// and through ReadSession alike.
func TestAgentAttachmentBack(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "s", jane)
	e.f.AgentReplyWith(conv, "Ann Agent", "Your label", fake.Attachment{FileType: "image", DataURL: "https://cw.example/rails/label%20v2.png", Size: 2048},
		fake.Attachment{FileType: "video", DataURL: "https://cw.example/rails/howto.mp4"})
	res, err := e.p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s", Ref: itoa(conv)})
	if err != nil {
		t.Fatal(err)
	}
	var got []sdk.Message
	for _, ev := range res.Events {
		if ev.Type == sdk.EventAgentMessage && ev.Message.Attachment != nil {
			got = append(got, ev.Message)
		}
	}
	if len(got) != 2 || got[0].ContentType != "image" || got[0].Attachment.Name != "label v2.png" || got[0].Attachment.Size != 2048 ||
		got[0].Content["url"] != "https://cw.example/rails/label%20v2.png" || got[1].ContentType != "file" || got[1].Attachment.Name != "howto.mp4" {
		t.Errorf("agent files %+v", got)
	}
}

// TestAgentJoinedRead: ReadSession gives the assignee as agent joined, under
// the webhook's id, with the avatar.
func TestAgentJoinedRead(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "s", jane)
	e.f.SetAvatar("Ann Agent", "https://cw.example/ann.png")
	e.f.Assign(conv, "Ann Agent")
	res, err := e.p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s", Ref: itoa(conv)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) == 0 || res.Events[0].Type != sdk.EventAgentJoined || res.Events[0].Message.Author.Name != "Ann" ||
		res.Events[0].Message.Author.AvatarURL != "https://cw.example/ann.png" || !strings.HasPrefix(res.Events[0].ID, "assignee:"+itoa(conv)+":") {
		t.Errorf("events %+v", res.Events)
	}
}

// TestSendTyping: the user's typing reaches Chatwoot through the public
// API's toggle_typing, as the contact, on and off; after a restart of the
// plugin (no cached source id) too.
func TestSendTyping(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "s", jane)
	for _, on := range []bool{true, false} {
		if err := e.p.SendTyping(ctx, sdk.TypingRequest{Bot: "shop", SessionID: "s", Ref: itoa(conv), Typing: on}); err != nil {
			t.Fatal(err)
		}
	}
	fresh := chatwoot.New(chatwoot.Options{Logger: nopLogger{}})
	if err := fresh.Configure(ctx, "shop", config(t, e.f), nil); err != nil {
		t.Fatal(err)
	}
	if err := fresh.SendTyping(ctx, sdk.TypingRequest{Bot: "shop", SessionID: "s", Ref: itoa(conv), Typing: true}); err != nil {
		t.Fatal(err)
	}
	got := e.f.TypingEvents()
	want := []fake.Typing{{ConversationID: conv, By: "contact", On: true}, {ConversationID: conv, By: "contact"}, {ConversationID: conv, By: "contact", On: true}}
	if !slices.Equal(got, want) {
		t.Errorf("typing %+v, want %+v", got, want)
	}
	if err := e.p.SendTyping(ctx, sdk.TypingRequest{Bot: "shop", SessionID: "s", Ref: "999", Typing: true}); sdk.KindOf(err) != sdk.KindNotFound {
		t.Errorf("typing in an unknown conversation: %v", err)
	}
}

// TestRecordRating: a rating is a private note of the resolved
// conversation, written once, which does not reopen it.
func TestRecordRating(t *testing.T) {
	e := newEnv(t, fake.Options{})
	conv := e.start(t, "s", jane)
	if err := e.p.EndSession(ctx, sdk.EndRequest{Bot: "shop", SessionID: "s", Ref: itoa(conv), Reason: sdk.EndUser, IdempotencyKey: "end"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.p.RecordRating(ctx, sdk.RatingRequest{Bot: "shop", SessionID: "s", Ref: itoa(conv), Score: 4, Scale: 5, Label: "Good", IdempotencyKey: "csat:s"}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, m := range messagesOf(e.f, conv, "outgoing", true) {
		if m.Content == "The customer rated this live chat 4/5 (Good)." {
			n++
		}
	}
	cv, _ := e.f.Conversation(conv)
	if n != 1 || cv.Status != "resolved" {
		t.Errorf("%d rating notes, status %s", n, cv.Status)
	}
}
