package pluginhost_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/host/pluginhost"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

func chattyBinary(t *testing.T) string {
	return build(t, "github.com/livechatd/livechatd/host/internal/testplugin/chatty")
}

// A plugin that prints before its handshake (a banner, a debug line) is
// told what it printed, not asked whether it is a plugin at all. What it
// printed is quoted as printed, secret-looking values included (it is its
// own output), and cut short.
func TestPrintBeforeHandshakeNamed(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, chattyBinary(t), "early")
	install(t, dir, echoBinary(t), "echo")
	m := start(t, pluginhost.Options{Dir: dir, StartTimeout: 10 * time.Second})
	s := status(t, m, "early")
	if s.State != pluginhost.StateFailed {
		t.Fatalf("early = %+v, want failed", s)
	}
	for _, want := range []string{`printed "chatty starting with api_key=sk-test-123 xxx`, "on stdout before its handshake", "sdk.Logger()"} {
		if !strings.Contains(s.Reason, want) {
			t.Errorf("reason = %q\nwant it to say %q", s.Reason, want)
		}
	}
	if strings.Contains(s.Reason, "is it a livechatd provider plugin") {
		t.Errorf("reason = %q, asks whether a plugin that printed is a plugin", s.Reason)
	}
	if strings.Contains(s.Reason, strings.Repeat("x", 300)) || len(s.Reason) > 600 {
		t.Errorf("reason is %d bytes, quoting all the plugin printed: %q", len(s.Reason), s.Reason)
	}
	if s := status(t, m, "echo"); s.State != pluginhost.StateReady {
		t.Errorf("echo = %+v, want ready beside it", s)
	}
}

// logEntry is one JSON line of the host's log.
type logEntry map[string]any

func (e logEntry) str(k string) string { s, _ := e[k].(string); return s }

// logSink collects the host's JSON log lines and signals each one.
type logSink struct {
	mu      sync.Mutex
	entries []logEntry
	changed sdktest.Signal
	t       *testing.T
}

func (s *logSink) Write(p []byte) (int, error) {
	var e logEntry
	if err := json.Unmarshal(p, &e); err != nil {
		return 0, fmt.Errorf("not a JSON log line: %q", p)
	}
	s.mu.Lock()
	s.entries = append(s.entries, e)
	s.mu.Unlock()
	s.changed.Notify()
	return len(p), nil
}

// stdoutLines returns the warnings of what plugin printed on stdout: the
// lines logged, and the counts of lines not logged.
func (s *logSink) stdoutLines(plugin string) (lines []string, notLogged []float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		if e.str("@level") != "warn" || e.str("plugin") != plugin || !strings.Contains(e.str("@message"), "stdout") {
			continue
		}
		if l, ok := e["line"].(string); ok {
			lines = append(lines, l)
		}
		if n, ok := e["lines_not_logged"].(float64); ok {
			notLogged = append(notLogged, n)
		}
	}
	return lines, notLogged
}

func (s *logSink) waitLines(plugin string, want ...string) {
	s.t.Helper()
	s.changed.Wait(s.t, 15*time.Second, func() bool {
		lines, _ := s.stdoutLines(plugin)
		n := 0
		for _, l := range lines {
			if n < len(want) && l == want[n] {
				n++
			}
		}
		return n == len(want)
	}, func() string {
		lines, _ := s.stdoutLines(plugin)
		return fmt.Sprintf("want stdout lines %q logged at warn for %s; logged: %q", want, plugin, lines)
	})
}

func startLogged(t *testing.T, dir string) (testManager, *logSink) {
	sink := &logSink{t: t}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	m := start(t, pluginhost.Options{
		Dir:    dir,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "test", Output: sink, Level: hclog.Debug, JSONFormat: true}),
		Now:    func() time.Time { return t0 }, // one rate-limit window for the whole test
	})
	return m, sink
}

func sendText(t *testing.T, p *pluginhost.Plugin, text string) {
	t.Helper()
	if _, err := p.SendMessage(ctxT(t), sdk.SendRequest{Bot: "shop", SessionID: "s1", IdempotencyKey: text, Message: sdk.Text(text)}); err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
}

// What a plugin prints on stdout after start-up, through os.Stdout
// (go-plugin's stdio stream) or straight to its file descriptor 1 (as a
// child process would), is logged at warn under the plugin's name, line by
// line, instead of being thrown away.
func TestStdoutAfterStartLogged(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, chattyBinary(t), "chatty")
	m, sink := startLogged(t, dir)
	p, err := m.Plugin("chatty")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Configure(ctxT(t), "shop", sdk.Config{}); err != nil {
		t.Fatal(err)
	}
	sendText(t, p, "print 2")
	sink.waitLines("chatty", "print line 1", "print line 2")
	sendText(t, p, "raw 2")
	sink.waitLines("chatty", "raw line 1", "raw line 2")
}

// A plugin printing in a loop cannot flood the host's log: 20 lines a
// minute are logged, and how many more were printed is said once, here
// when the process ends.
func TestStdoutFloodRateLimited(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, chattyBinary(t), "chatty")
	m, sink := startLogged(t, dir)
	p, err := m.Plugin("chatty")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Configure(ctxT(t), "shop", sdk.Config{}); err != nil {
		t.Fatal(err)
	}
	sendText(t, p, "raw 500")
	// Stopping the plugin reads its stdout to the end.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	lines, notLogged := sink.stdoutLines("chatty")
	if len(lines) != 20 || lines[0] != "raw line 1" || lines[19] != "raw line 20" {
		t.Errorf("logged %d lines %q, want raw line 1 to 20", len(lines), lines)
	}
	if len(notLogged) != 1 || notLogged[0] != 480 {
		t.Errorf("lines not logged = %v, want one warning counting 480", notLogged)
	}
}
