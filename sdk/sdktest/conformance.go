package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// Suite describes a plugin binary for the conformance checks.
type Suite struct {
	// Binary is the built plugin, named livechat-provider-<name>.
	Binary string
	// Config is a valid config block for one bot. Values of sensitive
	// attributes in it must never show up in the plugin's output.
	Config sdk.Config
}

// Run checks the rules every provider plugin must keep:
//   - run by hand it prints one line on stderr, nothing on stdout, and exits
//     with an error instead of waiting for a handshake;
//   - --describe prints its Info as JSON, the same Info it gives the host,
//     with a name matching the binary's and protocol version 1;
//   - a valid config is accepted, twice (Configure is re-run after restarts);
//   - a config missing any required attribute, or with an unknown one, is
//     refused with a diagnostic naming that attribute;
//   - an empty webhook gets an answer or a classified error, and the
//     process survives it;
//   - values of sensitive attributes never appear in its logs.
func Run(t *testing.T, s Suite) {
	t.Helper()
	name := strings.TrimPrefix(filepath.Base(s.Binary), "livechat-provider-")
	if name == filepath.Base(s.Binary) {
		t.Fatalf("%s: a plugin binary must be named livechat-provider-<name>", s.Binary)
	}

	t.Run("by hand", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, s.Binary)
		cmd.Env = []string{}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ctx.Err() != nil {
			t.Fatal("run without the handshake it waited instead of explaining itself")
		}
		if err == nil {
			t.Error("run by hand it exited 0; it must exit with an error")
		}
		if stdout.Len() != 0 {
			t.Errorf("run by hand it printed on stdout: %q", stdout.String())
		}
		if n := strings.Count(strings.TrimSpace(stderr.String()), "\n"); n != 0 || stderr.Len() == 0 {
			t.Errorf("run by hand it printed %q; want one line", stderr.String())
		}
	})

	var described sdk.Info
	t.Run("describe", func(t *testing.T) {
		out, err := exec.Command(s.Binary, "--describe").Output()
		if err != nil {
			t.Fatalf("--describe: %v", err)
		}
		if err := json.Unmarshal(out, &described); err != nil {
			t.Fatalf("--describe printed no JSON Info: %v\n%s", err, out)
		}
		if described.Name != name {
			t.Errorf("--describe says name %q; the binary is named for %q", described.Name, name)
		}
		if !slices.Contains(described.ProtocolVersions, sdk.ProtocolVersion) {
			t.Errorf("protocol versions %v lack %d", described.ProtocolVersions, sdk.ProtocolVersion)
		}
	})

	p := Launch(t, s.Binary)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("info", func(t *testing.T) {
		if p.Info.Name != described.Name || p.Info.Version != described.Version ||
			len(p.Info.Schema.Attributes) != len(described.Schema.Attributes) {
			t.Errorf("Info over gRPC %+v differs from --describe %+v", p.Info, described)
		}
	})

	t.Run("valid config", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			diags, err := p.Configure(ctx, "conformance", s.Config)
			if err != nil || diags.HasErrors() {
				t.Fatalf("Configure #%d of a valid config: %v %v", i+1, diags, err)
			}
		}
		diags, err := p.ValidateConfig(ctx, "conformance", s.Config)
		if err != nil || diags.HasErrors() {
			t.Errorf("ValidateConfig of a valid config: %v %v", diags, err)
		}
	})

	t.Run("refused config", func(t *testing.T) {
		cases := map[string]sdk.Config{}
		for _, a := range p.Info.Schema.Attributes {
			if a.Required {
				cases["missing "+a.Name] = without(s.Config, a.Name)
			}
		}
		unknown := "not_an_attribute_of_" + name
		cases["unknown "+unknown] = with(s.Config, unknown, "x")
		for label, cfg := range cases {
			attr := label[strings.IndexByte(label, ' ')+1:]
			diags, err := p.Configure(ctx, "refused", cfg)
			if err != nil {
				t.Errorf("%s: Configure failed (%v) instead of answering with diagnostics", label, err)
				continue
			}
			if !names(diags, attr) {
				t.Errorf("%s: diagnostics %v do not name %q", label, diags, attr)
			}
		}
	})

	t.Run("empty webhook", func(t *testing.T) {
		_, err := p.HandleWebhook(ctx, sdk.WebhookRequest{Bot: "conformance", Method: "POST", Path: "/v1/livechat/" + name + "/receive"})
		if err != nil && sdk.KindOf(err) == sdk.KindUnknown {
			t.Errorf("an empty webhook gave an unclassified error: %v", err)
		}
		if _, err := p.RemoteProvider.Info(ctx); err != nil {
			t.Errorf("the plugin did not survive an empty webhook: %v", err)
		}
	})

	t.Run("secrets stay secret", func(t *testing.T) {
		logs := p.Stderr()
		for _, a := range p.Info.Schema.Attributes {
			v, ok := s.Config[a.Name].(string)
			if a.Sensitive && ok && len(v) >= 4 && strings.Contains(logs, v) {
				t.Errorf("the value of sensitive attribute %q appears in the plugin's logs", a.Name)
			}
		}
	})
}

func names(diags sdk.Diagnostics, attr string) bool {
	for _, d := range diags {
		if d.Severity == sdk.SeverityError && d.Attribute == attr {
			return true
		}
	}
	return false
}

func without(c sdk.Config, key string) sdk.Config {
	out := sdk.Config{}
	for k, v := range c {
		if k != key {
			out[k] = v
		}
	}
	return out
}

func with(c sdk.Config, key string, v any) sdk.Config {
	out := without(c, key)
	out[key] = v
	return out
}
