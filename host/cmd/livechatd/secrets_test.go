package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
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
	// The failure is logged with the URL, its credentials masked; once
	// livechatd has stopped, its log is complete.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
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

// TestHostIsNotDumpable: a process of the host's user — what a plugin is —
// cannot read the host's environment through /proc/<pid>/environ. As root
// (where every /proc file is readable) the host and the reader both run as
// nobody, as a plugin of the same user would.
func TestHostIsNotDumpable(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("PR_SET_DUMPABLE is Linux's")
	}
	e := newEnv(t)
	bin := livechatd(t)
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		// nobody needs to reach the binary, the config and the data dir.
		bin = filepath.Join(e.dir, "livechatd")
		copyExecutable(t, livechatd(t), bin)
		for _, d := range []string{filepath.Dir(e.dir), e.dir, e.pluginDir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(e.dir, "data"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(e.dir, "data"), 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	e.writeWebchatConfig(t, `
listen      = "127.0.0.1:0"
admin_token = "`+strongAdmin+`"
`, `
  bot_url        = "http://127.0.0.1:1/events"
  channel_secret = "`+strongChannel+`"
  webhook_token  = "`+strongWebhook+`"
`)
	p := startAs(t, bin, e.config, cred, "LIVECHATD_TEST_SECRET=hunter2-in-the-environment")

	// read reads /proc/<pid>/environ as the host's user.
	read := func(pid int) error {
		cmd := exec.Command("cat", fmt.Sprintf("/proc/%d/environ", pid))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	// The control: a process of that user that did nothing is readable.
	sleeper := exec.Command("sleep", "60")
	sleeper.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	if err := read(sleeper.Process.Pid); err != nil {
		t.Fatalf("the control cannot read its own user's process: %v", err)
	}
	err := read(p.cmd.Process.Pid)
	if err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("reading livechatd's /proc/<pid>/environ as its own user: %v, want permission denied", err)
	}
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// startAs runs `bin serve -config config` with cred (nil: this process's
// user) and the extra environment, and waits until it listens.
func startAs(t *testing.T, bin, config string, cred *syscall.Credential, environ ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, "serve", "-config", config)
	cmd.Env = append(os.Environ(), environ...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	p := &proc{t: t, cmd: cmd, done: make(chan struct{}), logs: &syncBuf{}}
	cmd.Stderr = p.logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("livechatd logs:\n%s", p.logs.String())
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "livechatd listening on "); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case p.url = <-addr:
	case <-p.done:
		t.Fatalf("livechatd exited before listening:\n%s", p.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("livechatd did not listen within 60s:\n%s", p.logs.String())
	}
	return p
}

// devSecrets is the bot block of examples/livechatd.hcl's kind: env() with
// the published development defaults, the variables unset.
const devSecrets = `
  bot_url        = "http://127.0.0.1:1/events"
  channel_secret = env("LIVECHATD_TEST_CHANNEL_SECRET", "dev-channel-secret")
  webhook_token  = "short-token"
`

// TestWeakSecrets: validate warns about each guessable secret at its
// place, serve refuses them on an address others can reach, naming the
// variable to set, and runs with a warning on loopback (make run). The
// values themselves never appear.
func TestWeakSecrets(t *testing.T) {
	e := newEnv(t)
	write := func(listen string) {
		e.writeWebchatConfig(t, `
listen      = "`+listen+`"
admin_token = env("LIVECHATD_TEST_ADMIN_TOKEN", "dev-admin-token")
`, devSecrets)
	}
	noValues := func(what, out string) {
		t.Helper()
		for _, v := range []string{"dev-admin-token", "dev-channel-secret", "short-token"} {
			if strings.Contains(out, v) {
				t.Errorf("%s shows the value %q:\n%s", what, v, out)
			}
		}
	}
	// file:line:col of each secret in writeWebchatConfig's layout.
	admin := e.config + ":7:1: "
	channel := e.config + ":14:3: "
	webhook := e.config + ":15:3: "

	write("0.0.0.0:0")
	out, errOut, code := run(t, "validate", "-config", e.config)
	if code != 0 {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		admin + "warning: admin_token is a published example value: anyone could guess it; set the environment variable LIVECHATD_TEST_ADMIN_TOKEN to a random value of at least 16 bytes",
		channel + `warning: channel_secret in bot "shop" is a published example value: anyone could guess it; set the environment variable LIVECHATD_TEST_CHANNEL_SECRET to`,
		webhook + `warning: webhook_token in bot "shop" is shorter than 16 bytes: anyone could guess it; set it to a random value`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("validate does not warn %q:\n%s", want, errOut)
		}
	}
	noValues("validate", out+errOut)

	_, errOut, code = run(t, "serve", "-config", e.config)
	if code != 1 {
		t.Fatalf("serve on 0.0.0.0 with development secrets: exit %d, want 1\n%s", code, errOut)
	}
	for _, want := range []string{
		admin + `admin_token is a published example value, and listen = "0.0.0.0:0" is not a loopback address: set the environment variable LIVECHATD_TEST_ADMIN_TOKEN to a random value`,
		channel + `channel_secret in bot "shop" is a published example value, and listen`,
		webhook + `webhook_token in bot "shop" is shorter than 16 bytes, and listen`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("serve does not refuse with %q:\n%s", want, errOut)
		}
	}
	noValues("serve's refusal", errOut)

	// Strong values from the environment: nothing to say.
	cmd := exec.Command(livechatd(t), "validate", "-config", e.config)
	cmd.Env = append(os.Environ(), "LIVECHATD_TEST_ADMIN_TOKEN="+strongAdmin, "LIVECHATD_TEST_CHANNEL_SECRET="+strongChannel)
	b, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(b), "admin_token") || strings.Contains(string(b), "channel_secret") {
		t.Errorf("validate with strong secrets from the environment: %v\n%s", err, b)
	}

	// On loopback, as make run: it runs, with the warnings in its log.
	for _, listen := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		t.Run(listen, func(t *testing.T) {
			if listen == "[::1]:0" && !hasIPv6Loopback() {
				t.Skip("no ::1 here")
			}
			write(listen)
			p := start(t, e)
			// Once it has stopped, its log is complete.
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			<-p.done
			logs := p.logs.String()
			if !strings.Contains(logs, "weak secret: admin_token is a published example value") || !strings.Contains(logs, "at="+strings.TrimSuffix(admin, ": ")) {
				t.Errorf("serve on %s does not warn about admin_token:\n%s", listen, logs)
			}
			noValues("serve's log", logs)
		})
	}
}

func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}
