package wiring_test

import (
	"testing"
	"time"

	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/host/internal/wiring"
)

func parse(t *testing.T, reconcile string) *config.File {
	t.Helper()
	f, err := config.Parse("livechatd.hcl", []byte(`
bot "shop" {
  provider      = "gorgias"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "a-token-of-sixteen-bytes"
  `+reconcile+`
}
`), config.WithLookupEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The engine's bots carry what the config says, reconciliation included:
// on by default, off when the block says so, with the operator's limit.
func TestEngineBots(t *testing.T) {
	b := wiring.EngineBots(parse(t, ""))[0]
	if b.Name != "shop" || b.Provider != "gorgias" || !b.Webchat || b.WebhookToken != "a-token-of-sixteen-bytes" {
		t.Errorf("bot = %+v", b)
	}
	if b.Reconcile.Interval != 30*time.Second || !b.Reconcile.RateLimit.IsZero() {
		t.Errorf("default reconcile = %+v, want every 30s with the plugin's limit", b.Reconcile)
	}
	b = wiring.EngineBots(parse(t, `reconcile { enabled = false }`))[0]
	if b.Reconcile.Interval != 0 {
		t.Errorf("reconcile off = %+v, want a zero interval", b.Reconcile)
	}
	b = wiring.EngineBots(parse(t, `reconcile {
    interval   = "1m"
    rate_limit = "40/20s"
  }`))[0]
	if b.Reconcile.Interval != time.Minute || b.Reconcile.RateLimit.Calls != 40 || b.Reconcile.RateLimit.Per != 20*time.Second {
		t.Errorf("reconcile = %+v", b.Reconcile)
	}
}

// The handoff blocks reach the engine: waiting on by default (max_wait off) and off when
// disabled, hours with their spans and holidays, csat.
func TestEngineBotsHandoff(t *testing.T) {
	b := wiring.EngineBots(parse(t, ""))[0]
	if b.Waiting.Every != time.Minute || b.Waiting.MaxWait != 0 || b.Waiting.Message == "" || b.Hours != nil || b.CSAT != nil {
		t.Errorf("defaults: waiting %+v, hours %v, csat %v", b.Waiting, b.Hours, b.CSAT)
	}
	b = wiring.EngineBots(parse(t, `waiting { enabled = false }
  hours {
    time_zone = "Europe/Paris"
    weekly    = { mon = ["09:00-18:00"] }
    holidays  = ["2026-12-25"]
  }
  csat { scale = 3 }`))[0]
	if b.Waiting.Every != 0 || b.Waiting.MaxWait != 0 {
		t.Errorf("waiting off: %+v", b.Waiting)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	monday10 := time.Date(2026, 11, 30, 10, 0, 0, 0, paris)
	if b.Hours == nil || !b.Hours.Open(monday10) || b.Hours.Open(monday10.Add(9*time.Hour)) || !b.Hours.Holidays["2026-12-25"] {
		t.Errorf("hours %+v", b.Hours)
	}
	if b.CSAT == nil || b.CSAT.Scale != 3 || b.CSAT.Question == "" {
		t.Errorf("csat %+v", b.CSAT)
	}
}
