package gorgias

import (
	"context"
	"os"
	"testing"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

func TestValidateConfig(t *testing.T) {
	valid := sdk.Config{"domain": "acme", "email": testEmail, "api_key": testKey}
	with := func(kv ...any) sdk.Config {
		c := sdk.Config{}
		for k, v := range valid {
			c[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	tests := []struct {
		name     string
		cfg      sdk.Config
		wantAttr string // the attribute the error names; "" for valid
		wantBase string
	}{
		{name: "domain", cfg: valid, wantBase: "https://acme.gorgias.com/api/"},
		{name: "domain in capitals", cfg: with("domain", "Acme-Shop"), wantBase: "https://acme-shop.gorgias.com/api/"},
		{name: "base_url", cfg: with("domain", nil, "base_url", "http://127.0.0.1:7000/api/"), wantBase: "http://127.0.0.1:7000/api/"},
		{name: "base_url, bare host", cfg: with("domain", nil, "base_url", "http://127.0.0.1:7000"), wantBase: "http://127.0.0.1:7000/api/"},
		{name: "base_url, no trailing slash", cfg: with("domain", nil, "base_url", "https://proxy.example/gorgias/api"), wantBase: "https://proxy.example/gorgias/api/"},
		{name: "neither", cfg: with("domain", nil), wantAttr: "domain"},
		{name: "both", cfg: with("base_url", "http://127.0.0.1:7000/api/"), wantAttr: "base_url"},
		{name: "domain as a URL", cfg: with("domain", "https://acme.gorgias.com"), wantAttr: "domain"},
		{name: "domain with the suffix", cfg: with("domain", "acme.gorgias.com"), wantAttr: "domain"},
		{name: "base_url not http", cfg: with("domain", nil, "base_url", "ftp://x/api/"), wantAttr: "base_url"},
		{name: "base_url with credentials", cfg: with("domain", nil, "base_url", "https://u:p@x/api/"), wantAttr: "base_url"},
		{name: "base_url relative", cfg: with("domain", nil, "base_url", "/api/"), wantAttr: "base_url"},
		{name: "email", cfg: with("email", "ops"), wantAttr: "email"},
		{name: "api_key blank", cfg: with("api_key", "  "), wantAttr: "api_key"},
		{name: "empty tag", cfg: with("tags", []any{"livechat", ""}), wantAttr: "tags"},
		{name: "no tags is fine", cfg: with("tags", []any{})},
		{name: "no_email_domain", cfg: with("no_email_domain", "x@y"), wantAttr: "no_email_domain"},
		{name: "timeout", cfg: with("timeout", "-1s"), wantAttr: "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			diags := New(WithLogger(discard{})).ValidateConfig(context.Background(), "shop", tc.cfg)
			if tc.wantAttr == "" {
				if diags.HasErrors() {
					t.Fatalf("valid config refused: %v", diags)
				}
				_, base, _ := decodeConfig(tc.cfg)
				if tc.wantBase != "" && base.String() != tc.wantBase {
					t.Errorf("base URL %s, want %s", base, tc.wantBase)
				}
				return
			}
			found := false
			for _, d := range diags {
				found = found || (d.Severity == sdk.SeverityError && d.Attribute == tc.wantAttr)
			}
			if !found {
				t.Errorf("diagnostics %v do not name %q", diags, tc.wantAttr)
			}
			err := New(WithLogger(discard{})).Configure(context.Background(), "shop", tc.cfg, nil)
			checkKind(t, err, sdk.KindInvalid)
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, _, diags := decodeConfig(sdk.Config{"domain": "acme", "email": testEmail, "api_key": testKey})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if len(cfg.Tags) != 1 || cfg.Tags[0] != "livechat" || !cfg.CloseOnEnd || !cfg.CloseOnExpiry ||
		cfg.NoEmailDomain != "livechat.invalid" || cfg.Subject != "Live chat with {name}" || cfg.ExpiryNote == "" {
		t.Errorf("defaults %+v", cfg)
	}
}
