// Package fakes has the bot and the channel that livechatd's tests talk to:
// httptest servers that speak the CSML shapes of docs/events.md, record what
// they receive, and can be told to fail.
package fakes

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/livechatd/livechatd/sdk/sdktest"
	"time"
)

// BotEvent is an event the bot received.
type BotEvent struct {
	RequestID string         `json:"request_id"`
	Client    map[string]any `json:"client"`
	Metadata  map[string]any `json:"metadata"`
	Payload   struct {
		ContentType string         `json:"content_type"`
		Content     map[string]any `json:"content"`
	} `json:"payload"`
}

// Value is the event's text or payload.
func (e BotEvent) Value() string {
	for _, k := range []string{"text", "payload", "url"} {
		if s, ok := e.Payload.Content[k].(string); ok {
			return s
		}
	}
	return ""
}

// Bot is a chatbot following the CSML livechat demo flow: it offers a human
// on "help", thanks the user on LIVECHAT_SESSION_END, says so on
// LIVECHAT_SESSION_EXPIRED and LIVECHAT_SESSION_FAILED, and echoes anything
// else as "bot: <text>".
type Bot struct {
	*httptest.Server
	w sdktest.Signal

	mu      sync.Mutex
	events  []BotEvent
	status  int
	refused map[string]int // value → status answered to it
}

// NewBot starts a Bot; it stops when the test ends.
func NewBot(t testing.TB) *Bot {
	b := &Bot{}
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.Close)
	return b
}

// URL of the bot's events endpoint.
func (b *Bot) URL() string { return b.Server.URL + "/events" }

// FailWith makes the bot answer status to every event (0: answer again).
func (b *Bot) FailWith(status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status = status
}

// Refuse makes the bot answer status to events with value, and only to
// those (0: answer them again). Refused events are not recorded.
func (b *Bot) Refuse(value string, status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refused == nil {
		b.refused = map[string]int{}
	}
	b.refused[value] = status
}

// Reply is what the bot answers to value.
func Reply(value string) string {
	switch value {
	case "help":
		return "Do you need some help from a human agent?"
	case "LIVECHAT_SESSION_END":
		return "Thanks for chatting with us today!"
	case "LIVECHAT_SESSION_EXPIRED":
		return "Your livechat session expired."
	case "LIVECHAT_SESSION_FAILED":
		return "Sorry, nobody can take your call."
	}
	return "bot: " + value
}

func (b *Bot) serve(w http.ResponseWriter, r *http.Request) {
	var ev BotEvent
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	status := b.status
	if r := b.refused[ev.Value()]; r != 0 && status == 0 {
		status = r
	}
	if status == 0 {
		b.events = append(b.events, ev)
	}
	b.mu.Unlock()
	if status != 0 {
		http.Error(w, "the bot is down", status)
		return
	}
	b.w.Notify()
	var payload map[string]any
	if ev.Value() == "help" {
		payload = map[string]any{"content_type": "question", "content": map[string]any{
			"title": Reply("help"),
			"buttons": []any{map[string]any{"content_type": "button",
				"content": map[string]any{"title": "Yes, talk to a human!", "payload": "LIVECHAT_SESSION_START"}}},
		}}
	} else {
		payload = map[string]any{"content_type": "text", "content": map[string]any{"text": Reply(ev.Value())}}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"request_id":       ev.RequestID,
		"conversation_end": false,
		"client":           ev.Client,
		"messages":         []any{map[string]any{"direction": "SEND", "interaction_order": 0, "payload": payload}},
	})
}

// Events returns the events received so far.
func (b *Bot) Events() []BotEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BotEvent(nil), b.events...)
}

// Values returns the values of the events received so far.
func (b *Bot) Values() []string {
	var out []string
	for _, e := range b.Events() {
		out = append(out, e.Value())
	}
	return out
}

// WaitValue waits until the bot has received an event with value.
func (b *Bot) WaitValue(t testing.TB, value string) BotEvent {
	t.Helper()
	var found BotEvent
	b.w.Wait(t, WaitTimeout, func() bool {
		for _, e := range b.Events() {
			if e.Value() == value {
				found = e
				return true
			}
		}
		return false
	}, func() string { return "bot events: " + strings.Join(b.Values(), ", ") })
	return found
}

// WaitTimeout bounds every wait of the fakes.
var WaitTimeout = 30 * time.Second
