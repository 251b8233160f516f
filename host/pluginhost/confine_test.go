package pluginhost_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/pluginhost"
	"github.com/livechatd/livechatd/sdk"
)

// asHost is a ProviderHost that records which plugin pushed for which bot.
type asHost struct {
	mu     sync.Mutex
	pushes []string // "provider/bot"
}

var _ pluginhost.ProviderHost = (*asHost)(nil)

func (h *asHost) PushEvents(context.Context, string, ...sdk.Event) error {
	panic("a ProviderHost is always told who pushed")
}

func (h *asHost) PushEventsAs(_ context.Context, provider, bot string, _ ...sdk.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pushes = append(h.pushes, provider+"/"+bot)
	return nil
}

// The bot id of a push comes from the plugin. Each plugin pushes through a
// Host service of its own that takes events only for the bots configured
// with it: a plugin naming a bot of another provider, or a bot nobody
// configured, is refused for good, the refusal is logged with the plugin's
// name, and the host gets nothing.
func TestPluginsPushOnlyForTheirBots(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, faultyBinary(t), "faulty")
	install(t, dir, echoBinary(t), "echo")
	lg, logger := newLogs(t)
	m := start(t, pluginhost.Options{Dir: dir, Logger: logger, HealthInterval: time.Hour})
	ctx := ctxT(t)
	faulty, err := m.Plugin("faulty")
	if err != nil {
		t.Fatal(err)
	}
	echo, err := m.Plugin("echo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := faulty.Configure(ctx, "shop", sdk.Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := echo.Configure(ctx, "other", echoConfig); err != nil {
		t.Fatal(err)
	}
	push := func(key, bot, session string) error {
		t.Helper()
		_, err := faulty.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", IdempotencyKey: key,
			Message: sdk.Text("push-as " + bot + " " + session)})
		return err
	}
	for _, bot := range []string{"other", "nobody"} {
		err := push("m-"+bot, bot, "s-"+bot)
		if err == nil || sdk.KindOf(err) != sdk.KindInvalid || !strings.Contains(err.Error(), `not configured for bot "`+bot+`"`) {
			t.Errorf("faulty pushing for bot %q: %v (kind %v), want a permanent refusal naming the bot", bot, err, sdk.KindOf(err))
		}
	}
	lg.waitFor(t, "not configured with it; refused")
	lg.mu.Lock()
	for _, l := range lg.lines {
		if strings.Contains(l, "not configured with it; refused") && !strings.Contains(l, `plugin=faulty`) {
			t.Errorf("the refusal does not name the plugin: %s", l)
		}
	}
	lg.mu.Unlock()
	// Its own bot it may push for.
	if err := push("m-shop", "shop", "s1"); err != nil {
		t.Fatalf("faulty pushing for its own bot: %v", err)
	}
	m.pushes.WaitText(t, "faulty: injected")
	for _, ev := range m.pushes.Events() {
		if ev.Bot != "shop" {
			t.Errorf("the host got a push for bot %q from faulty", ev.Bot)
		}
	}

	// A host that checks sessions is told which plugin pushed.
	h := &asHost{}
	m.SetHost(h)
	if err := push("m-shop-2", "shop", "s1"); err != nil {
		t.Fatalf("push: %v", err)
	}
	if err := push("m-other-2", "other", "s-other"); err == nil {
		t.Error("a push for another provider's bot passed through a ProviderHost")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.pushes) != 1 || h.pushes[0] != "faulty/shop" {
		t.Errorf("pushes = %q, want one, from faulty for shop", h.pushes)
	}
}
