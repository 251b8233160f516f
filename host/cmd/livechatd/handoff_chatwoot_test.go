package main_test

// Issue 17 through the real livechatd and the Chatwoot plugin built on its
// own: routing metadata lands on the conversation (team, priority, labels,
// language), a user's image is uploaded as an attachment and an agent's
// comes back as an image message, the agent's assignment is "joined"
// with name and avatar, typing goes both ways, and the user's read
// receipts mark the conversation seen.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/livechatd/livechatd/host/internal/fakes"
	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

func TestHandoffChatwoot(t *testing.T) {
	dir := t.TempDir()
	e := &env{dir: dir, pluginDir: filepath.Join(dir, "plugins"), config: filepath.Join(dir, "livechatd.hcl")}
	if err := os.Mkdir(e.pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sdktest.Install(t, builds.Binary(t, "github.com/livechatd/livechatd/plugins/chatwoot/cmd/livechat-provider-chatwoot"), e.pluginDir, "chatwoot")
	cw := fake.New(t, fake.Options{Secret: cwWebhookSecret})
	billing := cw.AddTeam("Billing")
	bot := fakes.NewBot(t)
	channel := newHandoffChannel(t)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\nthe receipt"))
	}))
	t.Cleanup(files.Close)
	cfg := fmt.Sprintf(`
listen      = "127.0.0.1:0"
plugin_dir  = "plugins"
admin_token = %q
storage "sqlite" { path = "data/livechat.db" }

bot "shop" {
  provider       = "chatwoot"
  bot_url        = %q
  channel_url    = %q
  channel_secret = %q
  webhook_token  = %q
  config {
    base_url         = %q
    account_id       = %d
    api_access_token = %q
    webhook_secret   = %q
    teams            = { billing = "%d" }
  }
}
`, adminToken, bot.URL(), channel.URL(), channelSecret, cwHookToken, cw.URL, cw.AccountID(), cw.Token(), cwWebhookSecret, billing.ID)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, e)
	cw.SetWebhookURL(p.url + "/v1/livechat/chatwoot/receive?token=" + cwHookToken)

	// Routing: the metadata's team, priority, tags and language.
	status, r := p.event("u1", button("LIVECHAT_SESSION_START"), map[string]any{
		"firstname": "Jane", "team": "Billing", "priority": "Urgent", "tags": "VIP, refund", "language": "fr_CA"})
	if status != 200 {
		t.Fatalf("start: %d %v", status, r)
	}
	cv := cw.WaitConversation(t, 1)
	cw.Wait(t, "the routing applied", func() bool {
		c, _ := cw.Conversation(cv.ID)
		return c.Priority == "urgent" && len(c.Labels) == 2
	})
	cv, _ = cw.Conversation(cv.ID)
	if cv.TeamID != billing.ID || !slices.Equal(cv.Labels, []string{"vip", "refund"}) || cv.CustomAttributes["livechat_language"] != "fr-ca" {
		t.Errorf("conversation team %d labels %v attributes %v", cv.TeamID, cv.Labels, cv.CustomAttributes)
	}

	// The agent is assigned: the user reads that Ann joined, with her avatar.
	cw.SetAvatar("Ann Agent", "https://cw.example/ann.png")
	cw.Assign(cv.ID, "Ann Agent")
	joined := channel.waitEvent(t, "agent_joined", nil)
	if joined.Author.Name != "Ann" || joined.Author.AvatarURL != "https://cw.example/ann.png" || joined.Payload.Content["avatar_url"] != "https://cw.example/ann.png" {
		t.Errorf("agent_joined %+v", joined)
	}

	// The user's image is uploaded to the conversation as an attachment.
	status, r = p.event("u1", map[string]any{"content_type": "image", "content": map[string]any{
		"url": files.URL + "/receipt.png", "name": "receipt.png", "mime": "image/png", "size": 19}}, nil)
	if status != 200 {
		t.Fatalf("image: %d %v", status, r)
	}
	up := cw.WaitMessage(t, cv.ID, "the uploaded image", func(m fake.Message) bool { return m.MessageType == "incoming" && len(m.Attachments) == 1 })
	if a := up.Attachments[0]; a.FileType != "image" || a.Name != "receipt.png" || string(a.Data) != "\x89PNG\r\n\x1a\nthe receipt" {
		t.Errorf("attachment %+v", a)
	}

	// The agent's image reaches the user as an image message.
	cw.AgentReplyWith(cv.ID, "Ann Agent", "", fake.Attachment{FileType: "image", DataURL: "https://cw.example/rails/label.png", Size: 2048})
	img := channel.wait(t, "the agent's image", func(m handoffMessage) bool { return m.Payload.ContentType == "image" })
	if img.Payload.Content["url"] != "https://cw.example/rails/label.png" || img.Payload.Content["name"] != "label.png" || img.Author.Type != "agent" {
		t.Errorf("agent image %+v", img)
	}

	// Typing both ways.
	cw.AgentTyping(cv.ID, "Ann Agent", true, false)
	typing := channel.wait(t, "the agent typing", func(m handoffMessage) bool { return m.Payload.ContentType == "typing" })
	if typing.Author.Name != "Ann" {
		t.Errorf("typing %+v", typing)
	}
	if status, r := p.event("u1", map[string]any{"content_type": "typing", "content": map[string]any{"duration": 5000}}, nil); status != 200 {
		t.Fatalf("typing: %d %v", status, r)
	}
	cw.WaitTyping(t, "the user's typing", func(ty fake.Typing) bool { return ty.By == "contact" && ty.On && ty.ConversationID == cv.ID })
	if got := bot.Values(); slices.Contains(got, "typing") {
		t.Errorf("the bot heard %q", got)
	}

	// The user's read receipt: Chatwoot records that the contact saw the
	// conversation, and the agent's messages read.
	if c, _ := cw.Conversation(cv.ID); !c.ContactLastSeenAt.IsZero() {
		t.Fatalf("the contact saw the conversation before any receipt: %v", c.ContactLastSeenAt)
	}
	if status, r := p.event("u1", map[string]any{"content_type": "read"}, nil); status != 200 {
		t.Fatalf("read: %d %v", status, r)
	}
	cw.Wait(t, "the contact's last seen time", func() bool {
		c, _ := cw.Conversation(cv.ID)
		return !c.ContactLastSeenAt.IsZero()
	})
	for _, m := range cw.Messages(cv.ID) {
		if m.MessageType == "outgoing" && m.Status != "read" {
			t.Errorf("agent message %d %q is %q after the read receipt, want read", m.ID, m.Content, m.Status)
		}
	}
}
