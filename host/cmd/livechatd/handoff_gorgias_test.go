package main_test

// Issue 17 through the real livechatd and the Gorgias plugin built on its
// own, against the Gorgias sandbox: routing metadata on the new ticket
// (tags, team, priority, language), a user's image uploaded and attached,
// an agent's image back as an image message, and the agent's assignment
// (an optional ticket-assignment-updated integration) as "joined".

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/fakes"
	"github.com/livechatd/livechatd/plugins/gorgias"
	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

func TestHandoffGorgias(t *testing.T) {
	dir := t.TempDir()
	e := &env{dir: dir, pluginDir: filepath.Join(dir, "plugins"), config: filepath.Join(dir, "livechatd.hcl")}
	if err := os.Mkdir(e.pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sdktest.Install(t, builds.Binary(t, "github.com/livechatd/livechatd/plugins/gorgias/cmd/livechat-provider-gorgias"), e.pluginDir, "gorgias")
	sb := sandbox.Start(t, sandbox.Options{Accounts: map[string]string{gorgiasEmail: gorgiasAPIKey}, Backoff: func(int) time.Duration { return 10 * time.Millisecond }})
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
  provider       = "gorgias"
  bot_url        = %q
  channel_url    = %q
  channel_secret = %q
  webhook_token  = %q
  config {
    base_url = %q
    email    = %q
    api_key  = %q
    teams    = { billing = "12" }
  }
}
`, adminToken, bot.URL(), channel.URL(), channelSecret, gorgiasToken, sb.BaseURL(), gorgiasEmail, gorgiasAPIKey)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, e)
	hook := p.url + "/v1/livechat/gorgias/receive?token=" + gorgiasToken
	for _, in := range []sandbox.Integration{
		{Name: "livechat", Type: "http", HTTP: sandbox.HTTPConfig{URL: hook + "&" + gorgias.WebhookQuery, Method: http.MethodGet,
			Triggers: map[string]bool{"ticket-message-created": true}}},
		{Name: "livechat assignment", Type: "http", HTTP: sandbox.HTTPConfig{URL: hook, Method: http.MethodPost, Body: gorgias.AssignmentTemplate,
			RequestContentType: "application/json", Triggers: map[string]bool{"ticket-assignment-updated": true}}},
	} {
		if _, err := sb.CreateIntegration(in); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := sb.WaitUntil(ctx, cond); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}

	// Routing: tags after the bot's, the team of the teams map, urgent as
	// critical, the language's ISO 639-1 code.
	status, r := p.event("u1", button("LIVECHAT_SESSION_START"), map[string]any{
		"firstname": "Jane", "team": "Billing", "priority": "urgent", "tags": []any{"VIP", "Refund"}, "language": "fr_CA"})
	if status != 200 {
		t.Fatalf("start: %d %v", status, r)
	}
	session := r["livechat"].(map[string]any)["session_id"].(string)
	wait("the ticket", func() bool { return len(sb.TicketsByExternalID(session)) == 1 })
	tk := sb.TicketsByExternalID(session)[0]
	var tags []string
	for _, tg := range tk.Tags {
		tags = append(tags, tg.Name)
	}
	if !slices.Equal(tags, []string{"livechat", "vip", "refund"}) || tk.Priority != "critical" || string(tk.Language) != "fr" ||
		tk.AssigneeTeamID == nil || *tk.AssigneeTeamID != 12 {
		t.Errorf("ticket tags %v priority %q language %q team %v", tags, tk.Priority, tk.Language, tk.AssigneeTeamID)
	}

	// The agent takes the ticket: the user reads that they joined.
	if _, err := sb.Assign(tk.ID, ""); err != nil {
		t.Fatal(err)
	}
	joined := channel.waitEvent(t, "agent_joined", nil)
	if joined.Author.Name != sandbox.DefaultAgentName || joined.Payload.Content["name"] != sandbox.DefaultAgentName {
		t.Errorf("agent_joined %+v", joined)
	}

	// The user's image is uploaded and attached to a customer message.
	status, r = p.event("u1", map[string]any{"content_type": "image", "content": map[string]any{
		"url": files.URL + "/receipt.png", "name": "receipt.png", "mime": "image/png"}}, nil)
	if status != 200 {
		t.Fatalf("image: %d %v", status, r)
	}
	wait("the uploaded image", func() bool {
		msgs, _ := sb.Messages(tk.ID)
		for _, m := range msgs {
			if !m.FromAgent && len(m.Attachments) == 1 {
				return true
			}
		}
		return false
	})
	if fs := sb.Files(); len(fs) != 1 || fs[0].Name != "receipt.png" || string(fs[0].Data) != "\x89PNG\r\n\x1a\nthe receipt" {
		t.Errorf("uploaded files %+v", fs)
	}

	// The agent's image reaches the user as an image message.
	if _, err := sb.ReplyWith(tk.ID, "", "Your label", sandbox.Attachment{URL: "https://uploads.gorgias.io/label.png", Name: "label.png",
		ContentType: "image/png", Size: 2048}); err != nil {
		t.Fatal(err)
	}
	img := channel.wait(t, "the agent's image", func(m handoffMessage) bool { return m.Payload.ContentType == "image" })
	if img.Payload.Content["url"] != "https://uploads.gorgias.io/label.png" || img.Payload.Content["name"] != "label.png" || img.Author.Type != "agent" {
		t.Errorf("agent image %+v", img)
	}
	channel.waitText(t, "Your label")
}
