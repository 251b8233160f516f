package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/sdk/sdktest"
)

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

func writeConfig(t *testing.T, json string) string {
	path := filepath.Join(t.TempDir(), "bot.json")
	if err := os.WriteFile(path, []byte(json), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheck(t *testing.T) {
	desk := sdktest.Install(t, builds.Binary(t, "../../testdata/desk"), t.TempDir(), "desk")
	echo := sdktest.Install(t, builds.Binary(t, "../../../examples/echo-provider"), t.TempDir(), "echo")
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // lines the report shows
		stderr   string
		noStdout []string
	}{
		{name: "echo passes", args: []string{"-config", writeConfig(t, `{"greeting": "Hi"}`), echo}, code: 0,
			stdout: []string{"pass by-hand", "pass shutdown", "n/a  send-order", "needs a Platform adapter", "0 failed"}},
		{name: "a Shutdown that ignores its deadline", args: []string{"-shutdown-deadline", "500ms",
			"-config", writeConfig(t, `{"base_url": "http://127.0.0.1:9", "token": "desk-secret-token", "faults": ["ignore-shutdown"]}`), desk},
			code: 1, stdout: []string{"FAIL shutdown", "return when its context is done", "1 failed"}, noStdout: []string{"desk-secret-token"}},
		{name: "a config without a required attribute", args: []string{"-config", writeConfig(t, `{"base_url": "http://127.0.0.1:9"}`), desk},
			code: 1, stdout: []string{"FAIL config-valid", "must accept the same config"}},
		{name: "no config", args: []string{desk}, code: 2, stderr: "usage: livechat-plugin-check"},
		{name: "config not JSON", args: []string{"-config", writeConfig(t, `greeting = "Hi"`), desk}, code: 2, stderr: "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, stdout.String())
				}
			}
			for _, bad := range tc.noStdout {
				if strings.Contains(stdout.String(), bad) {
					t.Errorf("report shows %q:\n%s", bad, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
		})
	}
}
