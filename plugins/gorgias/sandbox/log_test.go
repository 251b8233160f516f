package sandbox_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
)

// lockedBuffer is a bytes.Buffer the sandbox's goroutines may log to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An integration's id in a log line reads "#401", not a bare 401 that looks
// like an HTTP status next to the delivery's real status.
func TestDeliveryLogNamesIntegrationByNumber(t *testing.T) {
	var buf lockedBuffer
	e := newEnv(t, sandbox.Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	rc := newReceiver(t)
	in := e.integration(t, map[string]any{"name": "livechatd", "type": "http", "http": map[string]any{
		"url": rc.URL + seedURL, "method": "GET",
		"triggers": map[string]any{"ticket-message-created": true}}})
	e.createTicket(t, "jane@example.com", "lc-1", "hi")
	e.waitIdle(t)

	var line string
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, "msg=delivery") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no delivery line in the log:\n%s", buf.String())
	}
	if want := fmt.Sprintf("integration=#%d ", in.ID); !strings.Contains(line, want) {
		t.Errorf("delivery line %q does not contain %q", line, want)
	}
}
