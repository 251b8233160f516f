//go:build faults

package faults_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/engine"
)

// channelMode is how the channel answers.
type channelMode int

const (
	channelUp       channelMode = iota
	channelFailing              // answers 503
	channelRefusing             // no listener: connections are refused
)

// channel is the bot's channel_url: it checks signatures, keeps each
// X-Livechat-Delivery id once, and records the agent messages it accepted
// in arrival order. It can fail (503) or stop listening (connections
// refused) on the same address.
type channel struct {
	t      testing.TB
	secret string
	addr   string

	mu        sync.Mutex
	mode      channelMode
	srv       *http.Server
	seen      map[string]bool
	arrivals  []arrival // agent messages, each delivery once
	attempts  int
	redeliver int // attempts with an id already accepted
	rejected  int // bad signature or body
	misrouted int // an agent message delivered to another user
}

func newChannel(t testing.TB, secret string) *channel {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &channel{t: t, secret: secret, addr: ln.Addr().String(), seen: map[string]bool{}}
	c.serve(ln)
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.srv != nil {
			c.srv.Close()
		}
	})
	return c
}

// URL of the delivery endpoint.
func (c *channel) URL() string { return "http://" + c.addr + "/deliver" }

// serve runs a server on ln. Callers hold mu or own c alone.
func (c *channel) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(c.handle), ReadHeaderTimeout: 5 * time.Second}
	c.srv = srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.t.Logf("channel: %v", err)
		}
	}()
}

// set switches the channel's mode.
func (c *channel) set(mode channelMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case mode == channelRefusing && c.srv != nil:
		c.srv.Close() // the listener and every connection
		c.srv = nil
	case mode != channelRefusing && c.srv == nil:
		ln, err := net.Listen("tcp", c.addr)
		if err != nil {
			return fmt.Errorf("channel: listen again on %s: %w", c.addr, err)
		}
		c.serve(ln)
	}
	c.mode = mode
	return nil
}

// delivery is the body livechatd posts to channel_url (docs/events.md).
type delivery struct {
	Client struct {
		UserID string `json:"user_id"`
	} `json:"client"`
	SessionID string `json:"session_id"`
	Messages  []struct {
		Payload struct {
			ContentType string         `json:"content_type"`
			Content     map[string]any `json:"content"`
		} `json:"payload"`
	} `json:"messages"`
}

func (c *channel) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("X-Livechat-Delivery")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts++
	if c.mode == channelFailing {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var d delivery
	if id == "" || !engine.Verify(c.secret, r.Header.Get("X-Livechat-Signature"), body) || json.Unmarshal(body, &d) != nil {
		c.rejected++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if c.seen[id] {
		c.redeliver++ // a retry of what we have: not a duplicate
		w.WriteHeader(http.StatusOK)
		return
	}
	c.seen[id] = true
	for _, m := range d.Messages {
		text, _ := m.Payload.Content["text"].(string)
		a, ok := parseAgentText(text)
		if !ok {
			continue // the host's own messages
		}
		if a.user != d.Client.UserID {
			c.misrouted++
			continue
		}
		c.arrivals = append(c.arrivals, a)
	}
	w.WriteHeader(http.StatusOK)
}

// channelStats is what the channel saw.
type channelStats struct {
	arrivals                                 []arrival
	attempts, redeliver, rejected, misrouted int
}

func (c *channel) stats() channelStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return channelStats{arrivals: append([]arrival(nil), c.arrivals...),
		attempts: c.attempts, redeliver: c.redeliver, rejected: c.rejected, misrouted: c.misrouted}
}
