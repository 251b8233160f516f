package intercom_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/plugins/intercom"
	"github.com/livechatd/livechatd/plugins/intercom/fake"
	"github.com/livechatd/livechatd/sdk"
)

// TestIntercomHandoffCapabilities: what the plugin lists it does.
func TestIntercomHandoffCapabilities(t *testing.T) {
	for _, c := range []sdk.Capability{sdk.CapAgentAssigned, sdk.CapAttachments, sdk.CapRouting} {
		if !slices.Contains(intercom.Info.Capabilities, c) {
			t.Errorf("capabilities %v lack %s", intercom.Info.Capabilities, c)
		}
	}
	var p any = intercom.New(intercom.Options{})
	if _, ok := p.(sdk.RatingRecorder); !ok {
		t.Error("not a RatingRecorder")
	}
	// Not a ReadMarker: Intercom's read flag does not say whose reading it
	// records (README), and setting it for the wrong side could hide a
	// user's unread messages from the agents.
	if _, ok := p.(sdk.ReadMarker); ok {
		t.Error("a ReadMarker: Serve would list read, which Intercom does not verifiably take")
	}
}

// TestIntercomRouting: tags created by name and attached, the team of the
// teams map assigned, once per session however often the start is
// retried; a team not in the map is left out.
func TestIntercomRouting(t *testing.T) {
	w := icNew(t, fake.Options{})
	cfg := w.config()
	cfg["teams"] = map[string]any{"Billing": "5017691"}
	if err := w.p.Configure(context.Background(), "shop", cfg, w.host); err != nil {
		t.Fatal(err)
	}
	w.host.AddSession("shop", "s1")
	req := sdk.StartRequest{Bot: "shop", SessionID: "s1", User: icUser, IdempotencyKey: "k",
		Routing: sdk.Routing{Team: "billing", Priority: "urgent", Tags: []string{"vip", "refund"}, Language: "fr"}}
	var ref string
	for range 2 {
		res, err := w.p.StartSession(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		ref = res.Ref
	}
	cv, _ := w.ic.Conversation(ref)
	assignments := 0
	for _, p := range cv.Parts {
		if p.PartType == "assignment" {
			assignments++
		}
	}
	if !slices.Equal(cv.Tags, []string{"vip", "refund"}) || cv.TeamAssigneeID != "5017691" || assignments != 1 {
		t.Errorf("tags %v team %q, %d assignment parts", cv.Tags, cv.TeamAssigneeID, assignments)
	}
	w.host.AddSession("shop", "s2")
	res, err := w.p.StartSession(context.Background(), sdk.StartRequest{Bot: "shop", SessionID: "s2", User: icUser, Routing: sdk.Routing{Team: "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	if cv, _ := w.ic.Conversation(res.Ref); cv.TeamAssigneeID != "" || len(cv.Tags) != 0 {
		t.Errorf("unmapped team: %+v", cv)
	}
}

// TestIntercomSendAttachment: a user's image goes with the contact's reply
// as attachment_files (base64), its text the file's name; a file too
// large is a link.
func TestIntercomSendAttachment(t *testing.T) {
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big.bin" {
			_, _ = w.Write(make([]byte, 4096))
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("PNG receipt"))
	}))
	defer files.Close()
	w := icNew(t, fake.Options{})
	cfg := w.config()
	cfg["max_attachment_bytes"] = 1024
	if err := w.p.Configure(context.Background(), "shop", cfg, w.host); err != nil {
		t.Fatal(err)
	}
	ref := w.start("s1")
	img := sdk.Message{ContentType: "image", Content: map[string]any{"url": files.URL + "/r.png"}, Attachment: &sdk.Attachment{URL: files.URL + "/r.png", Name: "r.png"}}
	for range 2 {
		if _, err := w.p.SendMessage(context.Background(), sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: ref, Message: img, IdempotencyKey: "m1"}); err != nil {
			t.Fatal(err)
		}
	}
	fs := w.ic.Files(ref)
	if len(fs) != 1 || fs[0].Name != "r.png" || fs[0].ContentType != "image/png" || string(fs[0].Data) != "PNG receipt" {
		t.Errorf("files %+v", fs)
	}
	big := sdk.Message{ContentType: "file", Content: map[string]any{"url": files.URL + "/big.bin"}, Attachment: &sdk.Attachment{URL: files.URL + "/big.bin", Name: "big.bin"}}
	if _, err := w.p.SendMessage(context.Background(), sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: ref, Message: big, IdempotencyKey: "m2"}); err != nil {
		t.Fatal(err)
	}
	texts := w.ic.UserTexts(ref)
	if last := texts[len(texts)-1]; last != "big.bin: "+files.URL+"/big.bin" {
		t.Errorf("a file too large: %q", last)
	}
}

