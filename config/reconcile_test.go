package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/config"
)

// withReconcile is a webchat bot whose body ends with block.
func withReconcile(block string) string {
	return strings.Replace(bot("shop", "echo", `"t"`), "  webhook_token", block+"\n  webhook_token", 1)
}

func TestReconcile(t *testing.T) {
	tests := []struct {
		name  string
		block string
		want  config.Reconcile
	}{
		{"no block", "", config.DefaultReconcile},
		{"empty block", "reconcile {}", config.DefaultReconcile},
		{"off", "reconcile { enabled = false }", config.Reconcile{Enabled: false, Interval: 30 * time.Second}},
		{"interval and limit", "reconcile {\n interval = \"2m\"\n rate_limit = \"40/20s\"\n}",
			config.Reconcile{Enabled: true, Interval: 2 * time.Minute, RateLimitCalls: 40, RateLimitPer: 20 * time.Second}},
		{"limit with spaces and days", `reconcile { rate_limit = "1000 / 1d" }`,
			config.Reconcile{Enabled: true, Interval: 30 * time.Second, RateLimitCalls: 1000, RateLimitPer: 24 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkBlock(t, withReconcile(tt.block), tt.want, func(f *config.File) config.Reconcile { return f.Bots[0].Reconcile })
		})
	}
}

func TestReconcileDefaults(t *testing.T) {
	if want := (config.Reconcile{Enabled: true, Interval: 30 * time.Second}); config.DefaultReconcile != want {
		t.Errorf("DefaultReconcile = %+v, want %+v; update README.md's configuration section too", config.DefaultReconcile, want)
	}
}

func TestReconcileErrors(t *testing.T) {
	const in = ` in bot "shop" reconcile`
	tests := []struct {
		name  string
		block string
		want  string // the message after the position
	}{
		{"interval too short", `reconcile { interval = "100ms" }`, `interval` + in + ` must be at least 1s, got "100ms"`},
		{"interval zero", `reconcile { interval = "0s" }`, `interval` + in + ` must be positive, got "0s"`},
		{"interval too long", `reconcile { interval = "2d" }`, `interval` + in + ` must be at most 24h, got "2d"`},
		{"limit without slash", `reconcile { rate_limit = "40" }`, `rate_limit` + in + ` must be calls per duration, as in "40/20s": got "40", no /`},
		{"limit zero calls", `reconcile { rate_limit = "0/20s" }`, `rate_limit` + in + ` must be calls per duration, as in "40/20s": got "0/20s": the number of calls must be a whole number from 1 to 1000000`},
		{"limit bad window", `reconcile { rate_limit = "40/1ms" }`, `rate_limit` + in + ` must be calls per duration, as in "40/20s": got "40/1ms": the window must be a duration from 1s to 24h`},
		{"enabled string", `reconcile { enabled = "yes" }`, `enabled` + in + ` must be a bool, got a string`},
		{"unknown key", `reconcile { intervl = "1m" }`, `unknown attribute "intervl"` + in + `; did you mean "interval"?`},
		{"duplicate", "reconcile {}\n  reconcile {}", `duplicate reconcile block in bot "shop"; first defined at`},
		{"attribute", `reconcile = "30s"`, `"reconcile" in bot "shop" is a block, not an attribute: write reconcile { ... }`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("livechatd.hcl", []byte(withReconcile(tt.block)), env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			if got := errorText(t, err); !strings.Contains(got, tt.want) {
				t.Errorf("error:\n got %s\nwant it to contain %s", got, tt.want)
			}
		})
	}
}
