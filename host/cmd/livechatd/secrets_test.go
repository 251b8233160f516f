package main_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// writeWebchatConfig writes a config for one webchat bot "shop" on the echo
// provider, listening on listen, with the given extra top-level and bot
// attributes.
func (e *env) writeWebchatConfig(t *testing.T, top, bot string) {
	t.Helper()
	cfg := `
plugin_dir  = "plugins"
log_level   = "debug"
storage "sqlite" { path = "data/livechat.db" }
` + top + `
bot "shop" {
  provider      = "echo"
  channel       = "webchat"
` + bot + `
  config {
    greeting = "Hello from Echo."
  }
}
`
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Strong secrets: long, random-looking, in no example.
const (
	strongAdmin   = "0d7b1c5e9a2f4863b1e07c4d5a96f3e2"
	strongChannel = "a41f0e9c7b2d4e58961c3b7a0d2f5e84"
	strongWebhook = "5c2e8f1a9d3b4c7e8a06f1b2d4c9e7a3"
)

// TestURLCredentialsNeverLogged: a bot_url that carries a credential in its
// query, and a public_url with a password, are never shown: not in the
// answer to an event the unreachable bot fails, not in the logs.
func TestURLCredentialsNeverLogged(t *testing.T) {
	e := newEnv(t)
	e.writeWebchatConfig(t, `
listen      = "127.0.0.1:0"
public_url  = "https://ops:PUBLICSECRET@livechat.example.com"
admin_token = "`+strongAdmin+`"
`, `
  bot_url        = "http://127.0.0.1:1/events?lang=fr&token=BOTURLSECRET"
  channel_secret = "`+strongChannel+`"
  webhook_token  = "`+strongWebhook+`"
`)
	p := start(t, e)
	resp, err := http.Post(p.url+"/chat/shop/identity", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var id struct{ UserID, Token string }
	if err := json.NewDecoder(resp.Body).Decode(&struct {
		UserID *string `json:"user_id"`
		Token  *string `json:"token"`
	}{&id.UserID, &id.Token}); err != nil || id.Token == "" {
		t.Fatalf("identity: %v %+v", err, id)
	}
	resp.Body.Close()
	body, _ := json.Marshal(map[string]any{"client": map[string]any{"user_id": id.UserID}, "payload": text("hello")})
	req, _ := http.NewRequest(http.MethodPost, p.url+"/v1/bots/shop/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Livechat-User-Token", id.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("event to an unreachable bot: %d %s, want 502", resp.StatusCode, answer)
	}
	// The failure is logged with the URL, its credentials masked.
	logs := p.logs.String()
	if !strings.Contains(logs, "token=REDACTED") {
		t.Errorf("the failed bot call is not logged with its URL:\n%s", logs)
	}
	if !strings.Contains(logs, "public_url=https://ops:REDACTED@livechat.example.com") {
		t.Errorf("the start-up log does not show public_url masked:\n%s", logs)
	}
	for _, secret := range []string{"BOTURLSECRET", "PUBLICSECRET"} {
		if strings.Contains(string(answer), secret) {
			t.Errorf("the answer holds %s: %s", secret, answer)
		}
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold %s:\n%s", secret, logs)
		}
	}
}
