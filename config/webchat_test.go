package config_test

import (
	"strings"
	"testing"

	"github.com/livechatd/livechatd/config"
)

// webchatBot is a valid webchat bot "shop" with the given lines added.
func webchatBot(lines string) string {
	return `bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "hook"
` + lines + `
}`
}

func TestWebchatBlock(t *testing.T) {
	tests := []struct {
		name, src string
		want      config.Webchat
	}{
		{"no block", webchatBot(""), config.Webchat{}},
		{"empty block", webchatBot("webchat {}"), config.Webchat{}},
		{"every key", webchatBot(`webchat {
    title    = "Questions? Ask us"
    color    = "#0b7a53"
    position = "left"
  }`), config.Webchat{Title: "Questions? Ask us", Color: "#0b7a53", Position: "left"}},
		{"short colour, longest title", webchatBot(`webchat {
    title = "` + strings.Repeat("é", 80) + `"
    color = "#FFF"
  }`), config.Webchat{Title: strings.Repeat("é", 80), Color: "#FFF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkBlock(t, tt.src, tt.want, func(f *config.File) config.Webchat { return f.Bots[0].Webchat })
		})
	}
}

func TestWebchatBlockErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"colour name", webchatBot(`  webchat { color = "red" }`),
			`livechatd.hcl:6:21: color in bot "shop" webchat must be #rgb or #rrggbb, got "red"`},
		{"colour with css", webchatBot(`  webchat { color = "#fff;background:url(x)" }`),
			`livechatd.hcl:6:21: color in bot "shop" webchat must be #rgb or #rrggbb, got "#fff;background:url(x)"`},
		{"position", webchatBot(`  webchat { position = "top" }`),
			`livechatd.hcl:6:24: position in bot "shop" webchat must be "right" or "left", got "top"`},
		{"long title", webchatBot(`  webchat { title = "` + strings.Repeat("x", 81) + `" }`),
			`livechatd.hcl:6:21: title in bot "shop" webchat must be at most 80 characters, got 81`},
		{"empty title", webchatBot(`  webchat { title = " " }`),
			`livechatd.hcl:6:21: title in bot "shop" webchat must not be empty; leave it out for the default`},
		{"unknown key", webchatBot(`  webchat { colour = "#fff" }`),
			`livechatd.hcl:6:13: unknown attribute "colour" in bot "shop" webchat; did you mean "color"?`},
		{"a list", webchatBot(`  webchat { title = ["Help"] }`),
			`livechatd.hcl:6:21: title in bot "shop" webchat must be a string, got a list`},
		{"label", webchatBot(`  webchat "x" {}`),
			`livechatd.hcl:6:11: webchat block takes no label: write webchat { ... }`},
		{"attribute", webchatBot(`  webchat = "left"`),
			`livechatd.hcl:6:3: "webchat" in bot "shop" is a block, not an attribute: write webchat { ... }`},
		{"duplicate", webchatBot("  webchat {}\n  webchat {}"),
			`livechatd.hcl:7:3: duplicate webchat block in bot "shop"; first defined at livechatd.hcl:6:3`},
		{"channel_url bot", `bot "shop" {
  provider       = "echo"
  bot_url        = "http://127.0.0.1:9000/events"
  channel_url    = "http://127.0.0.1:9001/deliver"
  channel_secret = "secret"
  webhook_token  = "hook"
  webchat { title = "Help" }
}`, `livechatd.hcl:7:3: webchat block in bot "shop" applies to bots with channel = "webchat" only, and this one has channel_url (livechatd.hcl:4:3): its channel draws its own chat`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("livechatd.hcl", []byte(tt.src), env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			if got := errorText(t, err); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
