package sdktest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// Host is a test double of livechatd's side of the contract: it records the
// events a plugin pushes.
type Host struct {
	mu      sync.Mutex
	events  []PushedEvent
	changed Signal
	err     error
}

// PushedEvent is one pushed event and the bot it was pushed for.
type PushedEvent struct {
	Bot string
	sdk.Event
}

var _ sdk.Host = (*Host)(nil)

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
