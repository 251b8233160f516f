package engine_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/sdk"
	"github.com/prometheus/client_golang/prometheus"
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

// otherSession stores an active session of user for bot with provider, as
// if another bot (or the bot under another provider) had opened it.
func (h *harness) otherSession(bot, provider, user string) *host.Session {
	h.t.Helper()
	s := &host.Session{Bot: bot, UserID: user, ChannelID: "web", Provider: provider, State: host.SessionActive,
		ExpiresAt: h.clock.Now().Add(time.Hour)}
	err := h.db.Tx(context.Background(), func(tx host.Tx) error {
		if err := tx.CreateSession(s); err != nil {
			return err
		}
		s.ProviderRef = "T-" + s.ID
		return tx.UpdateSession(s)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// A platform fires every integration for every ticket: an authenticated
// webhook whose events name another bot's session, an unknown session or a
// ticket that is not the session's is answered 200, those events ignored,
// logged and counted, and the webhook's other events applied.
func TestWebhookIgnoresEventsThatAreNotTheBots(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, withBot(func(b *engine.Bot) { b.WebhookToken = "tok" }),
		withOptions(func(o *engine.Options) { o.Metrics = engine.NewMetrics(reg) }))
	s := h.startSession("u1")
	other := h.otherSession("other", "fake", "u9")
	withRef := func(ev sdk.Event, ref string) sdk.Event { ev.Ref = ref; return ev }
	h.provider.onWebhook(func(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error) {
		return sdk.WebhookResult{Events: []sdk.Event{
			agentMessage(other.ID, "e1", "another bot's session"),
			agentMessage(s.ID, "e2", "one"),
			agentMessage("nope", "e3", "unknown session"),
			withRef(agentMessage("", "e4", "unknown ticket"), "T-nope"),
			withRef(agentMessage(s.ID, "e5", "another session's ticket"), other.ProviderRef),
			withRef(agentMessage("", "e6", "another bot's ticket"), other.ProviderRef),
			{ID: "e7", Type: sdk.EventSessionClosed, SessionID: other.ID},
			agentMessage(s.ID, "e8", "two"),
		}}, nil
	})
	res, err := h.eng.HandleWebhook(context.Background(), engine.WebhookRequest{Provider: "fake", Token: "tok", Method: http.MethodPost, Path: "/v1/livechat/fake/receive"})
	if err != nil {
		t.Fatalf("webhook: %v, want 200 with the events that are not this bot's ignored", err)
	}
	if res.Status != http.StatusOK || string(res.Body) != `{"applied":2,"events":8,"ignored":6}` {
		t.Errorf("answer = %d %s", res.Status, res.Body)
	}
	h.drain()
	if got := h.channel.texts("u1"); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("the user got %q, want the bot's own two messages", got)
	}
	if got := h.channel.texts("u9"); len(got) != 0 {
		t.Errorf("the other bot's user got %q", got)
	}
	if st := h.session(other.ID).State; st != host.SessionActive {
		t.Errorf("the other bot's session is %s: shop's webhook closed it", st)
	}
	if got := webhookCounts(t, reg); !maps.Equal(got, map[string]float64{"fake/ignored": 1}) {
		t.Errorf("livechat_webhooks_total = %v, want one webhook counted as ignored", got)
	}
}

// webhookCounts reads livechat_webhooks_total as "provider/result" → count.
func webhookCounts(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "livechat_webhooks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labels["provider"]+"/"+labels["result"]] = m.GetCounter().GetValue()
		}
	}
	return out
}

// A webhook kept while the plugin was down gives, once handed over, events
// for another bot: they are ignored, not a dead letter, and the rest is
// applied.
func TestQueuedWebhookIgnoresEventsThatAreNotTheBots(t *testing.T) {
	h := newHarness(t, withBot(func(b *engine.Bot) { b.WebhookToken = "tok" }))
	s := h.startSession("u1")
	other := h.otherSession("other", "fake", "u9")
	var down atomic.Bool
	down.Store(true)
	h.provider.onWebhook(func(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error) {
		if down.Load() {
			return sdk.WebhookResult{}, sdk.Retryable(errors.New("plugin unavailable"), 0)
		}
		return sdk.WebhookResult{Events: []sdk.Event{agentMessage(other.ID, "e1", "not yours"), agentMessage("nope", "e2", "nobody's"), agentMessage(s.ID, "e3", "yours")}}, nil
	})
	res, err := h.eng.HandleWebhook(context.Background(), engine.WebhookRequest{Provider: "fake", Token: "tok", Method: http.MethodPost, Path: "/v1/livechat/fake/receive"})
	if err != nil || res.Status != http.StatusAccepted {
		t.Fatalf("webhook while the plugin is down: %d %v, want 202", res.Status, err)
	}
	down.Store(false)
	h.drain()
	if got := h.channel.texts("u1"); !slices.Equal(got, []string{"yours"}) {
		t.Errorf("the user got %q", got)
	}
	if dead := h.deadLetters(); len(dead) != 0 {
		t.Errorf("dead letters: %v", dead)
	}
}

// A plugin's push is checked whole against the plugin that pushed it: a
// bot of another provider, another bot's session, or a session opened with
// another provider refuses the push for good and applies none of it; an
// unknown session is NotFound.
func TestPushIsConfinedToThePluginsSessions(t *testing.T) {
	h := newHarness(t)
	s := h.startSession("u1")
	other := h.otherSession("other", "fake", "u9")
	old := h.otherSession("shop", "old", "u7") // opened before shop moved to "fake"
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		provider string
		events   []sdk.Event
		kind     sdk.ErrorKind
	}{
		{"a bot of another provider", "evil", []sdk.Event{agentMessage(s.ID, "p1", "from evil")}, sdk.KindInvalid},
		{"another bot's session", "fake", []sdk.Event{agentMessage(s.ID, "p2", "fine"), agentMessage(other.ID, "p3", "not yours")}, sdk.KindInvalid},
		{"a session of another provider", "fake", []sdk.Event{agentMessage(old.ID, "p4", "not your provider's")}, sdk.KindInvalid},
		{"another session's ticket", "fake", []sdk.Event{func() sdk.Event { e := agentMessage(s.ID, "p5", "mismatch"); e.Ref = other.ProviderRef; return e }()}, sdk.KindInvalid},
		{"an unknown session", "fake", []sdk.Event{agentMessage(s.ID, "p6", "fine"), agentMessage("nope", "p7", "nobody's")}, sdk.KindNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := h.eng.PushEventsAs(ctx, tc.provider, "shop", tc.events...)
			if err == nil || sdk.KindOf(err) != tc.kind {
				t.Errorf("push: %v (kind %v), want kind %v", err, sdk.KindOf(err), tc.kind)
			}
		})
	}
	// The sdk.Host method pushes as the bot's own provider.
	if err := h.eng.PushEvents(ctx, "shop", agentMessage(old.ID, "p8", "not your provider's")); sdk.KindOf(err) != sdk.KindInvalid {
		t.Errorf("PushEvents for a session of another provider: %v, want a permanent refusal", err)
	}
	if err := h.eng.PushEventsAs(ctx, "fake", "shop", agentMessage(s.ID, "p9", "yours")); err != nil {
		t.Fatalf("a good push: %v", err)
	}
	h.drain()
	if got := h.channel.texts("u1"); !slices.Equal(got, []string{"yours"}) {
		t.Errorf("the user got %q, want only the good push", got)
	}
	for _, u := range []string{"u7", "u9"} {
		if got := h.channel.texts(u); len(got) != 0 {
			t.Errorf("%s got %q", u, got)
		}
	}
}
