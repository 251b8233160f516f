package config_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/sdk"
)

// echoSchema is examples/echo-provider's.
var echoSchema = sdk.Schema{Attributes: []sdk.Attribute{
	{Name: "greeting", Type: sdk.String, Required: true},
	{Name: "agent_name", Type: sdk.String, Default: "Echo"},
	{Name: "prefix", Type: sdk.String, Default: "echo: "},
}}

var gorgiasSchema = sdk.Schema{Attributes: []sdk.Attribute{
	{Name: "domain", Type: sdk.String},
	{Name: "base_url", Type: sdk.String},
	{Name: "email", Type: sdk.String, Required: true},
	{Name: "api_key", Type: sdk.String, Required: true, Sensitive: true},
	{Name: "timeout", Type: sdk.Duration, Sensitive: true},
}}

// allTypes has one attribute of each type, with defaults.
var allTypes = sdk.Schema{Attributes: []sdk.Attribute{
	{Name: "name", Type: sdk.String, Required: true},
	{Name: "retries", Type: sdk.Number, Default: 3},
	{Name: "verbose", Type: sdk.Bool, Default: false},
	{Name: "tags", Type: sdk.ListOfString, Default: []string{"a"}},
	{Name: "fields", Type: sdk.MapOfString, Default: map[string]string{"k": "v"}},
	{Name: "poll", Type: sdk.Duration, Default: "10s"},
	{Name: "ratio", Type: sdk.Number},
}}

// botWith returns a file with bot "shop" and the given lines after its
// header (line 1); the config block, if any, is among them.
func botWith(lines ...string) string {
	return "bot \"shop\" {\n" + strings.Join(lines, "\n") + `
  provider      = "echo"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = "t"
}`
}

func TestDecodeConfig(t *testing.T) {
	vars := map[string]string{"NAME": "from-env"}
	tests := []struct {
		name    string
		src     string
		schema  sdk.Schema
		want    sdk.Config
		wantErr string
	}{
		{
			name: "every type",
			src: botWith(
				"  config {",
				`    name    = "n"`,
				`    retries = 5`,
				`    verbose = true`,
				`    tags    = ["x", "y"]`,
				`    fields  = { a = "1", "b-c" = "2" }`,
				`    poll    = "1m30s"`,
				`    ratio   = 0.5`,
				"  }"),
			schema: allTypes,
			want: sdk.Config{
				"name": "n", "retries": 5.0, "verbose": true, "tags": []any{"x", "y"},
				"fields": map[string]any{"a": "1", "b-c": "2"}, "poll": "1m30s", "ratio": 0.5,
			},
		},
		{
			name:   "defaults",
			src:    botWith("  config {", `    name = "n"`, "  }"),
			schema: allTypes,
			want: sdk.Config{
				"name": "n", "retries": 3.0, "verbose": false, "tags": []any{"a"},
				"fields": map[string]any{"k": "v"}, "poll": "10s",
			},
		},
		{
			name:   "null takes the default",
			src:    botWith("  config {", `    name    = "n"`, `    retries = null`, "  }"),
			schema: allTypes,
			want: sdk.Config{
				"name": "n", "retries": 3.0, "verbose": false, "tags": []any{"a"},
				"fields": map[string]any{"k": "v"}, "poll": "10s",
			},
		},
		{
			name:   "env and conversions",
			src:    botWith("  config {", `    name    = env("NAME")`, `    retries = "7"`, `    tags    = [1, true]`, "  }"),
			schema: allTypes,
			want: sdk.Config{
				"name": "from-env", "retries": 7.0, "verbose": false, "tags": []any{"1", "true"},
				"fields": map[string]any{"k": "v"}, "poll": "10s",
			},
		},
		{
			name:   "empty schema, no block",
			src:    botWith(),
			schema: sdk.Schema{},
			want:   sdk.Config{},
		},
		{
			name:    "unknown attribute",
			src:     botWith("  config {", `    domian = "acme"`, `    email  = "e"`, `    api_key = "k"`, "  }"),
			schema:  gorgiasSchema,
			wantErr: `livechatd.hcl:3:5: unknown attribute "domian" in bot "shop" config; did you mean "domain"?`,
		},
		{
			name:    "unknown attribute, nothing close",
			src:     botWith("  config {", `    greeting = "hi"`, `    colour   = "blue"`, "  }"),
			schema:  echoSchema,
			wantErr: `livechatd.hcl:4:5: unknown attribute "colour" in bot "shop" config; accepted: agent_name, greeting, prefix`,
		},
		{
			name:    "missing required",
			src:     botWith("", "  config {", `    agent_name = "Bob"`, "  }"),
			schema:  echoSchema,
			wantErr: `livechatd.hcl:3:3: missing required attribute "greeting" in bot "shop" config`,
		},
		{
			name:    "missing required, no config block",
			src:     botWith(),
			schema:  echoSchema,
			wantErr: `livechatd.hcl:1:1: missing required attribute "greeting" in bot "shop" config`,
		},
		{
			name:    "required set to null",
			src:     botWith("  config {", `    greeting = null`, "  }"),
			schema:  echoSchema,
			wantErr: `livechatd.hcl:3:5: missing required attribute "greeting" in bot "shop" config`,
		},
		{
			name:   "wrong types",
			src:    botWith("  config {", `    name    = ["n"]`, `    verbose = "yes"`, `    fields  = ["a"]`, `    retries = "many"`, "  }"),
			schema: allTypes,
			wantErr: strings.Join([]string{
				`livechatd.hcl:3:15: name in bot "shop" config must be a string, got a list`,
				`livechatd.hcl:4:15: verbose in bot "shop" config must be a bool, got a string`,
				`livechatd.hcl:5:15: fields in bot "shop" config must be a map of strings, got a list`,
				`livechatd.hcl:6:15: retries in bot "shop" config must be a number, got a string`,
			}, "\n"),
		},
		{
			name:    "number beyond float64",
			src:     botWith("  config {", `    name  = "n"`, `    ratio = 1e320`, "  }"),
			schema:  allTypes,
			wantErr: `livechatd.hcl:4:13: ratio in bot "shop" config holds a number out of range`,
		},
		{
			name:    "bad duration",
			src:     botWith("  config {", `    name = "n"`, `    poll = "often"`, "  }"),
			schema:  allTypes,
			wantErr: `livechatd.hcl:4:12: poll in bot "shop" config must be a duration such as 30s, 5m or 2h, got "often"`,
		},
		{
			name:    "bad sensitive duration",
			src:     botWith("  config {", `    email   = "e"`, `    api_key = "k"`, `    timeout = "hunter2"`, "  }"),
			schema:  gorgiasSchema,
			wantErr: `livechatd.hcl:5:15: timeout in bot "shop" config must be a duration such as 30s, 5m or 2h`,
		},
		{
			name:    "env missing",
			src:     botWith("  config {", `    greeting = env("GREETING")`, "  }"),
			schema:  echoSchema,
			wantErr: `livechatd.hcl:3:16: environment variable "GREETING" is not set`,
		},
		{
			name:    "block in config",
			src:     botWith("  config {", `    greeting = "hi"`, `    auth {}`, "  }"),
			schema:  echoSchema,
			wantErr: `livechatd.hcl:4:5: unexpected block "auth" in bot "shop" config; provider settings are attributes: name = value`,
		},
		{
			name:    "unknown type in the schema",
			src:     botWith("  config {", `    x = 1`, "  }"),
			schema:  sdk.Schema{Attributes: []sdk.Attribute{{Name: "x", Type: "set(number)"}}},
			wantErr: `livechatd.hcl:3:9: x in bot "shop" config has the type "set(number)" in the provider's schema, which the host does not know`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := config.Parse("livechatd.hcl", []byte(tt.src), env(vars))
			if err != nil {
				t.Fatal(err)
			}
			cfg, diags := f.Bots[0].DecodeConfig(tt.schema)
			if tt.wantErr != "" {
				if got := config.Format(diags); got != tt.wantErr {
					t.Errorf("errors:\n got %s\nwant %s", got, tt.wantErr)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(config.Format(diags))
			}
			if diff := cmp.Diff(tt.want, cfg); diff != "" {
				t.Errorf("config mismatch (-want +got):\n%s", diff)
			}
			// What the plugin will check on its side agrees.
			if ds := tt.schema.Validate(cfg); ds.HasErrors() {
				t.Errorf("schema.Validate: %v", ds.Err())
			}
		})
	}
}

