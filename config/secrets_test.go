package config_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/sdk"
)

const secretsFile = `admin_token = env("ADMIN_TOKEN", "dev-admin-token")

bot "a" {
  provider       = "echo"
  bot_url        = "http://127.0.0.1:9000/events"
  channel        = "webchat"
  channel_secret = env("A_SECRET", "a-default-that-is-long-enough")
  webhook_token  = "short"
  config {
    api_key  = env("API_KEY", "sandbox-api-key")
    greeting = "dev-admin-token"
  }
}

bot "b" {
  provider       = "echo"
  bot_url        = "http://127.0.0.1:9000/events"
  channel        = "webchat"
  channel_secret = env("B_SECRET")
  webhook_token  = "4f0c9e1b7a2d4c68b3e5f1a9d0c7b2e6"
}
`

// TestSecrets: each secret attribute is listed with its place, the
// variable its value came from and whether env()'s default was used, and
// judged: published values, env() defaults and short values are weak.
func TestSecrets(t *testing.T) {
	f, err := config.Parse("livechatd.hcl", []byte(secretsFile), config.WithLookupEnv(lookup(map[string]string{
		"B_SECRET": "dev-channel-secret", // set, but to the example's value
	})))
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Where, Env, Pos, Weakness string
		EnvDefault                bool
	}
	rows := func(attrs []config.SecretAttr) []row {
		var out []row
		for _, s := range attrs {
			out = append(out, row{s.Where(), s.Env, fmt.Sprintf("%d:%d", s.Range.Start.Line, s.Range.Start.Column), s.Weakness(), s.EnvDefault})
		}
		return out
	}
	want := []row{
		{`admin_token`, "ADMIN_TOKEN", "1:1", "is a published example value", true},
		{`channel_secret in bot "a"`, "A_SECRET", "7:3", "is env()'s default, written in the file", true},
		{`webhook_token in bot "a"`, "", "8:3", "is shorter than 16 bytes", false},
		{`channel_secret in bot "b"`, "B_SECRET", "19:3", "is a published example value", false},
		{`webhook_token in bot "b"`, "", "20:3", "", false},
	}
	if diff := cmp.Diff(want, rows(f.Secrets())); diff != "" {
		t.Errorf("Secrets (-want +got):\n%s", diff)
	}

	a, _ := f.Bot("a")
	schema := sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "api_key", Type: sdk.String, Sensitive: true},
		{Name: "greeting", Type: sdk.String},
	}}
	if diff := cmp.Diff([]row{{`api_key in bot "a" config`, "API_KEY", "10:5", "is a published example value", true}}, rows(a.ConfigSecrets(schema))); diff != "" {
		t.Errorf("ConfigSecrets (-want +got):\n%s", diff)
	}
	// A platform's credential is the platform's: its length is not ours to judge.
	f2, err := config.Parse("livechatd.hcl", []byte(secretsFile), config.WithLookupEnv(lookup(map[string]string{"API_KEY": "k1", "B_SECRET": "x"})))
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := f2.Bot("a")
	if w := a2.ConfigSecrets(schema)[0].Weakness(); w != "" {
		t.Errorf("a short provider api_key: %q, want no weakness", w)
	}
}

func TestSecretFix(t *testing.T) {
	f, err := config.Parse("livechatd.hcl", []byte(secretsFile), config.WithLookupEnv(lookup(map[string]string{"B_SECRET": "x"})))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Secrets()
	for _, tc := range []struct {
		i    int
		want string
	}{
		{0, "set the environment variable ADMIN_TOKEN to a random value of at least 16 bytes, e.g. from `openssl rand -hex 32`"},
		{2, "set it to a random value of at least 16 bytes, e.g. from `openssl rand -hex 32`, preferably as env(\"NAME\") rather than in the file"},
	} {
		if got := s[tc.i].Fix(); got != tc.want {
			t.Errorf("Fix of %s = %q, want %q", s[tc.i].Where(), got, tc.want)
		}
	}
}

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}
