package pluginhost_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/host/pluginhost"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

func build(t *testing.T, pkg string) string { return builds.Binary(t, pkg) }

func echoBinary(t testing.TB) string {
	return builds.Binary(t, "github.com/livechatd/livechatd/examples/echo-provider")
}

// sdkInstall puts the echo plugin into dir.
func sdkInstall(t testing.TB, dir string) {
	sdktest.Install(t, echoBinary(t), dir, "echo")
}

func install(t *testing.T, dir, src, name string) string { return sdktest.Install(t, src, dir, name) }

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func sha(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type testManager struct {
	*pluginhost.Manager
	pushes *sdktest.Host
}

func start(t *testing.T, opts pluginhost.Options) testManager {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = hclog.New(&hclog.LoggerOptions{Name: "test", Output: testWriter{t}, Level: hclog.Debug})
	}
	m := pluginhost.New(opts)
	ps := sdktest.NewHost()
	m.SetHost(ps)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Load(ctx); err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Close(ctx)
	})
	return testManager{m, ps}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func status(t *testing.T, m testManager, name string) pluginhost.Status {
	t.Helper()
	for _, s := range m.Statuses() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for %q in %+v", name, m.Statuses())
	return pluginhost.Status{}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var echoConfig = sdk.Config{"greeting": "Hello, I am Echo."}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	echo := install(t, dir, echoBinary(t), "echo")
	install(t, dir, echoBinary(t), "echo2")
	copyFile(t, echoBinary(t), filepath.Join(dir, pluginhost.Prefix+"noexec"), 0o644)
	outside := filepath.Join(t.TempDir(), "elsewhere")
	copyFile(t, echoBinary(t), outside, 0o755)
	if err := os.Symlink(outside, filepath.Join(dir, pluginhost.Prefix+"outside")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(echo, filepath.Join(dir, pluginhost.Prefix+"inside")); err != nil {
		t.Fatal(err)
	}
	copyFile(t, echoBinary(t), filepath.Join(dir, "not-a-provider"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha(t, echo)

	cands, problems, err := pluginhost.Discover(dir, map[string]string{"echo2": strings.Repeat("ab", 32), "ghost": sum}, false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cands {
		names = append(names, c.Name)
		if c.SHA256 != sum {
			t.Errorf("%s: sha256 %s, want %s", c.Name, c.SHA256, sum)
		}
	}
	if diff := cmp.Diff([]string{"echo", "inside"}, names); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
	want := map[string][]string{
		"echo2":   {"sha256 mismatch", "pins " + strings.Repeat("ab", 32), "the file is " + sum},
		"ghost":   {"not found in plugin_dir"},
		"noexec":  {"not executable", "0644"},
		"outside": {"links outside plugin_dir", outside},
	}
	if len(problems) != len(want) {
		t.Errorf("problems: %v, want %d", problems, len(want))
	}
	for _, p := range problems {
		for _, frag := range want[p.Name] {
			if !strings.Contains(p.Err.Error(), frag) {
				t.Errorf("problem %s: %q does not say %q", p.Name, p.Err, frag)
			}
		}
		if want[p.Name] == nil {
			t.Errorf("unexpected problem %v", p)
		}
	}
}

func TestDiscoverRequireChecksums(t *testing.T) {
	dir := t.TempDir()
	echo := install(t, dir, echoBinary(t), "echo")
	install(t, dir, echoBinary(t), "other")
	sum := sha(t, echo)
	cands, problems, err := pluginhost.Discover(dir, map[string]string{"echo": strings.ToUpper(sum)}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 1 || cands[0].Name != "echo" {
		t.Errorf("candidates = %+v, want echo only", cands)
	}
	if len(problems) != 1 || problems[0].Name != "other" ||
		!strings.Contains(problems[0].Err.Error(), `plugin "other" { sha256 = "`+sum+`" }`) {
		t.Errorf("problems = %v, want other refused with the pin to add", problems)
	}
}

func TestLoadFingerprintsEcho(t *testing.T) {
	dir := t.TempDir()
	path := install(t, dir, echoBinary(t), "echo")
	m := start(t, pluginhost.Options{Dir: dir})
	s := status(t, m, "echo")
	s.PID = 0
	want := pluginhost.Status{
		Name: "echo", Path: path, SHA256: sha(t, path), Version: "1.0.0", Protocol: 1,
		Capabilities: []sdk.Capability{sdk.CapPush, sdk.CapAgentAssigned, sdk.CapAgentTyping, sdk.CapQueuePosition, sdk.CapAttachments, sdk.CapRouting, sdk.CapUserTyping, sdk.CapCSAT, sdk.CapRead}, State: pluginhost.StateReady,
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	p, err := m.Plugin("echo")
	if err != nil {
		t.Fatal(err)
	}
	attr, ok := p.Info().Schema.Attribute("greeting")
	if !ok || !attr.Required || attr.Type != sdk.String {
		t.Errorf("greeting attribute = %+v, %v; want a required string", attr, ok)
	}
}

func TestWrongPinRefused(t *testing.T) {
	dir := t.TempDir()
	path := install(t, dir, echoBinary(t), "echo")
	pin := strings.Repeat("0", 64)
	m := start(t, pluginhost.Options{Dir: dir, Pins: map[string]string{"echo": pin}})
	s := status(t, m, "echo")
	if s.State != pluginhost.StateFailed || !strings.Contains(s.Reason, pin) || !strings.Contains(s.Reason, sha(t, path)) {
		t.Errorf("status = %+v, want failed naming expected %s and actual %s", s, pin, sha(t, path))
	}
	if _, err := m.Plugin("echo"); err == nil || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Errorf("Plugin(echo) error = %v, want the refusal", err)
	}
}

func TestUnsupportedProtocolRefused(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, build(t, "github.com/livechatd/livechatd/host/pluginhost/testdata/badproto"), "future")
	install(t, dir, echoBinary(t), "echo")
	m := start(t, pluginhost.Options{Dir: dir})
	s := status(t, m, "future")
	if s.State != pluginhost.StateFailed || !strings.Contains(s.Reason, "plugin speaks version 99") ||
		!strings.Contains(s.Reason, "livechatd speaks version 1") {
		t.Errorf("status = %+v, want failed naming versions 99 and 1", s)
	}
	if s := status(t, m, "echo"); s.State != pluginhost.StateReady {
		t.Errorf("echo = %+v, want ready beside the refused plugin", s)
	}
}

func TestStrayExecutableReported(t *testing.T) {
	dir := t.TempDir()
	stray := filepath.Join(dir, pluginhost.Prefix+"stray")
	if err := os.WriteFile(stray, []byte("#!/bin/sh\necho 'I am a backup script'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	install(t, dir, echoBinary(t), "echo")
	m := start(t, pluginhost.Options{Dir: dir, StartTimeout: 5 * time.Second})
	s := status(t, m, "stray")
	if s.State != pluginhost.StateFailed || !strings.Contains(s.Reason, "I am a backup script") {
		t.Errorf("stray = %+v, want failed quoting what it printed", s)
	}
	if s := status(t, m, "echo"); s.State != pluginhost.StateReady {
		t.Errorf("echo = %+v, want ready beside the stray", s)
	}
}

func TestConfigureRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, echoBinary(t), "echo")
	m := start(t, pluginhost.Options{Dir: dir})
	p, err := m.Plugin("echo")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  sdk.Config
		attr string
		frag string
	}{
		{"missing required", sdk.Config{"prefix": ">"}, "greeting", `missing required attribute "greeting"`},
		{"unknown", sdk.Config{"greeting": "hi", "colour": "red"}, "colour", `unknown attribute "colour"`},
		{"wrong type", sdk.Config{"greeting": true}, "greeting", "got a bool, want string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diags, err := p.Configure(ctxT(t), "shop", tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !diags.HasErrors() || len(diags) != 1 || diags[0].Attribute != tc.attr || !strings.Contains(diags[0].Summary, tc.frag) {
				t.Errorf("diagnostics = %+v, want one error about %q saying %q", diags, tc.attr, tc.frag)
			}
		})
	}
	if bots := status(t, m, "echo").Bots; len(bots) != 0 {
		t.Errorf("refused configs were kept: bots = %v", bots)
	}
}

func TestCallsAndPushes(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, echoBinary(t), "echo")
	m := start(t, pluginhost.Options{Dir: dir})
	p, _ := m.Plugin("echo")
	ctx := ctxT(t)
	if diags, err := p.Configure(ctx, "shop", echoConfig); err != nil || diags.HasErrors() {
		t.Fatalf("configure: %v %v", diags, err)
	}
	res, err := p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1", User: sdk.User{ID: "u1", Metadata: map[string]any{"email": "jane@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ref != "echo-s1" {
		t.Errorf("ref = %q, want echo-s1", res.Ref)
	}
	m.pushes.WaitText(t, "Hello, I am Echo.")
	msg := sdk.Text("hi there")
	if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: res.Ref, Message: msg, IdempotencyKey: "m1"}); err != nil {
		t.Fatal(err)
	}
	m.pushes.WaitText(t, "echo: hi there")
	// Unknown bots are a permanent error, classified across the boundary.
	_, err = p.SendMessage(ctx, sdk.SendRequest{Bot: "nobody", SessionID: "s1", Message: msg})
	if sdk.KindOf(err) != sdk.KindNotFound {
		t.Errorf("unknown bot: err = %v (kind %v), want not_found", err, sdk.KindOf(err))
	}
}

