package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/fakes"
)

// The handoff tests (issue 17, docs/handoff.md) run a real livechatd with
// the echo plugin, the fake bot and handoffChannel, a channel that keeps
// every delivery whole (authors' avatars, livechat events, typing).

// writeHandoffConfig writes a config for bot "shop" on the echo provider
// with the given blocks in the bot and keys in echo's config block.
func writeHandoffConfig(t *testing.T, e *env, botURL, channelURL, blocks, echo string) {
	t.Helper()
	cfg := fmt.Sprintf(`
listen      = "127.0.0.1:0"
plugin_dir  = "plugins"
log_level   = "debug"
admin_token = "%s"
storage "sqlite" { path = "data/livechat.db" }

bot "shop" {
  provider        = "echo"
  session_timeout = "30m"
  bot_url         = "%s"
  channel_url     = "%s"
  channel_secret  = "secret"
  webhook_token   = "hook-token"
  config {
    greeting = "Hello from Echo."
    %s
  }
  %s
}
`, adminToken, botURL, channelURL, echo, blocks)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// handoffMessage is one message of a delivery, as the channel receives it.
type handoffMessage struct {
	Payload struct {
		ContentType string         `json:"content_type"`
		Content     map[string]any `json:"content"`
	} `json:"payload"`
	Author struct {
		Type      string `json:"type"`
		Name      string `json:"name"`
		AvatarURL string `json:"avatar_url"`
	} `json:"author"`
}

// text is the message's text or question title.
func (m handoffMessage) text() string {
	for _, k := range []string{"text", "title"} {
		if s, ok := m.Payload.Content[k].(string); ok {
			return s
		}
	}
	return ""
}

// event is a livechat event's name, "" for other messages.
func (m handoffMessage) event() string {
	if m.Payload.ContentType != "livechat" {
		return ""
	}
	s, _ := m.Payload.Content["event"].(string)
	return s
}

// handoffChannel is a channel_url endpoint keeping every delivery's
// messages in order, once per delivery id.
type handoffChannel struct {
	*httptest.Server
	mu      sync.Mutex
	msgs    []handoffMessage
	seen    map[string]bool
	changed chan struct{}
}

func newHandoffChannel(t *testing.T) *handoffChannel {
	c := &handoffChannel{seen: map[string]bool{}, changed: make(chan struct{})}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var d struct {
			Messages []handoffMessage `json:"messages"`
		}
		if err := json.Unmarshal(body, &d); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		if id := r.Header.Get("X-Livechat-Delivery"); !c.seen[id] {
			c.seen[id] = true
			c.msgs = append(c.msgs, d.Messages...)
			close(c.changed)
			c.changed = make(chan struct{})
		}
		c.mu.Unlock()
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *handoffChannel) URL() string { return c.Server.URL + "/deliver" }

func (c *handoffChannel) messages() []handoffMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]handoffMessage(nil), c.msgs...)
}

func (c *handoffChannel) texts() []string {
	var out []string
	for _, m := range c.messages() {
		if s := m.text(); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// wait waits until a message satisfies cond and returns it; it fails the
// test after 30 s, listing what arrived.
func (c *handoffChannel) wait(t *testing.T, what string, cond func(handoffMessage) bool) handoffMessage {
	t.Helper()
	return c.waitN(t, what, 1, cond)
}

// waitN waits until n messages meet cond, and returns the nth.
func (c *handoffChannel) waitN(t *testing.T, what string, n int, cond func(handoffMessage) bool) handoffMessage {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		changed := c.changed
		msgs := append([]handoffMessage(nil), c.msgs...)
		c.mu.Unlock()
		seen := 0
		for _, m := range msgs {
			if cond(m) {
				if seen++; seen == n {
					return m
				}
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			b, _ := json.Marshal(msgs)
			t.Fatalf("gave up waiting for %s; the channel got %s", what, b)
		}
	}
}

func (c *handoffChannel) waitText(t *testing.T, text string) handoffMessage {
	t.Helper()
	return c.wait(t, "the text "+text, func(m handoffMessage) bool { return m.text() == text })
}

func (c *handoffChannel) waitEvent(t *testing.T, event string, cond func(map[string]any) bool) handoffMessage {
	t.Helper()
	return c.wait(t, "the livechat event "+event, func(m handoffMessage) bool {
		return m.event() == event && (cond == nil || cond(m.Payload.Content))
	})
}

// event posts one event of user with metadata (nil for none) and returns
// the HTTP status and the decoded answer.
func (p *proc) event(user string, payload, metadata map[string]any) (int, map[string]any) {
	p.t.Helper()
	body := map[string]any{"client": map[string]any{"user_id": user}, "payload": payload}
	if metadata != nil {
		body["metadata"] = metadata
	}
	b, _ := json.Marshal(body)
	req, err := fakes.SignedEventRequest(context.Background(), p.url+"/v1/bots/shop/events", channelSecret, b, time.Now())
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
	return resp.StatusCode, out
}

// answerTexts are the texts of an event's answer; answerEvents its
// livechat events, "<event>:<reason>" when it has a reason.
func answerTexts(r map[string]any) []string {
	var out []string
	msgs, _ := r["messages"].([]any)
	for _, m := range msgs {
		p, _ := m.(map[string]any)["payload"].(map[string]any)
		c, _ := p["content"].(map[string]any)
		if s, ok := c["text"].(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func answerEvents(r map[string]any) []string {
	var out []string
	msgs, _ := r["messages"].([]any)
	for _, m := range msgs {
		p, _ := m.(map[string]any)["payload"].(map[string]any)
		if p["content_type"] != "livechat" {
			continue
		}
		c, _ := p["content"].(map[string]any)
		name, _ := c["event"].(string)
		if reason, ok := c["reason"].(string); ok {
			name += ":" + reason
		}
		out = append(out, name)
	}
	return out
}

// metrics is the /metrics page.
func (p *proc) metrics() string {
	p.t.Helper()
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// sessionID is the session of an intercepted event's answer.
func sessionID(t *testing.T, r map[string]any) string {
	t.Helper()
	lc, _ := r["livechat"].(map[string]any)
	id, _ := lc["session_id"].(string)
	if id == "" {
		t.Fatalf("no session in the answer %v", r)
	}
	return id
}

func hasLine(page, line string) bool {
	for _, l := range strings.Split(page, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// waitSessionMessage waits until session id holds a message containing
// text (a late agent message the plugin sent after the end), reading the
// admin API as waitGone reads the process table: the plugin's call is the
// only thing that changes it, and nothing signals it.
func waitSessionMessage(t *testing.T, p *proc, id, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := p.admin("/v1/sessions/" + id)
		msgs, _ := s["messages"].([]any)
		for _, m := range msgs {
			if strings.Contains(toJSON(m), text) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s never held %q: %s", id, text, toJSON(s))
		}
		runtime.Gosched()
	}
}
