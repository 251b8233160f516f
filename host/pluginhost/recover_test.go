package pluginhost_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/host/pluginhost"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

func faultyBinary(t *testing.T) string {
	return builds.Binary(t, "github.com/livechatd/livechatd/sdk/testdata/faulty")
}

// timers is Options.After for the tests: restart backoffs (under a minute)
// run on real timers, cool-offs wait until the test releases them.
type timers struct {
	mu      sync.Mutex
	asked   []time.Duration
	pending []chan time.Time
	changed sdktest.Signal
}

func (f *timers) After(d time.Duration) <-chan time.Time {
	if d < time.Minute {
		return time.After(d)
	}
	ch := make(chan time.Time, 1)
	f.mu.Lock()
	f.asked = append(f.asked, d)
	f.pending = append(f.pending, ch)
	f.mu.Unlock()
	f.changed.Notify()
	return ch
}

// wait waits until n cool-offs were asked for and returns them all.
func (f *timers) wait(t *testing.T, n int) []time.Duration {
	t.Helper()
	var asked []time.Duration
	f.changed.Wait(t, 30*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		asked = append([]time.Duration(nil), f.asked...)
		return len(asked) >= n
	}, func() string { return fmt.Sprintf("cool-offs asked for: %v, want %d", asked, n) })
	return asked
}

// release ends the cool-offs being waited out.
func (f *timers) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.pending {
		ch <- time.Now()
	}
	f.pending = nil
}

// logs records the manager's log lines, for tests that wait on what the
// supervisor says.
type logs struct {
	t       *testing.T
	mu      sync.Mutex
	lines   []string
	changed sdktest.Signal
}

func newLogs(t *testing.T) (*logs, hclog.Logger) {
	l := &logs{t: t}
	return l, hclog.New(&hclog.LoggerOptions{Name: "test", Output: l, Level: hclog.Debug})
}

func (l *logs) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	l.mu.Lock()
	l.lines = append(l.lines, string(p))
	l.mu.Unlock()
	l.changed.Notify()
	return len(p), nil
}

// waitFor waits until a line contains one of frags and returns that frag.
func (l *logs) waitFor(t *testing.T, frags ...string) string {
	t.Helper()
	var found string
	l.changed.Wait(t, 30*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, line := range l.lines {
			for _, f := range frags {
				if strings.Contains(line, f) {
					found = f
					return true
				}
			}
		}
		return false
	}, func() string { return "no log line says any of " + strings.Join(frags, ", ") })
	return found
}

func unavailable(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, pluginhost.ErrUnavailable) {
		t.Errorf("call to a failed plugin: %v, want ErrUnavailable", err)
	}
	if ok, _ := sdk.IsRetryable(err); !ok {
		t.Errorf("call to a failed plugin: %v is not retryable", err)
	}
}

func TestFailedPluginComesBack(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, echoBinary(t), "echo")
	tm := &timers{}
	m := start(t, pluginhost.Options{Dir: dir, RestartBackoff: time.Millisecond, CrashLimit: 2, CrashWindow: time.Hour, After: tm.After,
		FailedCoolOff: time.Minute})
	p, _ := m.Plugin("echo")
	ctx := ctxT(t)
	if _, err := p.Configure(ctx, "shop", echoConfig); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
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
	if got := tm.wait(t, 1); got[0] != time.Minute {
		t.Errorf("first cool-off = %s, want FailedCoolOff", got[0])
	}
	s := status(t, m, "echo")
	if s.State != pluginhost.StateFailed || !strings.Contains(s.Reason, "crashed 2 times") {
		t.Errorf("status = %+v, want failed for its crashes", s)
	}
	if until := time.Until(s.NextRetry); until <= 0 || until > time.Minute {
		t.Errorf("next retry %s is %s away, want within the 1m cool-off", s.NextRetry, until)
	}
	_, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("anyone?"), IdempotencyKey: "m1"})
	unavailable(t, err)

	tm.release()
	if err := p.WaitFor(ctx, func(s pluginhost.Status) bool { return s.State == pluginhost.StateReady }); err != nil {
		t.Fatal(err)
	}
	if s := p.Status(); !s.NextRetry.IsZero() || s.Reason != "" {
		t.Errorf("status after coming back = %+v, want no retry pending and no reason", s)
	}
	// Its bot was configured again.
	if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("back?"), IdempotencyKey: "m2"}); err != nil {
		t.Fatalf("call after coming back: %v", err)
	}
	m.pushes.WaitText(t, "echo: back?")

	// The crash history starts again: one crash is a restart, not a failure.
	if err := syscall.Kill(p.Status().PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, func(s pluginhost.Status) bool {
		return s.State == pluginhost.StateFailed || (s.State == pluginhost.StateReady && s.Restarts == 3)
	}); err != nil {
		t.Fatal(err)
	}
	if s := p.Status(); s.State != pluginhost.StateReady {
		t.Errorf("one crash after coming back: %+v, want restarted", s)
	}
}

