//go:build faults

package faults_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/fakes"
	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

const (
	adminToken    = "faults-admin-token"
	channelSecret = "faults-channel-secret"
	webhookToken  = "faults-webhook-token"
	botName       = "shop"
)

var builds *sdktest.Builder

const (
	livechatdPkg = "github.com/livechatd/livechatd/host/cmd/livechatd"
	pluginPkg    = "github.com/livechatd/livechatd/plugins/gorgias/cmd/livechat-provider-gorgias"
)

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

// binary is a prebuilt binary named by env, or pkg built from the tree.
func binary(t *testing.T, env, pkg string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	return builds.Binary(t, pkg)
}

// world is one scenario's system: livechatd (one process, or two) with the
// Gorgias plugin, the sandbox with its HTTP integration pointed at
// livechatd as `livechatd webhook-url` prints it, the fake bot and the
// channel.
type world struct {
	t         *testing.T
	dir       string // config, plugins/, data/
	logs      string // this scenario's artifacts
	livechatd string
	plugin    string // the installed plugin binary: only our plugin processes run it
	config    string
	addr      string // livechatd's, the same across restarts
	sandbox   *sandbox.Sandbox
	channel   *channel
	bot       *fakes.Bot
	events    *http.Client

	mu      sync.Mutex
	daemons []*daemon
	starts  int
}