func TestPluginGetsNoHostEnvironment(t *testing.T) {
	t.Setenv("LIVECHAT_TEST_CANARY", "secret-value-the-plugin-must-not-see")
	dir := t.TempDir()
	install(t, dir, echoBinary(t), "echo")
	m := start(t, pluginhost.Options{Dir: dir})
	pid := status(t, m, "echo").PID
	environ, err := os.ReadFile(filepathProc(pid, "environ"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Split(string(environ), "\x00") {
		if kv == "" {
			continue
		}
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "PLUGIN_") && name != sdk.Handshake.MagicCookieKey {
			t.Errorf("plugin environment has %s, which is not go-plugin's", name)
		}
	}
}

func filepathProc(pid int, file string) string {
	return filepath.Join("/proc", strconv.Itoa(pid), file)
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func TestRestartAfterSIGKILL(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, echoBinary(t), "echo")
	m := start(t, pluginhost.Options{Dir: dir, RestartBackoff: time.Millisecond})
	p, _ := m.Plugin("echo")
	ctx := ctxT(t)
	if _, err := p.Configure(ctx, "shop", echoConfig); err != nil {
		t.Fatal(err)
	}
	old := p.Status().PID
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, func(s pluginhost.Status) bool { return s.Restarts == 1 && s.State == pluginhost.StateReady }); err != nil {
		t.Fatal(err)
	}
	s := p.Status()
	if s.PID == old || s.PID == 0 {
		t.Errorf("pid after restart = %d, old %d", s.PID, old)
	}
	if alive(old) {
		t.Errorf("old process %d still alive", old)
	}
	// The bot was configured again: echo answers for it.
	if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("still there?"), IdempotencyKey: "m2"}); err != nil {
		t.Fatalf("call after restart: %v", err)
	}
	m.pushes.WaitText(t, "echo: still there?")
}

