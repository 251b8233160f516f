package gorgias

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/sdk"
)

// TestHandoffCapabilities: the capabilities listed are what the plugin
// does on Gorgias.
func TestHandoffCapabilities(t *testing.T) {
	for _, c := range []sdk.Capability{sdk.CapAgentAssigned, sdk.CapAttachments, sdk.CapRouting} {
		if !slices.Contains(Info.Capabilities, c) {
			t.Errorf("capabilities %v lack %s", Info.Capabilities, c)
		}
	}
	for _, c := range []sdk.Capability{sdk.CapAgentTyping, sdk.CapQueuePosition} {
		if slices.Contains(Info.Capabilities, c) {
			t.Errorf("capabilities %v list %s, which Gorgias has not", Info.Capabilities, c)
		}
	}
	var p any = New()
	if _, ok := p.(sdk.RatingRecorder); !ok {
		t.Error("not a RatingRecorder")
	}
	if _, ok := p.(sdk.TypingSender); ok {
		t.Error("a TypingSender: Gorgias's API takes no typing")
	}
}

// TestRouting: the ticket is created with the routing tags after the
// bot's, the team of the teams map, Gorgias's priority (urgent is
// critical) and the ISO 639-1 language.
func TestRouting(t *testing.T) {
	f := newFake(t)
	p, _ := testProvider(t, f, sdk.Config{"teams": map[string]any{"Billing": "12"}})
	_, err := p.StartSession(context.Background(), sdk.StartRequest{Bot: "shop", SessionID: "s1", User: sdk.User{ID: "u1"},
		Routing: sdk.Routing{Team: "billing", Priority: "urgent", Tags: []string{"vip", "livechat"}, Language: "pt-br"}})
	if err != nil {
		t.Fatal(err)
	}
	body := f.bodies("POST /api/tickets")[0]
	want := map[string]any{"tags": []any{map[string]any{"name": "livechat"}, map[string]any{"name": "vip"}},
		"assignee_team": map[string]any{"id": float64(12)}, "priority": "critical", "language": "pt"}
	for k, v := range want {
		if !cmp.Equal(body[k], v) {
			t.Errorf("ticket %s = %v, want %v", k, body[k], v)
		}
	}
	for ours, theirs := range map[string]string{"low": "low", "normal": "normal", "high": "high"} {
		f.reset()
		if _, err := p.StartSession(context.Background(), sdk.StartRequest{Bot: "shop", SessionID: "s-" + ours, User: sdk.User{ID: "u1"},
			Routing: sdk.Routing{Team: "sales", Priority: ours}}); err != nil {
			t.Fatal(err)
		}
		b := f.bodies("POST /api/tickets")[0]
		if b["priority"] != theirs || b["assignee_team"] != nil || b["language"] != nil {
			t.Errorf("%s: priority %v team %v language %v", ours, b["priority"], b["assignee_team"], b["language"])
		}
	}
	if diags := p.ValidateConfig(context.Background(), "shop", sdk.Config{"base_url": f.srv.URL + "/api/", "email": testEmail, "api_key": testKey,
		"teams": map[string]any{"sales": "x"}}); !diags.HasErrors() || diags[0].Attribute != "teams" {
		t.Errorf("a team id that is no number: %v", diags)
	}
}

// TestSendAttachment: a user's image is uploaded (POST /api/upload) and
// attached to the customer message, once however often the send is
// retried; a file too large is a link.
func TestSendAttachment(t *testing.T) {
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big.bin" {
			_, _ = w.Write(make([]byte, 4096))
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\\x89PNG receipt"))
	}))
	defer files.Close()
	f := newFake(t)
	p, _ := testProvider(t, f, sdk.Config{"max_attachment_bytes": 1024})
	ref := start(t, p, "s1", sdk.User{ID: "u1"})
	img := sdk.Message{ContentType: "image", Content: map[string]any{"url": files.URL + "/receipt.png"},
		Attachment: &sdk.Attachment{URL: files.URL + "/receipt.png", Name: "receipt.png", MIME: "image/png"}}
	for range 2 {
		if _, err := p.SendMessage(context.Background(), sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: ref, Message: img, IdempotencyKey: "m1"}); err != nil {
			t.Fatal(err)
		}
	}
	var with []map[string]any
	for _, m := range f.messagesOf(mustRef(t, ref)) {
		if as, _ := m["attachments"].([]any); len(as) > 0 {
			with = append(with, m)
		}
	}
	if len(with) != 1 {
		t.Fatalf("%d messages with attachments, want 1", len(with))
	}
	a := with[0]["attachments"].([]any)[0].(map[string]any)
	if !strings.HasPrefix(str(a["url"]), "https://uploads.gorgias.io/") || a["name"] != "receipt.png" || a["content_type"] != "image/png" ||
		with[0]["body_text"] != "receipt.png" || with[0]["from_agent"] != false {
		t.Errorf("message %v", with[0])
	}
	if len(f.uploads) == 0 || string(f.uploads[0].Data) != "\\x89PNG receipt" {
		t.Errorf("uploads %+v", f.uploads)
	}
	big := sdk.Message{ContentType: "file", Content: map[string]any{"url": files.URL + "/big.bin"}, Attachment: &sdk.Attachment{URL: files.URL + "/big.bin", Name: "big.bin"}}
	if _, err := p.SendMessage(context.Background(), sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: ref, Message: big, IdempotencyKey: "m2"}); err != nil {
		t.Fatal(err)
	}
	msgs := f.messagesOf(mustRef(t, ref))
	if last := msgs[len(msgs)-1]; last["body_text"] != "big.bin: "+files.URL+"/big.bin" || last["attachments"] != nil {
		t.Errorf("a file too large: %v", last)
	}
}

