package main_test

import (
	"testing"

	"github.com/livechatd/livechatd/host/internal/fakes"
)

// Files through the real process: a user's image reaches the echo plugin
// (attachments) as an attachment with its name, type and URL; the agent's
// image reaches the user as an image payload. Routing metadata reaches
// StartSession normalized; a bad priority is refused naming the field.
func TestHandoffFilesAndRouting(t *testing.T) {
	bot := fakes.NewBot(t)
	channel := newHandoffChannel(t)
	e := newEnv(t)
	writeHandoffConfig(t, e, bot.URL(), channel.URL(), "", "")
	p := start(t, e)

	status, r := p.event("u1", button("LIVECHAT_SESSION_START"), map[string]any{"priority": "urgent!"})
	if errBody, _ := r["error"].(map[string]any); status != 400 || errBody["field"] != "metadata.priority" {
		t.Errorf("a bad priority: %d %v", status, r)
	}
	status, r = p.event("u1", button("LIVECHAT_SESSION_START"), map[string]any{
		"team": "Billing", "priority": "High", "tags": []any{"VIP", "refund"}, "language": "fr_CA"})
	if status != 200 {
		t.Fatalf("start: %d %v", status, r)
	}
	channel.waitText(t, "Hello from Echo.")
	p.say("u1", text("routing"))
	channel.waitText(t, "echo: routing team=billing priority=high tags=vip,refund language=fr-ca")

	p.say("u1", map[string]any{"content_type": "image", "content": map[string]any{
		"url": "https://files.example.com/receipt.png", "name": "receipt.png", "mime": "image/png", "size": 2048}})
	channel.waitText(t, "echo: attachment receipt.png image/png https://files.example.com/receipt.png")

	p.say("u1", text("file"))
	img := channel.wait(t, "the agent's image", func(m handoffMessage) bool { return m.Payload.ContentType == "image" })
	if img.Payload.Content["url"] != "https://example.com/echo.png" || img.Payload.Content["name"] != "echo.png" || img.Author.Type != "agent" {
		t.Errorf("agent image %+v", img)
	}
}
