package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/fakes"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

func livechatd(t *testing.T) string {
	return builds.Binary(t, "github.com/livechatd/livechatd/host/cmd/livechatd")
}

// env is a directory with a plugin dir holding the echo plugin and a
// config file.
type env struct {
	dir, pluginDir, config string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir, pluginDir: filepath.Join(dir, "plugins"), config: filepath.Join(dir, "livechatd.hcl")}
	if err := os.Mkdir(e.pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sdktest.Install(t, builds.Binary(t, "github.com/livechatd/livechatd/examples/echo-provider"), e.pluginDir, "echo")
	return e
}

const adminToken = "process-admin-token"

// writeConfig writes a config for one bot "shop" on the echo provider.
func (e *env) writeConfig(t *testing.T, botURL, channelURL, timeout, extra string) {
	t.Helper()
	cfg := fmt.Sprintf(`
listen      = "127.0.0.1:0"
plugin_dir  = "plugins"
log_level   = "debug"
admin_token = "%s"
storage "sqlite" { path = "data/livechat.db" }

bot "shop" {
  provider        = "echo"
  session_timeout = "%s"
  bot_url         = "%s"
  channel_url     = "%s"
  channel_secret  = "secret"
  webhook_token   = "hook-token"
  config {
    greeting = "Hello from Echo."
  }
}
%s`, adminToken, timeout, botURL, channelURL, extra)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs a livechatd command to its end.
func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, livechatd(t), args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func TestValidate(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(t, "http://127.0.0.1:9/events", "http://127.0.0.1:9/deliver", "30m", "")
	out, errOut, code := run(t, "validate", "-config", e.config)
	if code != 0 || !strings.Contains(out, "ok (1 bots)") {
		t.Fatalf("validate good config: %d\n%s%s", code, out, errOut)
	}

	bad := strings.Replace(readFile(t, e.config), `greeting = "Hello from Echo."`, "greting = \"typo\"\n    colour = \"red\"", 1)
	if err := os.WriteFile(e.config, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run(t, "validate", "-config", e.config)
	line := func(prefix string) int { // the 1-based line where prefix starts, after indentation
		for i, l := range strings.Split(bad, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return i + 1
			}
		}
		t.Fatalf("no line %q", prefix)
		return 0
	}
	want := []string{
		fmt.Sprintf(`%s:%d:3: missing required attribute "greeting" in bot "shop" config`, e.config, line("config {")),
		fmt.Sprintf(`%s:%d:5: unknown attribute "greting" in bot "shop" config; did you mean "greeting"?`, e.config, line("greting")),
		fmt.Sprintf(`%s:%d:5: unknown attribute "colour" in bot "shop" config; accepted: agent_name, avatar_url, greeting, prefix, silent`, e.config, line("colour")),
	}
	if code != 1 || strings.TrimSpace(errOut) != strings.Join(want, "\n") {
		t.Errorf("validate bad config: exit %d\n%s\nwant:\n%s", code, errOut, strings.Join(want, "\n"))
	}

	// An error of the file itself is reported before any plugin starts.
	if err := os.WriteFile(e.config, []byte("listen = 8080\nbogus = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = run(t, "validate", "-config", e.config)
	if code != 1 || !strings.Contains(errOut, e.config+":2:1: ") {
		t.Errorf("validate broken file: exit %d\n%s", code, errOut)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPluginsCommand(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(filepath.Join(e.pluginDir, "livechat-provider-stray"), []byte("#!/bin/sh\necho not a plugin\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.writeConfig(t, "http://127.0.0.1:9/events", "http://127.0.0.1:9/deliver", "30m", "")
	out, errOut, code := run(t, "plugins", "-config", e.config)
	if code != 1 { // the stray plugin failed (TestPluginsExitCode)
		t.Fatalf("plugins: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("plugins output:\n%s", out)
	}
	sum := sha256File(t, filepath.Join(e.pluginDir, "livechat-provider-echo"))
	if f := strings.Fields(lines[1]); len(f) != 6 || f[0] != "echo" || f[1] != "1.0.0" || f[2] != "1" || f[3] != sum ||
		f[4] != "push,agent_assigned,agent_typing,user_typing,read,attachments,routing,queue_position,csat" || f[5] != "ok" {
		t.Errorf("echo line = %q", lines[1])
	}
	if !strings.HasPrefix(lines[2], "stray") || !strings.Contains(lines[2], "failed") || !strings.Contains(lines[2], "not a plugin") {
		t.Errorf("stray line = %q", lines[2])
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

// proc is a running livechatd.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	logs *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs livechatd serve and waits until it listens.
func start(t *testing.T, e *env) *proc {
	t.Helper()
	return startAs(t, livechatd(t), e.config, nil)
}

// channelSecret is the channel_secret of the test configs' bots: events
// are signed with it.
const channelSecret = "secret"

// post posts an event, signed as the bot's channel signs it, and fails the
// test unless it is answered 200.
func (p *proc) post(path string, v any) map[string]any {
	p.t.Helper()
	b, _ := json.Marshal(v)
	req, err := fakes.SignedEventRequest(context.Background(), p.url+path, channelSecret, b, time.Now())
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		p.t.Fatalf("POST %s: %d %v", path, resp.StatusCode, out)
	}
	return out
}

func (p *proc) admin(path string) map[string]any {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

func (p *proc) say(user string, payload map[string]any) map[string]any {
	return p.post("/v1/bots/shop/events", map[string]any{"client": map[string]any{"user_id": user}, "payload": payload})
}

func text(s string) map[string]any {
	return map[string]any{"content_type": "text", "content": map[string]any{"text": s}}
}

func button(s string) map[string]any {
	return map[string]any{"content_type": "payload", "content": map[string]any{"payload": s}}
}

// pluginPID is the pid of the echo plugin process, from the admin API.
func (p *proc) pluginPID() int {
	p.t.Helper()
	for _, pl := range p.admin("/v1/plugins")["plugins"].([]any) {
		pl := pl.(map[string]any)
		if pl["name"] == "echo" {
			if pid, ok := pl["pid"].(float64); ok && pid > 0 {
				return int(pid)
			}
		}
	}
	p.t.Fatal("no running echo plugin")
	return 0
}

// waitGone waits for the process pid to be gone.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	// The plugin is a child of livechatd, which reaps it; once livechatd is
	// gone too, init does. Either way kill(pid, 0) ends up failing.
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running", pid)
		}
		runtime.Gosched()
	}
}

func TestStopLeavesNoPluginProcess(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(t, "http://127.0.0.1:9/events", "http://127.0.0.1:9/deliver", "30m", "")
	p := start(t, e)
	pid := p.pluginPID()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("livechatd did not stop on SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("plugin process %d still running after livechatd stopped", pid)
	}
}

func TestExpiryInRealProcess(t *testing.T) {
	bot := fakes.NewBot(t)
	channel := fakes.NewChannel(t, "secret")
	e := newEnv(t)
	e.writeConfig(t, bot.URL(), channel.URL(), "2s", "")
	p := start(t, e)
	r := p.say("u1", button("LIVECHAT_SESSION_START"))
	id := r["livechat"].(map[string]any)["session_id"].(string)
	channel.WaitTexts(t, 1)
	bot.WaitValue(t, "LIVECHAT_SESSION_EXPIRED")
	texts := channel.WaitTexts(t, 2)
	if texts[1] != "Your livechat session expired." {
		t.Errorf("channel = %q", texts)
	}
	if s := p.admin("/v1/sessions/" + id); s["state"] != "expired" {
		t.Errorf("session = %v", s)
	}
}

func TestSIGKILLAndRestart(t *testing.T) {
	bot := fakes.NewBot(t)
	channel := fakes.NewChannel(t, "secret")
	channel.SetDown(true)
	e := newEnv(t)
	e.writeConfig(t, bot.URL(), channel.URL(), "6s", "")
	p := start(t, e)
	r := p.say("u1", button("LIVECHAT_SESSION_START"))
	id := r["livechat"].(map[string]any)["session_id"].(string)
	for i := 1; i <= 3; i++ {
		p.say("u1", text(fmt.Sprintf("m%d", i)))
	}
	channel.WaitAttempts(t, 1)
	plugin := p.pluginPID()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	waitGone(t, plugin) // the plugin dies with its host

	channel.SetDown(false)
	p2 := start(t, e)
	if s := p2.admin("/v1/sessions/" + id); s["state"] != "active" && s["state"] != "starting" {
		t.Errorf("after restart the session is %v, want it still open", s["state"])
	}
	got := channel.WaitTexts(t, 4)
	if s := p2.admin("/v1/sessions/" + id); s["state"] != "active" {
		t.Errorf("after the deliveries the session is %v, want active", s["state"])
	}
	want := []string{"Hello from Echo.", "echo: m1", "echo: m2", "echo: m3"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("channel = %q, want %q exactly once, in order", got, want)
	}
	for _, a := range channel.Attempts() {
		if !a.SignatureOK {
			t.Errorf("delivery %s: bad signature", a.DeliveryID)
		}
	}
	// Expiry still fires after the restart.
	bot.WaitValue(t, "LIVECHAT_SESSION_EXPIRED")
	if got := channel.WaitTexts(t, 5); got[4] != "Your livechat session expired." || len(got) != 5 {
		t.Errorf("channel after expiry = %q", got)
	}
}
