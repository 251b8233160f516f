package engine_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/sdk"
)

// A webhook the plugin cannot take (it is down, or the platform behind it
// is) is kept and answered 202, handed to the plugin later in arrival
// order, and a webhook that arrives meanwhile waits behind it: agent
// replies are neither lost to a platform that never retries, nor reordered.
func TestWebhooksWaitForThePlugin(t *testing.T) {
	h := newHarness(t, withBot(func(b *engine.Bot) { b.WebhookToken = "tok" }))
	s := h.startSession("u1")
	var down atomic.Bool
	down.Store(true)
	h.provider.onWebhook(func(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
		if down.Load() {
			return sdk.WebhookResult{}, sdk.Retryable(errors.New("plugin unavailable"), 0)
		}
		ev := agentMessage(s.ID, req.QueryValue("id"), req.QueryValue("text"))
		return sdk.WebhookResult{Events: []sdk.Event{ev}}, nil
	})
	hook := func(id, text string) int {
		t.Helper()
		res, err := h.eng.HandleWebhook(context.Background(), engine.WebhookRequest{Provider: "fake", Token: "tok", Method: http.MethodPost,
			Path: "/v1/livechat/fake/receive", Query: map[string][]string{"id": {id}, "text": {text}}})
		if err != nil {
			t.Fatalf("webhook %s: %v", text, err)
		}
		return res.Status
	}
	for i, text := range []string{"one", "two", "three"} {
		if st := hook(string(rune('a'+i)), text); st != http.StatusAccepted {
			t.Fatalf("webhook %q while the plugin is down: %d, want 202", text, st)
		}
	}
	down.Store(false)
	if st := hook("d", "four"); st != http.StatusAccepted {
		t.Errorf("a webhook behind waiting ones: %d, want 202 (it waits its turn)", st)
	}
	h.drain()
	if got := h.channel.texts("u1"); !slices.Equal(got, []string{"one", "two", "three", "four"}) {
		t.Errorf("the user got %q, want the four replies once, in order", got)
	}
	// The queue is empty again: the next webhook is handled at once.
	if st := hook("e", "five"); st != http.StatusOK {
		t.Errorf("webhook after the queue drained: %d, want 200", st)
	}
	if dead := h.deadLetters(); len(dead) != 0 {
		t.Errorf("dead letters: %v", dead)
	}
}