// TestIntercomAgentJoinedAndFiles: conversation.admin.assigned gives the
// assigned admin (name and avatar from GET /admins/{id}) as the agent who
// joined; an admin's files reach the user as image/file messages; a read
// gives the same events under the same ids.
func TestIntercomAgentJoinedAndFiles(t *testing.T) {
	w := icNew(t, fake.Options{Topics: []string{"conversation"}})
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer hook.Close()
	w.ic.SetWebhookURL(hook.URL)
	ref := w.start("s1")
	w.ic.SetAvatar("Bea", "https://static.intercomassets.com/avatars/bea.png")
	w.ic.Assign(ref, "Bea")
	w.ic.AgentReplyWith(ref, "Bea", "Your label", fake.Attachment{Name: "label.png", ContentType: "image/png", Filesize: 300,
		URL: "https://downloads.intercomcdn.com/i/o/1/label.png"})
	var assigned []byte
	for _, d := range w.ic.Deliveries() {
		if d.Topic == intercom.TopicAdminAssigned {
			assigned = d.Body
		}
	}
	if assigned == nil {
		t.Fatal("no conversation.admin.assigned notification")
	}
	res, err := w.p.HandleWebhook(context.Background(), signedIC(w, assigned))
	if err != nil {
		t.Fatal(err)
	}
	var joined *sdk.Event
	for i, e := range res.Events {
		if e.Type == sdk.EventAgentJoined {
			joined = &res.Events[i]
		}
	}
	if joined == nil || joined.Message.Author.Name != "Bea" || joined.Message.Author.AvatarURL != "https://static.intercomassets.com/avatars/bea.png" ||
		joined.SessionID != "s1" || !strings.HasPrefix(joined.ID, "assignee:"+ref+":") {
		t.Errorf("webhook events %+v", res.Events)
	}
	read, err := w.p.ReadSession(context.Background(), sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range read.Events {
		kinds = append(kinds, string(e.Type)+"/"+e.Message.ContentType)
		if e.Type == sdk.EventAgentJoined && e.ID != joined.ID {
			t.Errorf("read joined id %q, webhook's %q", e.ID, joined.ID)
		}
		if e.Message.ContentType == "image" && (e.Message.Attachment.Name != "label.png" || e.Message.Attachment.Size != 300) {
			t.Errorf("image %+v", e.Message)
		}
	}
	if !slices.Equal(kinds, []string{"agent_joined/text", "agent_message/text", "agent_message/image"}) {
		t.Errorf("read events %v", kinds)
	}
}

// signedIC is a notification body as Intercom sends it, signed.
func signedIC(w *icWorld, body []byte) sdk.WebhookRequest {
	return sdk.WebhookRequest{Bot: "shop", Method: http.MethodPost, Body: body,
		Header: map[string][]string{"X-Hub-Signature": {fake.Sign(w.ic.ClientSecret(), body)}, "Content-Type": {"application/json"}}}
}

// TestIntercomRecordRating: a rating is one admin note.
func TestIntercomRecordRating(t *testing.T) {
	w := icNew(t, fake.Options{})
	ref := w.start("s1")
	for range 2 {
		if err := w.p.RecordRating(context.Background(), sdk.RatingRequest{Bot: "shop", SessionID: "s1", Ref: ref, Score: 5, Scale: 5, IdempotencyKey: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	cv, _ := w.ic.Conversation(ref)
	n := 0
	for _, p := range cv.Parts {
		if p.PartType == "note" && fake.Text(p.Body) == "The customer rated this live chat 5/5." {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d rating notes, want 1: %+v", n, cv.Parts)
	}
}
