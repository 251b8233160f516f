package main_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
	readmeShellExample(t, p)
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

// readmeShellExample runs the README's curl/openssl example of a signed
// event, as a channel author would paste it, against p: it must be
// answered 200 with the bot's reply.
func readmeShellExample(t *testing.T, p *proc) {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Logf("no %s: the README's shell example is not run", tool)
			return
		}
	}
	readme := readFile(t, filepath.Join("..", "..", "..", "README.md"))
	_, section, ok := strings.Cut(readme, "### Signing events")
	_, script, ok2 := strings.Cut(section, "```sh\n")
	script, _, ok3 := strings.Cut(script, "```")
	if !ok || !ok2 || !ok3 || !strings.Contains(script, "http://127.0.0.1:8080/v1/bots/shop/events") {
		t.Fatalf("no shell example posting to http://127.0.0.1:8080/v1/bots/shop/events in README's Signing events:\n%s", script)
	}
	script = strings.ReplaceAll(script, "http://127.0.0.1:8080", p.url)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "CHANNEL_SECRET="+channelSecret)
	out, err := cmd.CombinedOutput()
	var reply struct {
		Messages []any `json:"messages"`
	}
	if err != nil || json.Unmarshal(out, &reply) != nil || len(reply.Messages) == 0 {
		t.Errorf("README's shell example: %v\n%s", err, out)
	}
}