func TestConfigDiagnostics(t *testing.T) {
	src := botWith("  config {", `    greeting = "hi"`, `    prefix   = ">"`, "  }")
	f, err := config.Parse("livechatd.hcl", []byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	noBlock, err := config.Parse("livechatd.hcl", []byte(botWith()), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		bot  *config.Bot
		diag sdk.Diagnostic
		want string
	}{
		{
			name: "at the attribute",
			bot:  &f.Bots[0],
			diag: sdk.Errorf("prefix", "prefix must end with a space"),
			want: `livechatd.hcl:4:5: bot "shop" config: prefix must end with a space`,
		},
		{
			name: "attribute not named in the summary",
			bot:  &f.Bots[0],
			diag: sdk.Diagnostic{Severity: sdk.SeverityError, Attribute: "greeting", Summary: "too short", Detail: "say more"},
			want: `livechatd.hcl:3:5: bot "shop" config: attribute "greeting": too short; say more`,
		},
		{
			name: "absent attribute: the config block",
			bot:  &f.Bots[0],
			diag: sdk.Errorf("agent_name", "agent_name is required with this prefix"),
			want: `livechatd.hcl:2:3: bot "shop" config: agent_name is required with this prefix`,
		},
		{
			name: "no attribute, warning",
			bot:  &f.Bots[0],
			diag: sdk.Diagnostic{Severity: sdk.SeverityWarning, Summary: "the platform is slow today"},
			want: `livechatd.hcl:2:3: warning: bot "shop" config: the platform is slow today`,
		},
		{
			name: "no config block: the bot block",
			bot:  &noBlock.Bots[0],
			diag: sdk.Errorf("greeting", "greeting is required"),
			want: `livechatd.hcl:1:1: bot "shop" config: greeting is required`,
		},
		{
			name: "a bot built by hand",
			bot:  &config.Bot{Name: "x"},
			diag: sdk.Errorf("greeting", "greeting is required"),
			want: `bot "x" config: greeting is required`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := config.Format(tt.bot.ConfigDiagnostics(sdk.Diagnostics{tt.diag}))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
