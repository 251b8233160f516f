package zendesk

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/zendesk/fake"
	"github.com/livechatd/livechatd/sdk"
)

// TestZendeskRouting: tags after the bot's (spaces as _), Zendesk's own
// priority, the group of the groups map.
func TestZendeskRouting(t *testing.T) {
	e := newZDEnv(t, sdk.Config{"groups": map[string]any{"Billing": "360001"}})
	e.host.AddSession("shop", "s1")
	res, err := e.p.StartSession(e.ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1", User: zdJane, IdempotencyKey: "k",
		Routing: sdk.Routing{Team: "billing", Priority: "urgent", Tags: []string{"vip", "big order", "livechat"}, Language: "fr"}})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := ticketID(res.Ref)
	tk, _ := e.zd.Ticket(id)
	if !slices.Equal(tk.Tags, []string{"livechat", "vip", "big_order"}) || tk.Priority != "urgent" || tk.GroupID != 360001 {
		t.Errorf("ticket tags %v priority %q group %d", tk.Tags, tk.Priority, tk.GroupID)
	}
	e.host.AddSession("shop", "s2")
	res, err = e.p.StartSession(e.ctx, sdk.StartRequest{Bot: "shop", SessionID: "s2", User: zdJane, Routing: sdk.Routing{Team: "sales", Priority: "low"}})
	if err != nil {
		t.Fatal(err)
	}
	id, _ = ticketID(res.Ref)
	if tk, _ := e.zd.Ticket(id); tk.Priority != "low" || tk.GroupID != 0 {
		t.Errorf("unmapped team: priority %q group %d", tk.Priority, tk.GroupID)
	}
	if diags := e.p.ValidateConfig(e.ctx, "shop", sdk.Config{"subdomain": "acme", "email": "a@b.c", "api_token": "t", "webhook_secret": "s",
		"groups": map[string]any{"sales": "x"}}); !diags.HasErrors() {
		t.Error("a group id that is no number was accepted")
	}
}

// TestZendeskSendAttachment: a user's image is uploaded (uploads.json) and
// attached to the requester's comment by its token; a file too large is a
// link.
func TestZendeskSendAttachment(t *testing.T) {
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big.bin" {
			_, _ = w.Write(make([]byte, 4096))
			return
		}
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("PNG receipt"))
	}))
	defer files.Close()
	e := newZDEnv(t, sdk.Config{"max_attachment_bytes": 1024})
	id := e.start(t, "s1")
	ref := strconv.FormatInt(id, 10)
	img := sdk.Message{ContentType: "image", Content: map[string]any{"url": files.URL + "/r.png"}, Attachment: &sdk.Attachment{URL: files.URL + "/r.png", Name: "r.png", MIME: "image/png"}}
	for range 2 {
		if _, err := e.p.SendMessage(e.ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: ref, Message: img, IdempotencyKey: "m1"}); err != nil {
			t.Fatal(err)
		}
	}
	var with []fake.Comment
	for _, c := range e.zd.Comments(id) {
		if len(c.Attachments) > 0 {
			with = append(with, c)
		}
	}
	if len(with) != 1 || with[0].Body != "r.png" || !with[0].Public || with[0].Attachments[0].FileName != "r.png" || string(with[0].Attachments[0].Data) != "PNG receipt" {
		t.Errorf("comments with files %+v", with)
	}
	big := sdk.Message{ContentType: "file", Content: map[string]any{"url": files.URL + "/big.bin"}, Attachment: &sdk.Attachment{URL: files.URL + "/big.bin", Name: "big.bin"}}
	if _, err := e.p.SendMessage(e.ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: ref, Message: big, IdempotencyKey: "m2"}); err != nil {
		t.Fatal(err)
	}
	cs := e.zd.Comments(id)
	if last := cs[len(cs)-1]; last.Body != "big.bin: "+files.URL+"/big.bin" || len(last.Attachments) != 0 {
		t.Errorf("a file too large: %+v", last)
	}
}

// TestZendeskAgentJoinedAndFiles: agent_assignment_changed gives the
// assignee (name and photo, read from the user) as the agent who joined;
// an agent's files reach the user (read back) as image/file messages.
func TestZendeskAgentJoinedAndFiles(t *testing.T) {
	e := newZDEnv(t, nil)
	id := e.start(t, "s1")
	ref := strconv.FormatInt(id, 10)
	e.zd.SetPhoto("Ann", "https://acme.zendesk.com/photos/ann.png")
	if err := e.zd.Assign(id, "Ann"); err != nil {
		t.Fatal(err)
	}
	var assigned []byte
	e.zd.Wait(t, "the assignment webhook", func() bool {
		for _, d := range e.zd.Deliveries() {
			if strings.Contains(string(d.Body), fake.EventAgentAssignmentChanged) {
				assigned = d.Body
				return true
			}
		}
		return false
	})
	res, err := e.p.HandleWebhook(e.ctx, zdSigned(e.zd.Secret(), time.Now(), assigned))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 1 || res.Events[0].Type != sdk.EventAgentJoined || res.Events[0].Message.Author.Name != "Ann" ||
		res.Events[0].Message.Author.AvatarURL != "https://acme.zendesk.com/photos/ann.png" || res.Events[0].ID != "assignee:"+ref+":"+strconv.FormatInt(e.zd.Agent("Ann"), 10) {
		t.Errorf("events %+v", res.Events)
	}
	if _, err := e.zd.AgentReplyWith(id, "Ann", "Your label", fake.Attachment{FileName: "label.png", ContentType: "image/png", Size: 300,
		ContentURL: "https://acme.zendesk.com/attachments/token/x/?name=label.png"}); err != nil {
		t.Fatal(err)
	}
	read, err := e.p.ReadSession(e.ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: ref})
	if err != nil {
		t.Fatal(err)
	}
	var img *sdk.Event
	for i, ev := range read.Events {
		if ev.Message.ContentType == "image" {
			img = &read.Events[i]
		}
	}
	if img == nil || img.Message.Attachment.Name != "label.png" || img.Message.Attachment.Size != 300 || !strings.HasPrefix(img.ID, "comment:") {
		t.Errorf("read events %+v", read.Events)
	}
}

// TestZendeskRecordRating: a rating is a private comment, once, on the
// solved ticket, which stays solved.
func TestZendeskRecordRating(t *testing.T) {
	e := newZDEnv(t, nil)
	id := e.start(t, "s1")
	ref := strconv.FormatInt(id, 10)
	if err := e.p.EndSession(e.ctx, sdk.EndRequest{Bot: "shop", SessionID: "s1", Ref: ref, Reason: sdk.EndUser, IdempotencyKey: "end"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.p.RecordRating(e.ctx, sdk.RatingRequest{Bot: "shop", SessionID: "s1", Ref: ref, Score: 3, Scale: 5, IdempotencyKey: "csat-s1"}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, c := range e.zd.Comments(id) {
		if c.Body == "The customer rated this live chat 3/5." && !c.Public {
			n++
		}
	}
	if tk, _ := e.zd.Ticket(id); n != 1 || tk.Status != "solved" {
		t.Errorf("%d rating comments, status %s", n, tk.Status)
	}
}
