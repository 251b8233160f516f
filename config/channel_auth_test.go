package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/config"
)

// botSrc is a channel_url bot "shop" with extra attributes.
func botSrc(extra string) string {
	return `bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel_url   = "http://127.0.0.1:9001/deliver"
  webhook_token = "t"
` + extra + `}`
}

// Issue 10: a channel_url bot's events are signed with its channel_secret,
// so a bot without one is refused at load time unless it opts out of
// authentication with insecure_events = true.
func TestChannelAuthentication(t *testing.T) {
	for _, tt := range []struct {
		name      string
		src       string
		want      string // the error; "" loads
		insecure  bool
		tolerance time.Duration
	}{
		{
			name: "channel_url without channel_secret",
			src:  botSrc(""),
			want: `livechatd.hcl:1:1: bot "shop" has a channel_url and no channel_secret: its channel signs events with channel_secret (X-Livechat-Signature); set one, or insecure_events = true to take unauthenticated events`,
		},
		{
			name: "empty channel_secret",
			src:  botSrc(`  channel_secret = env("SHOP_CHANNEL_SECRET", "")` + "\n"),
			want: `livechatd.hcl:6:20: channel_secret in bot "shop" must not be empty: events are signed with it; set one, or insecure_events = true to take unauthenticated events`,
		},
		{
			name: "with a channel_secret, as before",
			src:  botSrc(`  channel_secret = "s3cret"` + "\n"),
		},
		{
			name:     "insecure_events without channel_secret",
			src:      botSrc("  insecure_events = true\n"),
			insecure: true,
		},
		{
			name:     "insecure_events with a channel_secret (deliveries still signed)",
			src:      botSrc("  channel_secret = \"s3cret\"\n  insecure_events = true\n"),
			insecure: true,
		},
		{
			name: "insecure_events = false without channel_secret",
			src:  botSrc("  insecure_events = false\n"),
			want: `livechatd.hcl:1:1: bot "shop" has a channel_url and no channel_secret: its channel signs events with channel_secret (X-Livechat-Signature); set one, or insecure_events = true to take unauthenticated events`,
		},
		{
			name: "insecure_events not a bool",
			src:  botSrc("  channel_secret = \"s3cret\"\n  insecure_events = \"yes\"\n"),
			want: `livechatd.hcl:7:21: insecure_events in bot "shop" must be a bool, got a string`,
		},
		{
			name:      "event_tolerance",
			src:       botSrc("  channel_secret = \"s3cret\"\n  event_tolerance = \"90s\"\n"),
			tolerance: 90 * time.Second,
		},
		{
			name: "event_tolerance zero",
			src:  botSrc("  channel_secret = \"s3cret\"\n  event_tolerance = \"0s\"\n"),
			want: `livechatd.hcl:7:21: event_tolerance in bot "shop" must be positive, got "0s"`,
		},
		{
			name: "event_tolerance too long",
			src:  botSrc("  channel_secret = \"s3cret\"\n  event_tolerance = \"2h\"\n"),
			want: `livechatd.hcl:7:21: event_tolerance in bot "shop" must be at most 1h, got "2h"`,
		},
		{
			name: "insecure_events on a webchat bot",
			src: `bot "shop" {
  provider        = "echo"
  bot_url         = "http://127.0.0.1:9000/events"
  channel         = "webchat"
  webhook_token   = "t"
  insecure_events = true
}`,
			want: `livechatd.hcl:6:3: insecure_events in bot "shop" applies to channel_url bots only: webchat events carry the user's token`,
		},
		{
			name: "event_tolerance on a webchat bot",
			src: `bot "shop" {
  provider        = "echo"
  bot_url         = "http://127.0.0.1:9000/events"
  channel         = "webchat"
  webhook_token   = "t"
  event_tolerance = "1m"
}`,
			want: `livechatd.hcl:6:3: event_tolerance in bot "shop" applies to channel_url bots only: webchat events carry the user's token`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := config.Parse("livechatd.hcl", []byte(tt.src), env(nil))
			if tt.want != "" {
				if got := errorText(t, err); got != tt.want {
					t.Errorf("error:\n got %s\nwant %s", got, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := f.Bot("shop")
			if b.InsecureEvents != tt.insecure || b.EventTolerance != tt.tolerance {
				t.Errorf("InsecureEvents, EventTolerance = %v, %v; want %v, %v", b.InsecureEvents, b.EventTolerance, tt.insecure, tt.tolerance)
			}
		})
	}
}

// The error about a missing secret says nothing of other bots' secrets.
func TestChannelAuthenticationErrorShowsNoSecret(t *testing.T) {
	src := botSrc("") + `
bot "other" {
  provider       = "echo"
  bot_url        = "http://127.0.0.1:9000/events"
  channel_url    = "http://127.0.0.1:9001/deliver"
  channel_secret = env("OTHER_SECRET")
  webhook_token  = "t2"
}`
	_, err := config.Parse("livechatd.hcl", []byte(src), env(map[string]string{"OTHER_SECRET": "s3cr3t-other"}))
	msg := errorText(t, err)
	if strings.Contains(msg, "s3cr3t") || !strings.Contains(msg, `bot "shop"`) || strings.Contains(msg, `bot "other"`) {
		t.Errorf("error = %s", msg)
	}
}
