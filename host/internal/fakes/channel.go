package fakes

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// Delivery is one delivery the channel accepted.
type Delivery struct {
	ID        string
	Client    map[string]any `json:"client"`
	SessionID string         `json:"session_id"`
	Messages  []struct {
		Payload struct {
			ContentType string         `json:"content_type"`
			Content     map[string]any `json:"content"`
		} `json:"payload"`
		Author struct {
			Type string `json:"type"`
			Name string `json:"name"`
		} `json:"author"`
	} `json:"messages"`
}

// Texts are the texts (or question titles) of the delivery's messages.
func (d Delivery) Texts() []string {
	var out []string
	for _, m := range d.Messages {
		for _, k := range []string{"text", "title"} {
			if s, ok := m.Payload.Content[k].(string); ok {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// Attempt is one request the channel received, accepted or not.
type Attempt struct {
	DeliveryID  string
	SignatureOK bool
	Status      int
}

// Channel is a channel endpoint: it checks each delivery's signature with
// the secret, answers 503 while down, and keeps each delivery id once.
type Channel struct {
	*httptest.Server
	secret string
	w      sdktest.Signal

	mu         sync.Mutex
	down       bool
	attempts   []Attempt
	deliveries []Delivery
	seen       map[string]bool
}

// NewChannel starts a Channel checking signatures with secret.
func NewChannel(t testing.TB, secret string) *Channel {
	c := &Channel{secret: secret, seen: map[string]bool{}}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.Close)
	return c
}

// URL of the channel's delivery endpoint.
func (c *Channel) URL() string { return c.Server.URL + "/deliver" }

// SetDown makes the channel answer 503 (true) or accept again (false).
func (c *Channel) SetDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
}

func (c *Channel) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("X-Livechat-Delivery")
	ok := c.verify(r.Header.Get("X-Livechat-Signature"), body)
	c.mu.Lock()
	status := http.StatusOK
	switch {
	case c.down:
		status = http.StatusServiceUnavailable
	case !ok || id == "":
		status = http.StatusUnauthorized
	}
	c.attempts = append(c.attempts, Attempt{DeliveryID: id, SignatureOK: ok, Status: status})
	if status == http.StatusOK && !c.seen[id] {
		var d Delivery
		if err := json.Unmarshal(body, &d); err != nil {
			status = http.StatusBadRequest
		} else {
			d.ID = id
			c.seen[id] = true
			c.deliveries = append(c.deliveries, d)
		}
	}
	c.mu.Unlock()
	c.w.Notify()
	w.WriteHeader(status)
}

// verify checks X-Livechat-Signature.
func (c *Channel) verify(header string, body []byte) bool {
	return engine.Verify(c.secret, header, body)
}

// Deliveries returns the accepted deliveries, each id once, in arrival order.
func (c *Channel) Deliveries() []Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Delivery(nil), c.deliveries...)
}

// Attempts returns every request received.
func (c *Channel) Attempts() []Attempt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Attempt(nil), c.attempts...)
}

// Texts returns the texts of every accepted delivery, in order.
func (c *Channel) Texts() []string {
	var out []string
	for _, d := range c.Deliveries() {
		out = append(out, d.Texts()...)
	}
	return out
}

// WaitTexts waits until the accepted deliveries hold at least n texts.
func (c *Channel) WaitTexts(t testing.TB, n int) []string {
	t.Helper()
	c.w.Wait(t, WaitTimeout, func() bool { return len(c.Texts()) >= n },
		func() string { return fmt.Sprintf("channel texts: %q", c.Texts()) })
	return c.Texts()
}

// WaitAttempts waits until the channel has received at least n requests.
func (c *Channel) WaitAttempts(t testing.TB, n int) {
	t.Helper()
	c.w.Wait(t, WaitTimeout, func() bool { return len(c.Attempts()) >= n },
		func() string { return fmt.Sprintf("%d attempts", len(c.Attempts())) })
}
