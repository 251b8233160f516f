package freshdesk_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/livechatd/livechatd/plugins/freshdesk"
	"github.com/livechatd/livechatd/plugins/freshdesk/fake"
	"github.com/livechatd/livechatd/sdk"
)

// TestFreshdeskHandoffCapabilities: what the plugin lists it does.
func TestFreshdeskHandoffCapabilities(t *testing.T) {
	for _, c := range []sdk.Capability{sdk.CapAgentAssigned, sdk.CapAttachments, sdk.CapRouting} {
		if !slices.Contains(freshdesk.Info.Capabilities, c) {
			t.Errorf("capabilities %v lack %s", freshdesk.Info.Capabilities, c)
		}
	}
	var p any = freshdesk.New(freshdesk.Options{})
	if _, ok := p.(sdk.RatingRecorder); !ok {
		t.Error("not a RatingRecorder")
	}
}

// TestFreshdeskRouting: tags after the bot's, the priority (urgent 4,
// normal 2) over the bot's, the group of the groups map over group_id.
func TestFreshdeskRouting(t *testing.T) {
	p, f := fdSetup(t, newFDHost(), sdk.Config{"groups": map[string]any{"Billing": "43000000777"}, "group_id": 43000000001})
	start := func(session string, r sdk.Routing) fake.Ticket {
		res, err := p.StartSession(context.Background(), sdk.StartRequest{Bot: fdBot, SessionID: session, IdempotencyKey: session,
			User: sdk.User{ID: "u-" + session}, Routing: r})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := strconv.ParseInt(res.Ref, 10, 64)
		tk, _ := f.Ticket(id)
		return tk
	}
	tk := start("s1", sdk.Routing{Team: "billing", Priority: "urgent", Tags: []string{"vip", "livechat"}})
	if !slices.Equal(tk.Tags, []string{"livechat", "vip"}) || tk.Priority != 4 || tk.GroupID == nil || *tk.GroupID != 43000000777 {
		t.Errorf("ticket tags %v priority %d group %v", tk.Tags, tk.Priority, tk.GroupID)
	}
	tk = start("s2", sdk.Routing{Team: "sales", Priority: "normal"})
	if tk.Priority != 2 || tk.GroupID == nil || *tk.GroupID != 43000000001 {
		t.Errorf("unmapped team: priority %d group %v", tk.Priority, tk.GroupID)
	}
	tk = start("s3", sdk.Routing{})
	if tk.Priority != 1 {
		t.Errorf("no routing: priority %d, want the bot's 1", tk.Priority)
	}
}

// TestFreshdeskSendAttachment: a user's image is the requester's public
// incoming note with the file attached (multipart), once however often
// the send is retried; a file too large is a link.
func TestFreshdeskSendAttachment(t *testing.T) {
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big.bin" {
			_, _ = w.Write(make([]byte, 4096))
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("PNG receipt"))
	}))
	defer files.Close()
	p, f := fdSetup(t, newFDHost(), sdk.Config{"max_attachment_bytes": 1024})
	_, id, err := fdStart(t, p, "s1", true)
	if err != nil {
		t.Fatal(err)
	}
	ref := strconv.FormatInt(id, 10)
	img := sdk.Message{ContentType: "image", Content: map[string]any{"url": files.URL + "/r.png"}, Attachment: &sdk.Attachment{URL: files.URL + "/r.png", Name: "r.png"}}
	for range 2 {
		if _, err := p.SendMessage(context.Background(), sdk.SendRequest{Bot: fdBot, SessionID: "s1", Ref: ref, Message: img, IdempotencyKey: "m1"}); err != nil {
			t.Fatal(err)
		}
	}
	fs := f.Files(id)
	if len(fs) != 1 || fs[0].Name != "r.png" || fs[0].ContentType != "image/png" || string(fs[0].Data) != "PNG receipt" {
		t.Errorf("files %+v", fs)
	}
	var note fake.Conversation
	for _, c := range f.Conversations(id) {
		if len(c.Attachments) > 0 {
			note = c
		}
	}
	if note.Private || !note.Incoming || note.BodyText != "r.png" {
		t.Errorf("the file's note %+v", note)
	}
	big := sdk.Message{ContentType: "file", Content: map[string]any{"url": files.URL + "/big.bin"}, Attachment: &sdk.Attachment{URL: files.URL + "/big.bin", Name: "big.bin"}}
	if _, err := p.SendMessage(context.Background(), sdk.SendRequest{Bot: fdBot, SessionID: "s1", Ref: ref, Message: big, IdempotencyKey: "m2"}); err != nil {
		t.Fatal(err)
	}
	cs := f.Conversations(id)
	if last := cs[len(cs)-1]; last.BodyText != "big.bin: "+files.URL+"/big.bin" || len(last.Attachments) != 0 {
		t.Errorf("a file too large: %+v", last)
	}
}

// TestFreshdeskAgentJoinedAndFiles: the ticket's responder joins (name and
// avatar), and an agent's files come back as image/file messages, through
// ReadSession.
func TestFreshdeskAgentJoinedAndFiles(t *testing.T) {
	p, f := fdSetup(t, newFDHost(), nil)
	_, id, err := fdStart(t, p, "s1", true)
	if err != nil {
		t.Fatal(err)
	}
	ref := strconv.FormatInt(id, 10)
	f.SetAvatar("Ann", "https://cdn.freshdesk.example/ann.png")
	if err := f.Assign(id, "Ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.AgentReplyWith(id, "Ann", "Your label", fake.Attachment{Name: "label.png", ContentType: "image/png", Size: 300,
		AttachmentURL: "https://s3.amazonaws.com/cdn.freshdesk.com/label.png"}, fake.Attachment{Name: "i.pdf", ContentType: "application/pdf",
		AttachmentURL: "https://s3.amazonaws.com/cdn.freshdesk.com/i.pdf"}); err != nil {
		t.Fatal(err)
	}
	res, err := p.ReadSession(context.Background(), sdk.ReadRequest{Bot: fdBot, SessionID: "s1", Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range res.Events {
		types = append(types, string(ev.Type)+"/"+ev.Message.ContentType)
	}
	want := []string{"agent_joined/text", "agent_message/text", "agent_message/image", "agent_message/file"}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	j := res.Events[0]
	if j.Message.Author.Name != "Ann" || j.Message.Author.AvatarURL != "https://cdn.freshdesk.example/ann.png" || j.ID == "" {
		t.Errorf("joined %+v", j)
	}
	if img := res.Events[2].Message; img.Attachment.Name != "label.png" || img.Attachment.Size != 300 || img.Content["url"] != "https://s3.amazonaws.com/cdn.freshdesk.com/label.png" {
		t.Errorf("image %+v", img)
	}
}

// TestFreshdeskRecordRating: a rating is one private note however often
// it is retried.
func TestFreshdeskRecordRating(t *testing.T) {
	p, f := fdSetup(t, newFDHost(), nil)
	_, id, err := fdStart(t, p, "s1", true)
	if err != nil {
		t.Fatal(err)
	}
	ref := strconv.FormatInt(id, 10)
	if err := p.EndSession(context.Background(), sdk.EndRequest{Bot: fdBot, SessionID: "s1", Ref: ref, Reason: sdk.EndUser, IdempotencyKey: "e"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := p.RecordRating(context.Background(), sdk.RatingRequest{Bot: fdBot, SessionID: "s1", Ref: ref, Score: 1, Scale: 2, Label: "👎", IdempotencyKey: "c1"}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, c := range f.Conversations(id) {
		if c.Private && c.BodyText == "The customer rated this live chat 1/2 (👎)." {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d rating notes, want 1", n)
	}
}