type worldOptions struct {
	pluginTimeout string // the Gorgias plugin's limit on one API call ("20s")
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	w := &world{
		t:         t,
		dir:       t.TempDir(),
		logs:      filepath.Join(artifacts(t), strings.ReplaceAll(t.Name(), "/", "_")),
		livechatd: binary(t, "FAULTS_LIVECHATD", livechatdPkg),
		bot:       fakes.NewBot(t),
		events: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, DisableCompression: true,
		}},
	}
	if err := os.MkdirAll(w.logs, 0o755); err != nil {
		t.Fatal(err)
	}
	pluginDir := filepath.Join(w.dir, "plugins")
	if err := os.Mkdir(pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	w.plugin = sdktest.Install(t, binary(t, "FAULTS_PLUGIN", pluginPkg), pluginDir, "gorgias")
	if real, err := filepath.EvalSymlinks(w.plugin); err == nil {
		w.plugin = real // as /proc/PID/exe names it
	}
	w.channel = newChannel(t, channelSecret)

	sbLog, err := os.Create(filepath.Join(w.logs, "sandbox.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sbLog.Close() })
	w.sandbox = sandbox.Start(t, sandbox.Options{
		// The storms are injected; the leaky bucket would only slow the load.
		BucketCapacity: -1,
		// Gorgias keeps retrying a failing HTTP integration (gorgias.md):
		// here for about 45 s, so that a webhook outlives a restart of
		// livechatd or of its plugin, and what is lost is livechatd's.
		Retries: 50,
		Backoff: func(n int) time.Duration { return min(100*time.Millisecond<<min(n-1, 10), time.Second) },
		Logger:  slog.New(slog.NewTextHandler(sbLog, nil)),
	})
	w.addr = freeAddr(t)
	w.config = w.writeConfig("livechatd.hcl", w.addr, o)

	// The operator's step: paste what webhook-url prints into Gorgias.
	hook := w.webhookURL()
	if _, err := w.sandbox.CreateIntegration(sandbox.Integration{Name: "livechatd", Type: "http", HTTP: sandbox.HTTPConfig{
		URL: hook.URL, Method: hook.Method, Triggers: map[string]bool{hook.Triggers: true},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stopAll)
	return w
}

// writeConfig writes a config listening on addr; every config of a world
// shares the data directory.
func (w *world) writeConfig(name, addr string, o worldOptions) string {
	w.t.Helper()
	timeout := ""
	if o.pluginTimeout != "" {
		timeout = fmt.Sprintf("timeout  = %q", o.pluginTimeout)
	}
	cfg := fmt.Sprintf(`
listen      = %q
public_url  = "http://%s"
plugin_dir  = "plugins"
log_level   = "debug"
admin_token = %q
storage "sqlite" { path = "data/livechat.db" }

bot %q {
  provider        = "gorgias"
  bot_url         = %q
  channel_url     = %q
  channel_secret  = %q
  webhook_token   = %q
  config {
    base_url = %q
    email    = %q
    api_key  = %q
    %s
  }
}
`, addr, addr, adminToken, botName, w.bot.URL(), w.channel.URL(), channelSecret, webhookToken,
		w.sandbox.BaseURL(), sandbox.DefaultEmail, sandbox.DefaultAPIKey, timeout)
	path := filepath.Join(w.dir, name)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// dbPath is the database file every livechatd of the world opens.
func (w *world) dbPath() string { return filepath.Join(w.dir, "data", "livechat.db") }

// url is livechatd's base URL.
func (w *world) url() string { return "http://" + w.addr }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// webhookURL runs `livechatd webhook-url` and reads its first webhook.
func (w *world) webhookURL() fakes.PrintedWebhook {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, w.livechatd, "webhook-url", "-config", w.config, "-bot", botName).CombinedOutput()
	if err != nil {
		w.t.Fatalf("livechatd webhook-url: %v\n%s", err, out)
	}
	h, ok := fakes.ParseWebhookURL(string(out))
	if !ok {
		w.t.Fatalf("livechatd webhook-url printed no complete webhook:\n%s", out)
	}
	return h
}

// ---- livechatd processes

// daemon is one livechatd process.
type daemon struct {
	cmd    *exec.Cmd
	done   chan struct{} // closed when it has exited
	url    string        // once listening
	stderr *tailBuffer
}

// pid of the process.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// exited reports whether the process is gone.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the process and waits for it to be reaped.
func (d *daemon) kill() {
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// errNotListening: the process exited before it listened.
var errNotListening = errors.New("livechatd exited before listening")

// start runs `livechatd serve` on the world's config and waits until it
// listens. Its logs go to the scenario's livechatd.log.
func (w *world) start() (*daemon, error) { return w.startWith(w.config) }

// startWith runs livechatd on config. On errNotListening the daemon is
// returned too: its stderr says why.
func (w *world) startWith(config string) (*daemon, error) {
	w.mu.Lock()
	w.starts++
	n := w.starts
	w.mu.Unlock()
	logFile, err := os.OpenFile(filepath.Join(w.logs, "livechatd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "==== livechatd start %d (%s) at %s\n", n, filepath.Base(config), time.Now().Format(time.RFC3339Nano))
	d := &daemon{cmd: exec.Command(w.livechatd, "serve", "-config", config), done: make(chan struct{}), stderr: &tailBuffer{max: 64 << 10}}
	d.cmd.Dir = w.dir
	d.cmd.Stderr = io.MultiWriter(logFile, d.stderr)
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	if err := d.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	w.mu.Lock()
	w.daemons = append(w.daemons, d)
	w.mu.Unlock()
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "livechatd listening on "); ok {
				select {
				case listening <- addr:
				default:
				}
			}
		}
		_ = d.cmd.Wait() // after stdout is drained, as Wait closes it
		logFile.Close()
		close(d.done)
	}()
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case d.url = <-listening:
		return d, nil
	case <-d.done:
		return d, fmt.Errorf("%w (%s): %s", errNotListening, d.cmd.ProcessState, strings.TrimSpace(d.stderr.String()))
	case <-timer.C:
		d.kill()
		return d, fmt.Errorf("livechatd did not listen within a minute")
	}
}

// mustStart starts livechatd or fails the test.
func (w *world) mustStart() *daemon {
	w.t.Helper()
	d, err := w.start()
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// stopAll kills every livechatd still running, then any plugin process
// left behind (ours only: the binary lives in this world's directory).
func (w *world) stopAll() {
	w.mu.Lock()
	ds := append([]*daemon(nil), w.daemons...)
	w.mu.Unlock()
	for _, d := range ds {
		if !d.exited() {
			d.kill()
		}
	}
	for _, pid := range w.pluginPIDs(0) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// pluginPIDs lists the running processes of this world's plugin binary;
// with parent > 0, only that process's children.
func (w *world) pluginPIDs(parent int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != w.plugin {
			continue
		}
		if parent > 0 && ppid(pid) != parent {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// ppid reads a process's parent from /proc/PID/stat.
func ppid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(fields[1])
	return n
}

// waitFor polls cond every 50 ms until it holds or d passes: for
// conditions on other processes, which cannot signal us.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = t.b[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// ---- the channel's side of livechatd: events in, with retries

// eventError is an answer that is not 2xx.
type eventError struct {
	status int
	body   string
}

func (e *eventError) Error() string { return fmt.Sprintf("%d %s", e.status, strings.TrimSpace(e.body)) }

// postEvent posts one event to base's events API, signed as a channel
// signs (docs/events.md), and returns the answer.
func (w *world) postEvent(ctx context.Context, base string, body []byte) (map[string]any, error) {
	req, err := fakes.SignedEventRequest(ctx, base+"/v1/bots/"+botName+"/events", channelSecret, body, time.Now())
	if err != nil {
		return nil, err
	}
	resp, err := w.events.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, &eventError{status: resp.StatusCode, body: string(b)}
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	return out, nil
}

// send posts an event the way a channel does: the same request again
// until it is answered 2xx, a 4xx says it never will be, or ctx ends.
// 408, 409 (the same request_id still running) and 429 are retried.
func (w *world) send(ctx context.Context, base string, event map[string]any) (map[string]any, error) {
	body, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	for {
		out, err := w.postEvent(ctx, base, body)
		var ee *eventError
		switch {
		case err == nil:
			return out, nil
		case errors.As(err, &ee) && ee.status/100 == 4 && ee.status != 408 && ee.status != 409 && ee.status != 429:
			return nil, err
		}
		retry := time.NewTimer(100 * time.Millisecond) // the channel's retry schedule
		select {
		case <-ctx.Done():
			retry.Stop()
			return nil, fmt.Errorf("gave up: %w (last: %v)", ctx.Err(), err)
		case <-retry.C:
		}
	}
}

func textPayload(s string) map[string]any {
	return map[string]any{"content_type": "text", "content": map[string]any{"text": s}}
}

func buttonPayload(s string) map[string]any {
	return map[string]any{"content_type": "payload", "content": map[string]any{"payload": s}}
}

// ---- livechatd's state, read from outside

var pendingLine = regexp.MustCompile(`(?m)^livechat_outbox_items\{state="pending"\} (\S+)$`)

// outboxPending reads the pending outbox items from /metrics; ok is false
// when livechatd does not answer.
func (w *world) outboxPending(base string) (n int, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	m := pendingLine.FindSubmatch(b)
	if m == nil {
		return 0, true // not exported (any more): the other conditions decide
	}
	f, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil || f < 0 {
		return 0, false
	}
	return int(f), true
}

// deadLetters counts the dead letters in the admin API (-1: no answer).
func (w *world) deadLetters(base string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/deadletters", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var out struct {
		DeadLetters []json.RawMessage `json:"dead_letters"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		return -1
	}
	return len(out.DeadLetters)
}

// platformIdle reports whether no webhook is queued or in flight.
func (w *world) platformIdle() bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // WaitIdle checks once, then sees the canceled context
	return w.sandbox.WaitIdle(ctx) == nil
}
