package sdktest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/livechatd/livechatd/sdk"
)

// Host is a test double of livechatd's side of the contract: it records the
// events a plugin pushes, and keeps the plugin's state (sdk.StateOf) in
// memory with livechatd's rules: the sessions declared with AddSession,
// each only under its own bot, within sdk's MaxState* bounds.
type Host struct {
	mu      sync.Mutex
	events  []PushedEvent
	changed Signal
	err     error
	// sessions maps a declared session to its bot, bots holds the bots
	// that have one, and state each session's values.
	sessions map[string]string
	bots     map[string]bool
	state    map[string]map[string][]byte
}

// PushedEvent is one pushed event and the bot it was pushed for.
type PushedEvent struct {
	Bot string
	sdk.Event
}

var (
	_ sdk.Host       = (*Host)(nil)
	_ sdk.StateStore = (*Host)(nil)
)

// NewHost returns an empty recording Host.
func NewHost() *Host { return &Host{} }

// PushEvents records the events.
func (h *Host) PushEvents(_ context.Context, bot string, events ...sdk.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return h.err
	}
	for _, e := range events {
		h.events = append(h.events, PushedEvent{Bot: bot, Event: e})
	}
	h.changed.Notify()
	return nil
}

// SetErr makes the Host refuse pushes with err (nil: accept them again).
func (h *Host) SetErr(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err = err
}

// Events returns what was pushed so far.
func (h *Host) Events() []PushedEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]PushedEvent(nil), h.events...)
}

// WaitFor waits until cond holds for the pushed events and returns them;
// it fails the test after timeout.
func (h *Host) WaitFor(t testing.TB, timeout time.Duration, cond func([]PushedEvent) bool) []PushedEvent {
	t.Helper()
	var events []PushedEvent
	h.changed.Wait(t, timeout, func() bool {
		events = h.Events()
		return cond(events)
	}, func() string { return fmt.Sprintf("pushed events: %+v", events) })
	return events
}

// WaitText waits for a pushed agent message whose text is want.
func (h *Host) WaitText(t testing.TB, want string) PushedEvent {
	t.Helper()
	var found PushedEvent
	h.WaitFor(t, 20*time.Second, func(es []PushedEvent) bool {
		for _, e := range es {
			if e.Type == sdk.EventAgentMessage && e.Message.PlainText() == want {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// AddSession declares session of bot, as livechatd stores a session before
// it calls StartSession: from then on the plugin may keep state for it
// under that bot. Until a bot has a session declared, its state is refused
// as it is for a bot not configured with the plugin.
func (h *Host) AddSession(bot, session string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions == nil {
		h.sessions = map[string]string{}
		h.bots = map[string]bool{}
		h.state = map[string]map[string][]byte{}
	}
	h.sessions[session] = bot
	h.bots[bot] = true
}

// State returns a copy of the state the plugin keeps for session of bot.
func (h *Host) State(bot, session string) map[string][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions[session] != bot {
		return nil
	}
	out := map[string][]byte{}
	for k, v := range h.state[session] {
		out[k] = append([]byte(nil), v...)
	}
	return out
}

// GetState implements sdk.StateStore.
func (h *Host) GetState(_ context.Context, k sdk.StateKey) ([]byte, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.checkKeyLocked(k); err != nil {
		return nil, false, err
	}
	v, ok := h.state[k.SessionID][k.Key]
	return append([]byte(nil), v...), ok, nil
}

// SetState implements sdk.StateStore.
func (h *Host) SetState(_ context.Context, k sdk.StateKey, value []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.checkKeyLocked(k); err != nil {
		return err
	}
	if len(value) > sdk.MaxStateValue {
		return sdk.Permanent(fmt.Errorf("value: a plugin state value is at most %d bytes, this one is %d", sdk.MaxStateValue, len(value)))
	}
	total := len(k.Key) + len(value)
	for key, v := range h.state[k.SessionID] {
		if key != k.Key {
			total += len(key) + len(v)
		}
	}
	if total > sdk.MaxStateSession {
		return sdk.Permanent(fmt.Errorf("value: the plugin state of session %s would hold %d bytes, at most %d: delete the keys it no longer needs", k.SessionID, total, sdk.MaxStateSession))
	}
	st := h.state[k.SessionID]
	if st == nil {
		st = map[string][]byte{}
		h.state[k.SessionID] = st
	}
	st[k.Key] = append([]byte{}, value...)
	return nil
}

// DeleteState implements sdk.StateStore.
func (h *Host) DeleteState(_ context.Context, k sdk.StateKey) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.checkKeyLocked(k); err != nil {
		return err
	}
	delete(h.state[k.SessionID], k.Key)
	return nil
}

// checkKeyLocked applies livechatd's rules to k: fields present, the key
// within its bound, a bot the plugin serves (here: one with a declared
// session), and a declared session of that bot. Callers hold h.mu.
func (h *Host) checkKeyLocked(k sdk.StateKey) error {
	for _, f := range []struct{ name, v string }{{"bot_id", k.Bot}, {"session_id", k.SessionID}, {"key", k.Key}} {
		if f.v == "" {
			return sdk.Permanent(fmt.Errorf("%s: plugin state needs a %s", f.name, f.name))
		}
	}
	if len(k.Key) > sdk.MaxStateKey {
		return sdk.Permanent(fmt.Errorf("key: a plugin state key is at most %d bytes, this one is %d", sdk.MaxStateKey, len(k.Key)))
	}
	if !utf8.ValidString(k.Key) {
		return sdk.Permanent(errors.New("key: a plugin state key must be UTF-8"))
	}
	if !h.bots[k.Bot] {
		return sdk.Permanent(fmt.Errorf("the plugin is not configured for bot %q: its state is refused (declare its sessions with Host.AddSession)", k.Bot))
	}
	bot, ok := h.sessions[k.SessionID]
	if !ok {
		return sdk.NotFound("no session %s of bot %q (declare it with Host.AddSession)", k.SessionID, k.Bot)
	}
	if bot != k.Bot {
		return sdk.Permanent(fmt.Errorf("session %s is not a session of bot %q: its state is refused", k.SessionID, k.Bot))
	}
	return nil
}