// TestAgentJoined: a ticket-assignment-updated request reads the ticket
// and gives its assignee as the agent who joined; ReadSession gives the
// same event; a ticket with no assignee gives none.
func TestAgentJoined(t *testing.T) {
	f := newFake(t)
	p, _ := testProvider(t, f, nil)
	ref := start(t, p, "s1", sdk.User{ID: "u1"})
	hook := postBody(`{"event": {"id": "77", "type": "ticket-assignment-updated"}, "ticket": {"id": "`+ref+`", "external_id": "s1", "assignee_user_id": "7"}}`, "application/json")
	res, err := p.HandleWebhook(context.Background(), hook)
	if err != nil || len(res.Events) != 0 {
		t.Fatalf("no assignee yet: %v %+v", err, res.Events)
	}
	f.setTicket(mustRef(t, ref), map[string]any{"assignee_user": map[string]any{"id": 7, "email": "alice@acme.test", "name": "Alice Agent", "firstname": "Alice", "lastname": "Agent"}})
	res, err = p.HandleWebhook(context.Background(), hook)
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Event{ID: "gorgias-assignee-" + ref + "-7", Type: sdk.EventAgentJoined, SessionID: "s1", Ref: ref,
		Message: sdk.Message{ContentType: "text", Content: map[string]any{}, Author: sdk.Author{Type: sdk.AuthorAgent, Name: "Alice Agent", ID: "7"}}}
	if diff := cmp.Diff([]sdk.Event{want}, res.Events); diff != "" {
		t.Errorf("webhook events (-want +got):\n%s", diff)
	}
	read, err := p.ReadSession(context.Background(), sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	if len(read.Events) == 0 || !cmp.Equal(read.Events[0], want) {
		t.Errorf("read events %+v", read.Events)
	}
	// Another ticket's assignment (not a livechat's) is nothing.
	other := postBody(`{"event": {"id": "78", "type": "ticket-assignment-updated"}, "ticket": {"id": "`+ref+`", "external_id": "s9"}}`, "application/json")
	if res, err := p.HandleWebhook(context.Background(), other); err != nil || len(res.Events) != 0 {
		t.Errorf("a mismatched external_id: %v %+v", err, res.Events)
	}
}

// TestAgentFilesRead: an agent's image and PDF reach the user as an image
// and a file message with name, type and size.
func TestAgentFilesRead(t *testing.T) {
	f := newFake(t)
	p, _ := testProvider(t, f, nil)
	ref := start(t, p, "s1", sdk.User{ID: "u1"})
	f.addMessageTo(mustRef(t, ref), map[string]any{"body_text": "Here", "sender": map[string]any{"id": 7, "name": "Alice Agent"},
		"attachments": []any{
			map[string]any{"url": "https://uploads.gorgias.io/l.png", "name": "l.png", "content_type": "image/png", "size": 300},
			map[string]any{"url": "https://uploads.gorgias.io/i.pdf", "name": "i.pdf", "content_type": "application/pdf"}}})
	// GET /api/tickets/{id} embeds the ticket's messages.
	var embedded []any
	for _, m := range f.messagesOf(mustRef(t, ref)) {
		embedded = append(embedded, m)
	}
	f.setTicket(mustRef(t, ref), map[string]any{"messages": embedded})
	read, err := p.ReadSession(context.Background(), sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	var files []sdk.Message
	for _, ev := range read.Events {
		if ev.Message.Attachment != nil {
			files = append(files, ev.Message)
		}
	}
	if len(files) != 2 || files[0].ContentType != "image" || files[0].Attachment.Size != 300 || files[0].Content["name"] != "l.png" ||
		files[1].ContentType != "file" || files[1].Attachment.MIME != "application/pdf" {
		t.Errorf("files %+v", files)
	}
}

// TestRecordRating: a rating is an internal note, written once, and the
// closed ticket stays closed.
func TestRecordRating(t *testing.T) {
	f := newFake(t)
	p, _ := testProvider(t, f, nil)
	ref := start(t, p, "s1", sdk.User{ID: "u1"})
	if err := p.EndSession(context.Background(), sdk.EndRequest{Bot: "shop", SessionID: "s1", Ref: ref, Reason: sdk.EndUser}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := p.RecordRating(context.Background(), sdk.RatingRequest{Bot: "shop", SessionID: "s1", Ref: ref, Score: 5, Scale: 5, Label: "Great"}); err != nil {
			t.Fatal(err)
		}
	}
	var notes []string
	for _, m := range f.messagesOf(mustRef(t, ref)) {
		if m["channel"] == "internal-note" && strings.Contains(str(m["body_text"]), "rated") {
			notes = append(notes, str(m["body_text"]))
		}
	}
	if !slices.Equal(notes, []string{"The customer rated this live chat 5/5 (Great)."}) || f.ticketStatus(mustRef(t, ref)) != "closed" {
		t.Errorf("notes %q, status %s", notes, f.ticketStatus(mustRef(t, ref)))
	}
}
