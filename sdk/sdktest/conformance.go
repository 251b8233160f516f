package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// Run is Conformance without the report: the checks a plugin's tests have
// run since before the suite took a Platform.
func Run(t *testing.T, s Suite) {
	t.Helper()
	Conformance(t, s)
}

// basics: the process, Info and config rules; it leaves r.current
// launched and configured for bot "conformance" on success.
func (r *suiteRun) basics() {
	s := r.s
	r.run(CheckByHand, "", func(c *check) {
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, s.Binary)
		cmd.Env = []string{}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ctx.Err() != nil {
			c.fix("run by hand (without the handshake) it waited: call sdk.Serve from main, which explains itself and exits")
			return
		}
		if err == nil {
			c.fix("run by hand it exited 0: it must exit with an error (sdk.Serve does)")
		}
		if stdout.Len() != 0 {
			c.fix("run by hand it printed %q on stdout: print nothing on stdout, which carries the go-plugin handshake", stdout.String())
		}
		if n := strings.Count(strings.TrimSpace(stderr.String()), "\n"); n != 0 || stderr.Len() == 0 {
			c.fix("run by hand it printed %q on stderr; it must print one line saying what it is (sdk.Serve does)", stderr.String())
		}
	})

	var described sdk.Info
	r.run(CheckDescribe, "", func(c *check) {
		out, err := exec.Command(s.Binary, "--describe").Output()
		if err != nil {
			c.fix("--describe failed (%v): let sdk.Serve handle the flag", err)
			return
		}
		if err := json.Unmarshal(out, &described); err != nil {
			c.fix("--describe printed no JSON Info (%v): print nothing else on stdout", err)
			return
		}
		if described.Name != r.name {
			c.fix("--describe says name %q but the binary is named for %q: make Info.Name match livechat-provider-<name>", described.Name, r.name)
		}
		if !slices.Contains(described.ProtocolVersions, sdk.ProtocolVersion) {
			c.fix("protocol versions %v lack %d: build against this SDK and serve with sdk.Serve", described.ProtocolVersions, sdk.ProtocolVersion)
		}
	})

	var launchErr error
	r.run(CheckInfo, "", func(c *check) {
		if launchErr = r.launch(); launchErr != nil {
			c.fix("livechatd could not launch it: %v", launchErr)
			return
		}
		p := r.current
		if p.Info.Name != described.Name || p.Info.Version != described.Version ||
			len(p.Info.Schema.Attributes) != len(described.Schema.Attributes) {
			c.fix("Info over gRPC (%s %s) differs from --describe (%s %s): give sdk.Serve one static Info", p.Info.Name, p.Info.Version, described.Name, described.Version)
		}
	})
	if launchErr != nil {
		return
	}
	ctx, cancel := r.callCtx()
	defer cancel()
	p := r.current
	r.run(CheckConfigValid, "", func(c *check) {
		cfg := r.config("conformance")
		for i := 0; i < 2; i++ {
			diags, err := p.Configure(ctx, "conformance", cfg)
			if err != nil || diags.HasErrors() {
				c.fix("Configure #%d of a valid config failed (%v %v): Configure is called again after every plugin restart and must accept the same config", i+1, diags, err)
				return
			}
		}
		if diags, err := p.ValidateConfig(ctx, "conformance", cfg); err != nil || diags.HasErrors() {
			c.fix("ValidateConfig refused a config Configure accepts (%v %v): check the same rules in both", diags, err)
		}
	})
	r.run(CheckConfigRefused, "", func(c *check) {
		cases := map[string]sdk.Config{}
		cfg := r.config("refused")
		for _, a := range p.Info.Schema.Attributes {
			if a.Required {
				cases[a.Name] = without(cfg, a.Name)
			}
		}
		unknown := "not_an_attribute_of_" + r.name
		cases[unknown] = with(cfg, unknown, "x")
		for attr, cfg := range cases {
			diags, err := p.Configure(ctx, "refused", cfg)
			if err != nil {
				c.fix("a config without or with an unknown %q made Configure fail (%v): answer with a diagnostic naming the attribute", attr, err)
				continue
			}
			if !names(diags, attr) {
				c.fix("the diagnostics %v for a config without or with an unknown %q do not name it: set Diagnostic.Attribute", diags, attr)
			}
		}
	})
	r.run(CheckEmptyWebhook, "", func(c *check) {
		_, err := p.HandleWebhook(ctx, sdk.WebhookRequest{Bot: "conformance", Method: "POST", Path: "/v1/livechat/" + r.name + "/receive"})
		if err != nil && sdk.KindOf(err) == sdk.KindUnknown {
			c.fix("an empty webhook gave an unclassified error (%v): refuse bad requests with sdk.Permanent", err)
		}
		if _, err := p.RemoteProvider.Info(ctx); err != nil {
			c.fix("the plugin did not survive an empty webhook (%v): never panic on a platform's request", err)
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
