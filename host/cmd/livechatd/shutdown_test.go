package main_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An open chat tab must not hold the shutdown: SIGINT ends the webchat
// streams at once, and livechatd exits cleanly well within the HTTP grace.
func TestSIGINTWithAnOpenStream(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(t, "http://127.0.0.1:9/events", "http://127.0.0.1:9/unused", "30m", "")
	cfg := strings.Replace(readFile(t, e.config), `channel_url     = "http://127.0.0.1:9/unused"`, `channel = "webchat"`, 1)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, e)

	resp, err := http.Post(p.url+"/chat/shop/identity", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var id struct {
		UserID string `json:"user_id"`
		Token  string `json:"token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&id)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || id.UserID == "" {
		t.Fatalf("identity: %d %v %+v", resp.StatusCode, err, id)
	}

	stream, err := http.Get(p.url + "/v1/bots/shop/users/" + url.PathEscape(id.UserID) + "/stream?token=" + url.QueryEscape(id.Token))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stream.Body.Close() })
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", stream.StatusCode)
	}
	// The first line proves the handler is running and holds the connection.
	br := bufio.NewReader(stream.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "retry: 1000\n" {
		t.Fatalf("stream's first line = %q, %v", line, err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, br) // nil at a clean end
		ended <- err
	}()

	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	const bound = 3 * time.Second
	timeout := time.NewTimer(bound)
	defer timeout.Stop()
	select {
	case <-p.done:
	case <-timeout.C:
		t.Fatalf("livechatd still running %v after SIGINT with a stream open", bound)
	}
	t.Logf("stopped %v after SIGINT", time.Since(signalled).Round(time.Millisecond))
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGINT, want 0", code)
	}
	// The server ended the stream: a complete chunked response, not a
	// connection cut by the dying process (that would be
	// io.ErrUnexpectedEOF).
	if err := <-ended; err != nil {
		t.Errorf("stream ended with %v, want a clean end from the server", err)
	}
}
