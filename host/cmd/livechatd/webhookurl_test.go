package main_test

import (
	"strings"
	"testing"

	"github.com/livechatd/livechatd/sdk/sdktest"
)

// webhook-url prints the setup a provider builds from the bot's own config
// (sdk.WebhookDescriber), and Info.Webhooks for a provider that builds
// none.
func TestWebhookURLUsesTheBotsConfig(t *testing.T) {
	e := newEnv(t)
	sdktest.Install(t, builds.Binary(t, "github.com/livechatd/livechatd/sdk/testdata/stateful"), e.pluginDir, "stateful")
	e.writeConfig(t, "http://127.0.0.1:1/bot", "http://127.0.0.1:1/channel", "10m", `
public_url = "https://livechat.example.com"

bot "acme" {
  provider       = "stateful"
  bot_url        = "http://127.0.0.1:1/bot"
  channel_url    = "http://127.0.0.1:1/channel"
  channel_secret = "secret"
  webhook_token  = "acme-hook-token"
  config {
    shop_domain = "acme.gorgias.com"
  }
}
`)
	out, errOut, code := run(t, "webhook-url", "-config", e.config, "-bot", "acme")
	if code != 0 {
		t.Fatalf("webhook-url: %d %s", code, errOut)
	}
	for _, want := range []string{
		"# stateful messages webhook (required)",
		"# In https://acme.gorgias.com/app/settings/http-integration, add an integration for bot acme.",
		"URL:      https://livechat.example.com/v1/livechat/stateful/receive?token=acme-hook-token&ticket_id={{ticket.id}}",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("webhook-url output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "static") {
		t.Errorf("webhook-url printed Info.Webhooks besides the bot's own:\n%s", out)
	}

	// echo builds none: its Info's webhooks, or the plain URL.
	out, errOut, code = run(t, "webhook-url", "-config", e.config, "-bot", "shop")
	if code != 0 || !strings.Contains(out, "https://livechat.example.com/v1/livechat/echo/receive?token=hook-token") {
		t.Errorf("webhook-url for echo: %d %s\n%s", code, errOut, out)
	}
}
