package main_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/host/internal/fakes"
)

// postUnsigned posts an event without X-Livechat-Signature and returns the
// status and the error's field.
func (p *proc) postUnsigned(user, text string) (int, string) {
	p.t.Helper()
	body, _ := json.Marshal(map[string]any{"client": map[string]any{"user_id": user},
		"payload": map[string]any{"content_type": "text", "content": map[string]any{"text": text}}})
	resp, err := http.Post(p.url+"/v1/bots/shop/events", "application/json", strings.NewReader(string(body)))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Error struct{ Field string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Error.Field
}

// Issue 10, point 1, in the real process: a channel_url bot's events are
// signed; insecure_events = true takes them unsigned and says so at start.
func TestEventsAreSignedInRealProcess(t *testing.T) {
	bot := fakes.NewBot(t)
	channel := fakes.NewChannel(t, channelSecret)
	e := newEnv(t)
	e.writeConfig(t, bot.URL(), channel.URL(), "30m", "")
	p := start(t, e)
	if status, field := p.postUnsigned("u1", "hello"); status != 401 || field != "X-Livechat-Signature" {
		t.Errorf("unsigned event: %d on %q, want 401 on X-Livechat-Signature", status, field)
	}
	p.say("u1", text("signed")) // fails the test unless 200
	if vs := bot.Values(); len(vs) != 1 || vs[0] != "signed" {
		t.Errorf("the bot got %q, want the signed event only", vs)
	}
	if strings.Contains(p.logs.String(), "insecure_events") {
		t.Errorf("a bot with a channel_secret is reported insecure:\n%s", p.logs.String())
	}
	_ = p.cmd.Process.Kill()
	<-p.done

	// No channel_secret: refused at load time, naming the bot and the
	// attribute, unless insecure_events = true.
	cfg := strings.Replace(readFile(t, e.config), `channel_secret  = "secret"`, "", 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"validate", "serve"} {
		_, errOut, code := run(t, cmd, "-config", e.config)
		if code == 0 || !strings.Contains(errOut, `bot "shop" has a channel_url and no channel_secret`) || !strings.Contains(errOut, "insecure_events = true") {
			t.Errorf("%s without channel_secret: exit %d\n%s", cmd, code, errOut)
		}
	}
	cfg = strings.Replace(cfg, `webhook_token   = "hook-token"`, `webhook_token   = "hook-token"
  insecure_events = true`, 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p = start(t, e)
	if status, _ := p.postUnsigned("u2", "unsigned"); status != 200 {
		t.Errorf("unsigned event with insecure_events: %d", status)
	}
	logs := p.logs.String()
	if n := strings.Count(logs, "insecure_events = true"); n != 1 || !strings.Contains(logs, "[WARN]") || !strings.Contains(logs, "bot=shop") {
		t.Errorf("want one warning naming the bot, got %d:\n%s", n, logs)
	}
}