func TestCrashLoopMarksFailed(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, echoBinary(t), "echo")
	m := start(t, pluginhost.Options{Dir: dir, RestartBackoff: time.Millisecond, CrashLimit: 3, CrashWindow: time.Hour})
	p, _ := m.Plugin("echo")
	ctx := ctxT(t)
	for i := 1; i <= 3; i++ {
		if err := p.WaitFor(ctx, func(s pluginhost.Status) bool { return s.State == pluginhost.StateReady }); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(p.Status().PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitFor(ctx, func(s pluginhost.Status) bool { return s.State != pluginhost.StateReady }); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.WaitFor(ctx, func(s pluginhost.Status) bool { return s.State == pluginhost.StateFailed }); err != nil {
		t.Fatal(err)
	}
	s := p.Status()
	if !strings.Contains(s.Reason, "crashed 3 times within 1h0m0s") || !strings.Contains(s.Reason, "killed by signal killed") {
		t.Errorf("reason = %q, want the crash count and the last cause", s.Reason)
	}
	_, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", Message: sdk.Text("hello?")})
	if !errors.Is(err, pluginhost.ErrUnavailable) {
		t.Errorf("call to a failed plugin: %v, want ErrUnavailable", err)
	}
	if ok, _ := sdk.IsRetryable(err); !ok {
		t.Errorf("call to a failed plugin: %v is not retryable; the outbox must keep the work", err)
	}
}

func TestHungPluginIsRestarted(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, echoBinary(t), "echo")
	m := start(t, pluginhost.Options{Dir: dir, RestartBackoff: time.Millisecond,
		HealthInterval: 20 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	p, _ := m.Plugin("echo")
	old := p.Status().PID
	if err := syscall.Kill(old, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := p.WaitFor(ctx, func(s pluginhost.Status) bool { return s.Restarts == 1 && s.State == pluginhost.StateReady }); err != nil {
		syscall.Kill(old, syscall.SIGKILL)
		t.Fatal(err)
	}
	if alive(old) {
		t.Errorf("hung process %d was not killed", old)
	}
}

func TestCloseLeavesNoProcess(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, echoBinary(t), "echo")
	install(t, dir, echoBinary(t), "echo-two")
	m := pluginhost.New(pluginhost.Options{Dir: dir})
	if err := m.Load(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, s := range m.Statuses() {
		if s.State != pluginhost.StateReady && s.Name == "echo" {
			t.Fatalf("%s not ready: %+v", s.Name, s)
		}
		if s.PID != 0 {
			pids = append(pids, s.PID)
		}
	}
	if len(pids) != 1 {
		// echo-two calls itself "echo": refused by name, no process left.
		t.Fatalf("pids = %v, want one running plugin", pids)
	}
	if s := status(t, testManager{Manager: m}, "echo-two"); s.State != pluginhost.StateFailed || !strings.Contains(s.Reason, `says it is "echo"`) {
		t.Errorf("echo-two = %+v, want refused for its name", s)
	}
	if err := m.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("plugin process %d still running after Close", pid)
		}
	}
	if s := status(t, testManager{Manager: m}, "echo"); s.State != pluginhost.StateStopped {
		t.Errorf("echo after close = %+v", s)
	}
}
