package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `livechatd plugins` is what an operator or a deploy script runs to check
// the plugin directory: it prints every plugin, and its exit code says
// whether all of them started (0) or not (1), so a script need not parse
// the table.
func TestPluginsExitCode(t *testing.T) {
	t.Run("all started", func(t *testing.T) {
		e := newEnv(t)
		e.writeConfig(t, "http://127.0.0.1:9/events", "http://127.0.0.1:9/deliver", "30m", "")
		out, errOut, code := run(t, "plugins", "-config", e.config)
		if code != 0 || errOut != "" {
			t.Fatalf("plugins = exit %d, stderr %q; want 0 and nothing\n%s", code, errOut, out)
		}
	})
	for _, asJSON := range []bool{false, true} {
		name := "one failed"
		args := []string{"plugins"}
		if asJSON {
			name += " json"
			args = append(args, "-json")
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			if err := os.WriteFile(filepath.Join(e.pluginDir, "livechat-provider-broken"), []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			e.writeConfig(t, "http://127.0.0.1:9/events", "http://127.0.0.1:9/deliver", "30m", "")
			out, errOut, code := run(t, append(args, "-config", e.config)...)
			if code != 1 {
				t.Fatalf("plugins with a failed plugin = exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			// The whole list is still printed, the failed one with its reason.
			if asJSON {
				var got struct {
					Plugins []struct{ Name, Status, Reason string }
				}
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("plugins -json: %v\n%s", err, out)
				}
				if len(got.Plugins) != 2 || got.Plugins[0].Name != "broken" || got.Plugins[0].Status != "failed" || got.Plugins[0].Reason == "" || got.Plugins[1].Status != "ready" {
					t.Errorf("plugins -json = %+v", got.Plugins)
				}
			} else if !strings.Contains(out, "broken") || !strings.Contains(out, "failed") || !strings.Contains(out, "echo") {
				t.Errorf("the table is not printed in full:\n%s", out)
			}
			if want := "1 of 2 plugins failed to start: broken"; !strings.Contains(errOut, want) {
				t.Errorf("stderr = %q, want it to say %q", errOut, want)
			}
		})
	}
}
