package config_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/livechatd/livechatd/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// env makes env() read vars instead of the process environment.
func env(vars map[string]string) config.Option {
	return config.WithLookupEnv(func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
}

// fileOpts compares Files: secrets by value, ranges and unexported parts
// left out.
var fileOpts = cmp.Options{
	cmp.Comparer(func(a, b config.Secret) bool { return a.Value() == b.Value() }),
	cmpopts.IgnoreUnexported(config.Bot{}),
	cmpopts.IgnoreTypes(hcl.Range{}),
}

// errorText returns err's text, failing when err is not an *Error.
func errorText(t *testing.T, err error) string {
	t.Helper()
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error is %T (%v), want *config.Error", err, err)
	}
	return err.Error()
}

func TestLoadFull(t *testing.T) {
	f, err := config.Load("testdata/full.hcl", env(map[string]string{
		"ADMIN_TOKEN":         "admin-secret",
		"SHOP_CHANNEL_SECRET": "channel-secret",
		"SHOP_WEBHOOK_TOKEN":  "webhook-secret",
		"GORGIAS_API_KEY":     "api-secret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := &config.File{
		Filename:         "testdata/full.hcl",
		Listen:           "0.0.0.0:9090",
		PublicURL:        "https://livechat.example.com",
		PluginDir:        "/opt/livechatd/plugins",
		LogLevel:         "debug",
		AdminToken:       config.NewSecret("admin-secret"),
		RequireChecksums: true,
		Storage:          config.Storage{Driver: "sqlite", Path: "testdata/state/livechat.db", Synchronous: "full"},
		Plugins: []config.Plugin{
			{Name: "gorgias", SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
			{Name: "echo", SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"},
		},
		Bots: []config.Bot{
			{
				Name:           "shop",
				Provider:       "gorgias",
				SessionTimeout: 45 * time.Minute,
				StartTimeout:   30 * time.Second,
				ExpiredNotice:  config.ExpiredNextMessage,
				TranscriptSize: 50,
				BotURL:         "http://127.0.0.1:9000/events",
				ChannelURL:     "https://widget.example.com/deliver",
				ChannelSecret:  config.NewSecret("channel-secret"),
				WebhookToken:   config.NewSecret("webhook-secret"),
				Messages: config.Messages{
					Start:         "Un agent arrive…",
					EndPrompt:     "Merci !",
					EndButton:     "Quitter",
					Unavailable:   "Personne pour l'instant.",
					Closed:        config.DefaultMessages.Closed,
					Offline:       config.DefaultMessages.Offline,
					AgentJoined:   config.DefaultMessages.AgentJoined,
					QueuePosition: config.DefaultMessages.QueuePosition,
					ExpectedWait:  config.DefaultMessages.ExpectedWait,
					Ended:         config.DefaultMessages.Ended,
				},
				Reconcile: config.Reconcile{Enabled: true, Interval: time.Minute, RateLimitCalls: 40, RateLimitPer: 20 * time.Second},
				Waiting:   config.DefaultWaiting,
			},
			{
				Name:           "demo-2",
				Provider:       "echo",
				SessionTimeout: 30 * time.Minute,
				StartTimeout:   2 * time.Minute,
				ExpiredNotice:  config.ExpiredImmediate,
				TranscriptSize: 20,
				BotURL:         "https://bot.example.com/events",
				Channel:        "webchat",
				WebhookToken:   config.NewSecret("dev-token"),
				Messages:       config.DefaultMessages,
				Reconcile:      config.DefaultReconcile,
				Waiting:        config.DefaultWaiting,
				Webchat:        config.Webchat{Title: "Questions? Ask us", Color: "#0b7a53", Position: "left"},
			},
		},
		Retention: config.Retention{
			DoneWork:        36 * time.Hour,
			DeadLetters:     14 * 24 * time.Hour,
			ProcessedEvents: 10 * 24 * time.Hour,
			Requests:        24 * time.Hour,
			Transcripts:     365 * 24 * time.Hour,
			WebchatStreams:  45 * 24 * time.Hour,
			Uploads:         30 * 24 * time.Hour,
			Interval:        30 * time.Second,
			Batch:           200,
		},
		Limits: config.Limits{StreamsPerUser: 2, Streams: 500, StreamBatchBytes: 64 << 10, StreamWriteTimeout: 30 * time.Second,
			IdentitiesPerMinute: 100, StartsPerMinute: 3, UploadBytes: 5 << 20, UploadsPerMinute: 4,
			UploadTypes: []string{"image/png", "image/jpeg", "application/pdf"}},
	}
	if diff := cmp.Diff(want, f, fileOpts); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}

	// Ranges, for the host's own positioned errors.
	ranges := map[string]hcl.Range{
		"storage":                f.Storage.DeclRange,
		"plugin echo":            f.Plugins[1].DeclRange,
		"bot shop":               f.Bots[0].DeclRange,
		"bot shop provider":      f.Bots[0].AttrRange("provider"),
		"bot demo-2 absent attr": f.Bots[1].AttrRange("channel_url"),
		"retention":              f.Retention.DeclRange,
		"bot demo-2 webchat":     f.Bots[1].Webchat.DeclRange,
		"limits":                 f.Limits.DeclRange,
	}
	wantPos := map[string]string{
		"storage":                "testdata/full.hcl:9:1",
		"plugin echo":            "testdata/full.hcl:18:1",
		"bot shop":               "testdata/full.hcl:22:1",
		"bot shop provider":      "testdata/full.hcl:23:3",
		"bot demo-2 absent attr": "testdata/full.hcl:52:1",
		"retention":              "testdata/full.hcl:65:1",
		"bot demo-2 webchat":     "testdata/full.hcl:58:3",
		"limits":                 "testdata/full.hcl:77:1",
	}
	for name, r := range ranges {
		if got := fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column); got != wantPos[name] {
			t.Errorf("%s at %s, want %s", name, got, wantPos[name])
		}
	}
	if b, ok := f.Bot("demo-2"); !ok || b.Provider != "echo" {
		t.Errorf(`Bot("demo-2") = %v, %v`, b, ok)
	}
	if _, ok := f.Bot("nope"); ok {
		t.Error(`Bot("nope") found`)
	}
	if p, ok := f.Plugin("gorgias"); !ok || p.SHA256[:4] != "9f86" {
		t.Errorf(`Plugin("gorgias") = %v, %v`, p, ok)
	}
}

func TestLoadDefaults(t *testing.T) {
	f, err := config.Load("testdata/minimal.hcl", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := &config.File{
		Filename:  "testdata/minimal.hcl",
		Listen:    "127.0.0.1:8080",
		PublicURL: "http://127.0.0.1:8080",
		PluginDir: "testdata/bin/plugins",
		LogLevel:  "info",
		Storage:   config.Storage{Driver: "sqlite", Path: "testdata/data/livechat.db", Synchronous: "normal"},
		Bots: []config.Bot{{
			Name:           "shop",
			Provider:       "echo",
			SessionTimeout: 30 * time.Minute,
			StartTimeout:   2 * time.Minute,
			ExpiredNotice:  config.ExpiredImmediate,
			TranscriptSize: 20,
			BotURL:         "http://127.0.0.1:9000/events",
			ChannelURL:     "http://127.0.0.1:9001/deliver",
			ChannelSecret:  config.NewSecret("s3cret"),
			WebhookToken:   config.NewSecret("t0ken"),
			Messages: config.Messages{
				Start:         "Connecting you to an agent…",
				EndPrompt:     "Thanks for chatting with us today! You can exit the livechat session by clicking the button below:",
				EndButton:     "Quit livechat",
				Unavailable:   "No agent is available right now.",
				Closed:        config.DefaultMessages.Closed,
				Offline:       config.DefaultMessages.Offline,
				AgentJoined:   config.DefaultMessages.AgentJoined,
				QueuePosition: config.DefaultMessages.QueuePosition,
				ExpectedWait:  config.DefaultMessages.ExpectedWait,
				Ended:         config.DefaultMessages.Ended,
			},
			Reconcile: config.DefaultReconcile,
			Waiting:   config.DefaultWaiting,
		}},
		Retention: config.DefaultRetention,
		Limits:    config.DefaultLimits,
	}
	if diff := cmp.Diff(want, f, fileOpts); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
}

func TestParseDerived(t *testing.T) {
	tests := []struct {
		name, src     string
		publicURL     string
		pluginDir     string
		storagePath   string
		storageDriver string
		dsn           string
	}{
		{
			name:      "public_url from listen",
			src:       `listen = "10.0.0.1:80"`,
			publicURL: "http://10.0.0.1:80", pluginDir: "conf/bin/plugins",
			storageDriver: "sqlite", storagePath: "conf/data/livechat.db",
		},
		{
			name:      "public_url from a listen without host",
			src:       `listen = ":8080"`,
			publicURL: "http://localhost:8080", pluginDir: "conf/bin/plugins",
			storageDriver: "sqlite", storagePath: "conf/data/livechat.db",
		},
		{
			name:      "relative and absolute paths",
			src:       "plugin_dir = \"plugins\"\nstorage \"sqlite\" { path = \"/var/lib/livechat.db\" }",
			publicURL: "http://127.0.0.1:8080", pluginDir: "conf/plugins",
			storageDriver: "sqlite", storagePath: "/var/lib/livechat.db",
		},
		{
			name:      "postgres",
			src:       `storage "postgres" { dsn = env("DATABASE_URL") }`,
			publicURL: "http://127.0.0.1:8080", pluginDir: "conf/bin/plugins",
			storageDriver: "postgres", dsn: "postgres://u:pw@db/livechat",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := config.Parse("conf/livechatd.hcl", []byte(tt.src), env(map[string]string{"DATABASE_URL": "postgres://u:pw@db/livechat"}))
			if err != nil {
				t.Fatal(err)
			}
			got := []string{f.PublicURL, f.PluginDir, f.Storage.Driver, f.Storage.Path, f.Storage.DSN.Value()}
			want := []string{tt.publicURL, tt.pluginDir, tt.storageDriver, tt.storagePath, tt.dsn}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	vars := map[string]string{"TOKEN": "from-env", "EMPTY": ""}
	tests := []struct {
		name    string
		expr    string
		want    string
		wantErr string
	}{
		{name: "set", expr: `env("TOKEN")`, want: "from-env"},
		{name: "set, default ignored", expr: `env("TOKEN", "dflt")`, want: "from-env"},
		{name: "set to empty", expr: `env("EMPTY", "dflt")`, want: ""},
		{name: "missing with default", expr: `env("NOPE", "dflt")`, want: "dflt"},
		{name: "in a template", expr: `"Bearer ${env("TOKEN")}"`, want: "Bearer from-env"},
		{name: "missing", expr: `env("NOPE")`, wantErr: `livechatd.hcl:1:15: environment variable "NOPE" is not set`},
		{name: "empty name", expr: `env("")`, wantErr: `livechatd.hcl:1:15: env needs a variable name`},
		{name: "too many arguments", expr: `env("A", "b", "c")`, wantErr: `livechatd.hcl:1:15: env takes a variable name and an optional default, as in env("NAME", "default")`},
		{name: "no argument", expr: `env()`, wantErr: `livechatd.hcl:1:19: Not enough function arguments; Function "env" expects at least 1 argument(s). Missing value for "name".`},
		{name: "unknown function", expr: `getenv("TOKEN")`, wantErr: `livechatd.hcl:1:15: Call to unknown function; There is no function named "getenv".`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := config.Parse("livechatd.hcl", []byte("admin_token = "+tt.expr), env(vars))
			if tt.wantErr != "" {
				if got := errorText(t, err); got != tt.wantErr {
					t.Errorf("error:\n got %s\nwant %s", got, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.AdminToken.Value(); got != tt.want {
				t.Errorf("admin_token = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{
			name: "unknown top-level attribute",
			src:  "listn = \"127.0.0.1:8080\"\n",
			want: `livechatd.hcl:1:1: unknown attribute "listn"; did you mean "listen"?`,
		},
		{
			name: "unknown top-level attribute, no close match",
			src:  "\n  colour = \"blue\"\n",
			want: `livechatd.hcl:2:3: unknown attribute "colour"; accepted: admin_token, listen, log_level, plugin_dir, public_url, require_checksums`,
		},
		{
			name: "unknown top-level block",
			src:  "bots \"shop\" {}\n",
			want: `livechatd.hcl:1:1: unknown block type "bots"; did you mean "bot"?`,
		},
		{
			name: "block written as an attribute",
			src:  "bot = \"shop\"\n",
			want: `livechatd.hcl:1:1: "bot" is a block, not an attribute: write bot "NAME" { ... }`,
		},
		{
			name: "attribute written as a block",
			src:  "listen {}\n",
			want: `livechatd.hcl:1:1: "listen" is an attribute, not a block: write listen = ...`,
		},
		{
			name: "syntax error",
			src:  "listen = \n",
			want: `livechatd.hcl:1:10: Invalid expression; Expected the start of an expression, but found an invalid expression token.`,
		},
		{
			name: "number out of range",
			src:  "listen = \"${1e10000000}\"",
			want: `livechatd.hcl:1:13: number out of range`,
		},
		{
			name: "bad listen",
			src:  `listen = "8080"`,
			want: `livechatd.hcl:1:10: listen must be host:port, as in "127.0.0.1:8080", got "8080"`,
		},
		{
			name: "bad public_url",
			src:  `public_url = "livechat.example.com"`,
			want: `livechatd.hcl:1:14: public_url must be an http or https URL, got "livechat.example.com"`,
		},
		{
			name: "bad log_level",
			src:  `log_level = "verbose"`,
			want: `livechatd.hcl:1:13: log_level must be one of trace, debug, info, warn, error, got "verbose"`,
		},
		{
			name: "wrong type",
			src:  `require_checksums = "yes"`,
			want: `livechatd.hcl:1:21: require_checksums must be a bool, got a string`,
		},
		{
			name: "wrong type for a secret",
			src:  `admin_token = ["a", "b"]`,
			want: `livechatd.hcl:1:15: admin_token must be a string, got a list`,
		},
		{
			name: "bad sha256",
			src:  `plugin "echo" { sha256 = "2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE" }`,
			want: `livechatd.hcl:1:26: sha256 in plugin "echo" must be 64 lowercase hex characters (the output of sha256sum)`,
		},
		{
			name: "short sha256",
			src:  `plugin "echo" { sha256 = "abc" }`,
			want: `livechatd.hcl:1:26: sha256 in plugin "echo" must be 64 lowercase hex characters (the output of sha256sum)`,
		},
		{
			name: "missing sha256",
			src:  `plugin "echo" {}`,
			want: `livechatd.hcl:1:1: missing required attribute "sha256" in plugin "echo"`,
		},
		{
			name: "duplicate plugin",
			src:  "plugin \"echo\" { sha256 = \"" + strings.Repeat("a", 64) + "\" }\nplugin \"echo\" { sha256 = \"" + strings.Repeat("b", 64) + "\" }",
			want: `livechatd.hcl:2:1: duplicate plugin "echo"; first defined at livechatd.hcl:1:1`,
		},
		{
			name: "bad plugin name",
			src:  `plugin "Echo" { sha256 = "abc" }`,
			want: `livechatd.hcl:1:8: invalid plugin name "Echo": use only a-z, 0-9, "-" and "_"`,
		},
		{
			name: "unknown storage",
			src:  `storage "mysql" {}`,
			want: `livechatd.hcl:1:9: unknown storage type "mysql"; accepted: sqlite, postgres`,
		},
		{
			name: "unknown key in storage",
			src:  "storage \"sqlite\" {\n  dsn = \"x\"\n}",
			want: `livechatd.hcl:2:3: unknown attribute "dsn" in storage "sqlite"; accepted: path, synchronous`,
		},
		{
			name: "bad synchronous",
			src:  `storage "sqlite" { synchronous = "off" }`,
			want: `livechatd.hcl:1:34: synchronous in storage "sqlite" must be "normal" or "full", got "off"`,
		},
		{
			name: "postgres without dsn",
			src:  `storage "postgres" {}`,
			want: `livechatd.hcl:1:1: missing required attribute "dsn" in storage "postgres"`,
		},
		{
			name: "duplicate storage",
			src:  "storage \"sqlite\" {}\nstorage \"postgres\" { dsn = \"x\" }",
			want: `livechatd.hcl:2:1: duplicate storage block; first defined at livechatd.hcl:1:1`,
		},
		{
			name: "storage without label",
			src:  `storage {}`,
			want: `livechatd.hcl:1:1: storage block takes one label: write storage "TYPE" { ... }`,
		},
		{
			name: "bot without label",
			src:  `bot {}`,
			want: `livechatd.hcl:1:1: bot block takes one label: write bot "NAME" { ... }`,
		},
		{
			name: "bot with two labels",
			src:  `bot "a" "b" {}`,
			want: `livechatd.hcl:1:9: bot block takes one label: write bot "NAME" { ... }`,
		},
		{
			name: "bad bot name",
			src:  `bot "My Shop" {}`,
			want: `livechatd.hcl:1:5: invalid bot name "My Shop": use only a-z, 0-9, "-" and "_"`,
		},
		{
			name: "empty bot",
			src:  `bot "shop" {}`,
			want: strings.Join([]string{
				`livechatd.hcl:1:1: missing required attribute "provider" in bot "shop"`,
				`livechatd.hcl:1:1: missing required attribute "bot_url" in bot "shop"`,
				`livechatd.hcl:1:1: bot "shop" needs channel_url or channel = "webchat"`,
				`livechatd.hcl:1:1: missing required attribute "webhook_token" in bot "shop"`,
			}, "\n"),
		},
		{
			name: "no bot_url",
			src: `bot "shop" {
  provider      = "echo"
  channel_url   = "http://127.0.0.1:9001/deliver"
  channel_secret = "s"
  webhook_token = "t"
}`,
			want: `livechatd.hcl:1:1: missing required attribute "bot_url" in bot "shop"`,
		},
		{
			name: "null counts as absent",
			src: `bot "shop" {
  provider      = "echo"
  bot_url       = null
  channel_url   = "http://127.0.0.1:9001/deliver"
  channel_secret = "s"
  webhook_token = "t"
}`,
			want: `livechatd.hcl:1:1: missing required attribute "bot_url" in bot "shop"`,
		},
		{
			name: "bad bot_url",
			src: `bot "shop" {
  provider      = "echo"
  bot_url       = "ftp://127.0.0.1/events"
  channel_url   = "http://127.0.0.1:9001/deliver"
  channel_secret = "s"
  webhook_token = "t"
}`,
			want: `livechatd.hcl:3:19: bot_url in bot "shop" must be an http or https URL, got "ftp://127.0.0.1/events"`,
		},
		{
			name: "both channel_url and channel",
			src: `bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel_url   = "http://127.0.0.1:9001/deliver"
  channel       = "webchat"
  webhook_token = "t"
}`,
			want: `livechatd.hcl:5:3: bot "shop" sets both channel_url and channel; set exactly one`,
		},
		{
			name: "unknown channel",
			src: `bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "sms"
  webhook_token = "t"
}`,
			want: `livechatd.hcl:4:19: channel in bot "shop" must be "webchat", got "sms"; other channels use channel_url`,
		},
		{
			name: "empty webhook_token",
			src: `bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = env("SHOP_WEBHOOK_TOKEN", "")
}`,
			want: `livechatd.hcl:5:19: webhook_token in bot "shop" must not be empty: provider webhooks are refused without it`,
		},
		{
			name: "bad duration",
			src: `bot "shop" {
  provider        = "echo"
  bot_url         = "http://127.0.0.1:9000/events"
  channel         = "webchat"
  webhook_token   = "t"
  session_timeout = "30 minutes"
}`,
			want: `livechatd.hcl:6:21: session_timeout in bot "shop" must be a duration such as 30s, 5m, 2h or 7d, got "30 minutes"`,
		},
		{
			name: "session_timeout over 168h",
			src: `bot "shop" {
  provider        = "echo"
  bot_url         = "http://127.0.0.1:9000/events"
  channel         = "webchat"
  webhook_token   = "t"
  session_timeout = "169h"
}`,
			want: `livechatd.hcl:6:21: session_timeout in bot "shop" must be at most 168h, got "169h"`,
		},
		{
			name: "negative start_timeout",
			src: `bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "t"
  start_timeout = "-1m"
}`,
			want: `livechatd.hcl:6:19: start_timeout in bot "shop" must be positive, got "-1m"`,
		},
		{
			name: "bad expired_notice and transcript_size",
			src: `bot "shop" {
  provider        = "echo"
  bot_url         = "http://127.0.0.1:9000/events"
  channel         = "webchat"
  webhook_token   = "t"
  expired_notice  = "later"
  transcript_size = 2.5
}`,
			want: `livechatd.hcl:6:21: expired_notice in bot "shop" must be "immediate" or "next_message", got "later"` + "\n" +
				`livechatd.hcl:7:21: transcript_size in bot "shop" must be a whole number from 0 to 1000`,
		},
		{
			name: "bad provider name",
			src: `bot "shop" {
  provider      = "../echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "t"
}`,
			want: `livechatd.hcl:2:19: provider in bot "shop" must be a plugin name made of a-z, 0-9, "-" and "_", got "../echo"`,
		},
		{
			name: "unknown key in bot",
			src: `bot "shop" {
  provider      = "echo"
  bot_ulr       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "t"
}`,
			want: `livechatd.hcl:1:1: missing required attribute "bot_url" in bot "shop"` + "\n" +
				`livechatd.hcl:3:3: unknown attribute "bot_ulr" in bot "shop"; did you mean "bot_url"?`,
		},
		{
			name: "unknown key in messages",
			src: `bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "t"
  messages {
    strat = "Hello"
  }
}`,
			want: `livechatd.hcl:7:5: unknown attribute "strat" in bot "shop" messages; did you mean "start"?`,
		},
		{
			name: "empty message and block in messages",
			src: `bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "t"
  messages {
    end_button = " "
    start {}
  }
}`,
			want: `livechatd.hcl:7:18: end_button in bot "shop" messages must not be empty` + "\n" +
				`livechatd.hcl:8:5: "start" in bot "shop" messages is an attribute, not a block: write start = ...`,
		},
		{
			name: "duplicate config block",
			src: `bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "t"
  config {}
  config {}
}`,
			want: `livechatd.hcl:7:3: duplicate config block in bot "shop"; first defined at livechatd.hcl:6:3`,
		},
		{
			name: "labelled messages block",
			src: `bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "t"
  messages "fr" {}
}`,
			want: `livechatd.hcl:6:12: messages block takes no label: write messages { ... }`,
		},
		{
			name: "duplicate bot",
			src: `bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "t"
}

bot "shop" {}`,
			want: `livechatd.hcl:8:1: duplicate bot "shop"; first defined at livechatd.hcl:1:1`,
		},
		{
			name: "unpinned provider with require_checksums",
			src: `require_checksums = true
bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "t"
}`,
			want: `livechatd.hcl:3:3: bot "shop" uses provider "echo", which has no sha256 pin, and require_checksums = true; add plugin "echo" { sha256 = "..." }`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("livechatd.hcl", []byte(tt.src), env(nil))
			if got := errorText(t, err); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestAllErrorsReported checks that one load reports every problem of the
// file, in file order.
func TestAllErrorsReported(t *testing.T) {
	_, err := config.Load("testdata/errors.hcl", env(nil))
	got := errorText(t, err) + "\n"
	const golden = "testdata/errors.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("errors mismatch (-want +got), run with -update to accept:\n%s", diff)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(t.TempDir() + "/nope.hcl")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadFromDisk(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/livechatd.hcl"
	if err := os.WriteFile(path, []byte(`plugin_dir = "plugins"`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := dir + "/plugins"; f.PluginDir != want {
		t.Errorf("PluginDir = %q, want %q", f.PluginDir, want)
	}
}

func TestExampleConfig(t *testing.T) {
	f, err := config.Load("../examples/livechatd.hcl", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if demo, ok := f.Bot("demo"); !ok || demo.Provider != "gorgias" {
		t.Errorf(`bot "demo" = %+v, want the Gorgias one`, demo)
	}
	b, ok := f.Bot("echo")
	if !ok {
		t.Fatal(`no bot "echo"`)
	}
	if b.Provider != "echo" || b.WebhookToken.Value() == "" || f.AdminToken.Value() == "" {
		t.Errorf("unexpected bot %+v, admin token set: %v", b, !f.AdminToken.IsZero())
	}
	if f.PluginDir != "../bin/plugins" {
		t.Errorf("PluginDir = %q, want the repository's bin/plugins", f.PluginDir)
	}
	// The echo provider's schema (examples/echo-provider).
	cfg, diags := b.DecodeConfig(echoSchema)
	if diags.HasErrors() {
		t.Fatal(config.Format(diags))
	}
	if cfg.String("greeting") == "" || cfg.String("agent_name") != "Echo" {
		t.Errorf("config = %v", cfg)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	secrets := map[string]string{
		"ADMIN_TOKEN":         "s3cr3t-admin",
		"SHOP_CHANNEL_SECRET": "s3cr3t-channel",
		"SHOP_WEBHOOK_TOKEN":  "s3cr3t-webhook",
		"GORGIAS_API_KEY":     "s3cr3t-api",
		"DATABASE_URL":        "postgres://u:s3cr3t-pw@db/x",
	}
	check := func(t *testing.T, what, s string) {
		t.Helper()
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("%s shows a secret: %s", what, s)
		}
	}

	f, err := config.Load("testdata/full.hcl", env(secrets))
	if err != nil {
		t.Fatal(err)
	}
	pg, err := config.Load("testdata/postgres.hcl", env(secrets))
	if err != nil {
		t.Fatal(err)
	}
	if f.AdminToken.Value() != "s3cr3t-admin" || pg.Storage.DSN.Value() != secrets["DATABASE_URL"] {
		t.Fatal("Value does not return the secret")
	}
	for _, v := range []any{f, *f, f.Bots[0], &f.Bots[0], f.Bots, pg, pg.Storage, f.AdminToken} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			check(t, fmt.Sprintf("%s of %T", verb, v), fmt.Sprintf(verb, v))
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		check(t, fmt.Sprintf("JSON of %T", v), string(j))
	}
	if got := fmt.Sprint(f.AdminToken); got != "(sensitive)" {
		t.Errorf("Secret prints %q, want (sensitive)", got)
	}

	// Errors about secret attributes do not quote them either.
	src := `
admin_token = [env("ADMIN_TOKEN")]
storage "postgres" { dsn = { url = env("DATABASE_URL") } }
bot "shop" {
  provider       = "gorgias"
  bot_url        = "http://127.0.0.1:9000/events"
  channel        = "webchat"
  channel_secret = [env("SHOP_CHANNEL_SECRET")]
  webhook_token  = [env("SHOP_WEBHOOK_TOKEN")]
}`
	_, err = config.Parse("livechatd.hcl", []byte(src), env(secrets))
	msg := errorText(t, err)
	check(t, "Parse error", msg)
	if n := strings.Count(msg, "\n") + 1; n != 4 {
		t.Errorf("got %d errors, want 4:\n%s", n, msg)
	}

	// And neither do errors in config {} about sensitive attributes.
	src = `
bot "shop" {
  provider      = "gorgias"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "t"
  config {
    domain  = "acme"
    email   = "ops@acme.com"
    api_key = [env("GORGIAS_API_KEY")]
    timeout = env("GORGIAS_API_KEY")
  }
}`
	f, err = config.Parse("livechatd.hcl", []byte(src), env(secrets))
	if err != nil {
		t.Fatal(err)
	}
	_, diags := f.Bots[0].DecodeConfig(gorgiasSchema)
	msg = config.Format(diags)
	check(t, "DecodeConfig error", msg)
	if len(diags) != 2 {
		t.Errorf("got %d errors, want 2:\n%s", len(diags), msg)
	}
}

func TestFormat(t *testing.T) {
	r := hcl.Range{Filename: "a.hcl", Start: hcl.Pos{Line: 3, Column: 7}}
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "no position"},
		{Severity: hcl.DiagError, Summary: "broken", Detail: "on two\nlines", Subject: &r},
		{Severity: hcl.DiagWarning, Summary: "careful", Context: &r},
	}
	want := "no position\na.hcl:3:7: broken; on two lines\na.hcl:3:7: warning: careful"
	if got := config.Format(diags); got != want {
		t.Errorf("Format:\n got %q\nwant %q", got, want)
	}
	if got := config.Format(nil); got != "" {
		t.Errorf("Format(nil) = %q", got)
	}
}

// A null inside a list or map is an error at its attribute, never a panic:
// every list-valued key takes its elements as values.
func TestNullElements(t *testing.T) {
	bot := func(block string) string {
		return `bot "shop" {
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "hook"
  ` + block + `
}`
	}
	tests := []struct{ name, src, want string }{
		{"upload_types", `limits { upload_types = ["image/png", null] }`,
			`livechatd.hcl:1:25: upload_types in limits must be a list of strings, got a list`},
		{"holidays", bot(`hours {
    time_zone = "UTC"
    weekly    = { mon = ["09:00-18:00"] }
    holidays  = [null]
  }`), `livechatd.hcl:9:17: holidays in bot "shop" hours must be a list of strings, got a list`},
		{"weekly", bot(`hours {
    time_zone = "UTC"
    weekly    = { mon = null }
  }`), `livechatd.hcl:8:17: weekly in bot "shop" hours must be a map of lists of strings, got a map`},
		{"labels", bot(`csat {
    scale  = 2
    labels = ["bad", null]
  }`), `livechatd.hcl:8:14: labels in bot "shop" csat must be a list of strings, got a list`},
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