func TestFailedFirstLaunchIsRetried(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, faultyBinary(t), "faulty")
	install(t, dir, echoBinary(t), "echo")
	down := filepath.Join(dir, "faulty-down")
	if err := os.WriteFile(down, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tm := &timers{}
	m := start(t, pluginhost.Options{Dir: dir, After: tm.After, FailedCoolOff: time.Minute, MaxFailedCoolOff: 3 * time.Minute,
		Pins: map[string]string{"echo": strings.Repeat("0", 64)}})
	s := status(t, m, "faulty")
	if s.State != pluginhost.StateFailed || !strings.Contains(s.Reason, "down on purpose") || s.NextRetry.IsZero() {
		t.Errorf("faulty = %+v, want failed, saying why, with a retry pending", s)
	}
	p, err := m.Plugin("faulty")
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	_, err = p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1"})
	unavailable(t, err)

	// Each failed try doubles the cool-off, up to MaxFailedCoolOff.
	for n := 1; n <= 3; n++ {
		tm.wait(t, n)
		tm.release()
	}
	got := tm.wait(t, 4)
	if diff := cmp.Diff([]time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute}, got); diff != "" {
		t.Errorf("cool-offs (-want +got):\n%s", diff)
	}
	if s := p.Status(); s.State != pluginhost.StateFailed {
		t.Errorf("faulty after failed retries = %+v", s)
	}

	if err := os.Remove(down); err != nil {
		t.Fatal(err)
	}
	tm.release()
	if err := p.WaitFor(ctx, func(s pluginhost.Status) bool { return s.State == pluginhost.StateReady }); err != nil {
		t.Fatal(err)
	}
	if p.Info().Name != "faulty" {
		t.Errorf("info after the late launch = %+v", p.Info())
	}
	if _, err := p.Configure(ctx, "shop", sdk.Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("hello"), IdempotencyKey: "m1"}); err != nil {
		t.Fatal(err)
	}
	m.pushes.WaitText(t, "faulty: hello")

	// A plugin refused by discovery is not retried.
	if s := status(t, m, "echo"); s.State != pluginhost.StateFailed || !s.NextRetry.IsZero() {
		t.Errorf("echo with a wrong pin = %+v, want refused for good", s)
	}
}

func TestOneFailedPingDoesNotRestart(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, echoBinary(t), "echo")
	lg, logger := newLogs(t)
	m := start(t, pluginhost.Options{Dir: dir, Logger: logger, RestartBackoff: time.Millisecond,
		HealthInterval: 20 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	p, _ := m.Plugin("echo")
	pid := p.Status().PID
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	lg.waitFor(t, "health ping failed", "health check failed")
	_ = syscall.Kill(pid, syscall.SIGCONT) // fails when the process was killed; the check below says so
	if got := lg.waitFor(t, "health ping answered again", "restarting plugin"); got != "health ping answered again" {
		t.Errorf("the plugin was restarted after one failed ping")
	}
	if s := p.Status(); s.PID != pid || s.Restarts != 0 || s.State != pluginhost.StateReady {
		t.Errorf("status = %+v, want the same process (pid %d), never restarted", s, pid)
	}
}

func TestCallsHaveADeadline(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, faultyBinary(t), "faulty")
	m := start(t, pluginhost.Options{Dir: dir, CallTimeout: 300 * time.Millisecond, RestartBackoff: time.Millisecond, HealthInterval: time.Hour,
		CrashLimit: 1000})
	p, _ := m.Plugin("faulty")
	if _, err := p.Configure(context.Background(), "shop", sdk.Config{}); err != nil {
		t.Fatal(err)
	}
	within := func(name string, call func() error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- call() }()
		fail := time.NewTimer(20 * time.Second)
		defer fail.Stop()
		select {
		case err := <-done:
			return err
		case <-fail.C:
			t.Fatalf("%s without a deadline of its own still runs after 20s; CallTimeout is 300ms", name)
			return nil
		}
	}
	err := within("SendMessage", func() error {
		_, err := p.SendMessage(context.Background(), sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("hang"), IdempotencyKey: "m1"})
		return err
	})
	if ok, _ := sdk.IsRetryable(err); err == nil || !ok {
		t.Errorf("a call past its deadline: %v, want a retryable error", err)
	}

	hang := filepath.Join(dir, "faulty-hang-configure")
	if err := os.WriteFile(hang, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err = within("Configure", func() error {
		_, err := p.Configure(context.Background(), "other", sdk.Config{})
		return err
	})
	if err == nil {
		t.Error("a Configure that hangs succeeded")
	}

	// The re-configure after a restart has its deadline too: the restart
	// fails, and the next one succeeds once Configure answers again.
	pid := p.Status().PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := p.WaitFor(ctx, func(s pluginhost.Status) bool { return strings.Contains(s.Reason, `re-configure bot "shop"`) }); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(hang); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor(ctx, func(s pluginhost.Status) bool { return s.State == pluginhost.StateReady }); err != nil {
		t.Fatal(err)
	}
}

// panicHost is a host whose PushEvents panics.
type panicHost struct{}

func (panicHost) PushEvents(context.Context, string, ...sdk.Event) error { panic("host bug") }

func TestHostPanicIsAnError(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, echoBinary(t), "echo")
	m := start(t, pluginhost.Options{Dir: dir})
	m.SetHost(panicHost{})
	p, _ := m.Plugin("echo")
	ctx := ctxT(t)
	if _, err := p.Configure(ctx, "shop", echoConfig); err != nil {
		t.Fatal(err)
	}
	_, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("hi"), IdempotencyKey: "m1"})
	if err == nil || !strings.Contains(err.Error(), "host bug") {
		t.Errorf("err = %v, want the host's panic as the push's error", err)
	}
}
