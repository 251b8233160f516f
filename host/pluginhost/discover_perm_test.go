package pluginhost_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/livechatd/livechatd/host/pluginhost"
)

// writePlugin writes a stand-in plugin binary with exactly mode (discovery
// only reads it).
func writePlugin(t *testing.T, dir, name string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, pluginhost.Prefix+name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // not subject to the umask
		t.Fatal(err)
	}
	return path
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(path, 0o700) }) // so that TempDir can clean up
}

// TestDiscoverRefusesWritableByOthers: a plugin binary anyone on the
// machine can write, or one in a directory anyone can write to (where a
// binary can be replaced or planted), is refused with the reason and the
// fix; a group-writable one is loaded with a warning.
func TestDiscoverRefusesWritableByOthers(t *testing.T) {
	dir := t.TempDir()
	chmod(t, dir, 0o755)
	writePlugin(t, dir, "private", 0o700)
	writePlugin(t, dir, "public", 0o755)
	writePlugin(t, dir, "world", 0o757)
	writePlugin(t, dir, "group", 0o775)

	cands, problems, err := pluginhost.Discover(dir, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]pluginhost.Candidate{}
	for _, c := range cands {
		got[c.Name] = c
	}
	for _, name := range []string{"private", "public", "group"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s was refused: %v", name, problems)
		}
	}
	if len(got["private"].Warnings)+len(got["public"].Warnings) != 0 {
		t.Errorf("warnings for safe files: %v %v", got["private"].Warnings, got["public"].Warnings)
	}
	if w := strings.Join(got["group"].Warnings, "; "); !strings.Contains(w, "group-writable") || !strings.Contains(w, "chmod g-w") {
		t.Errorf("group-writable plugin: warnings %q, want one saying group-writable and chmod g-w", w)
	}
	if len(problems) != 1 || problems[0].Name != "world" {
		t.Fatalf("problems = %v, want world refused", problems)
	}
	if msg := problems[0].Err.Error(); !strings.Contains(msg, "world-writable (mode 0757)") || !strings.Contains(msg, "chmod o-w") {
		t.Errorf("world-writable plugin: %q, want the mode and the fix", msg)
	}

	for _, tc := range []struct {
		name string
		mode os.FileMode
	}{{"world-writable", 0o777}, {"world-writable with the sticky bit", 0o777 | os.ModeSticky}} {
		t.Run(tc.name+" directory", func(t *testing.T) {
			chmod(t, dir, tc.mode)
			cands, problems, err := pluginhost.Discover(dir, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(cands) != 0 || len(problems) != 4 {
				t.Fatalf("in a %s directory: candidates %v, problems %v; want all 4 refused", tc.name, cands, problems)
			}
			for _, p := range problems {
				if msg := p.Err.Error(); !strings.Contains(msg, "plugin_dir") || !strings.Contains(msg, "world-writable") || !strings.Contains(msg, "chmod o-w "+dir) {
					t.Errorf("%s: %q, want plugin_dir named world-writable with the fix", p.Name, msg)
				}
			}
		})
	}
	t.Run("group-writable directory", func(t *testing.T) {
		chmod(t, dir, 0o775)
		cands, _, err := pluginhost.Discover(dir, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cands {
			if w := strings.Join(c.Warnings, "; "); !strings.Contains(w, "plugin_dir") || !strings.Contains(w, "group-writable") {
				t.Errorf("%s in a group-writable directory: warnings %q", c.Name, w)
			}
		}
	})
}

// TestDiscoverChecksWhereALinkLeads: the mode that counts is the binary's,
// not the link's, and a subdirectory the link leads into counts as well.
func TestDiscoverChecksWhereALinkLeads(t *testing.T) {
	dir := t.TempDir()
	chmod(t, dir, 0o755)
	sub := filepath.Join(dir, "versions")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	target := writePlugin(t, sub, "v1", 0o757)
	if err := os.Symlink(target, filepath.Join(dir, pluginhost.Prefix+"linked")); err != nil {
		t.Fatal(err)
	}
	_, problems, err := pluginhost.Discover(dir, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0].Name != "linked" || !strings.Contains(problems[0].Err.Error(), "world-writable") {
		t.Fatalf("problems = %v, want linked refused as world-writable", problems)
	}
	chmod(t, target, 0o755)
	chmod(t, sub, 0o777)
	_, problems, _ = pluginhost.Discover(dir, nil, false)
	if len(problems) != 1 || !strings.Contains(problems[0].Err.Error(), sub) {
		t.Fatalf("problems = %v, want linked refused for its world-writable directory %s", problems, sub)
	}
}

// A plugin that loads with a warning (group-writable) is logged as unsafe
// when the Manager loads it.
func TestLoadLogsUnsafePlugins(t *testing.T) {
	dir := t.TempDir()
	install(t, dir, echoBinary(t), "echo")
	path := filepath.Join(dir, pluginhost.Prefix+"echo")
	if err := os.Chmod(path, 0o775); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	start(t, pluginhost.Options{Dir: dir, Logger: hclog.New(&hclog.LoggerOptions{Output: lockedWriter{&mu, &logs}, Level: hclog.Warn})})
	mu.Lock()
	defer mu.Unlock()
	if out := logs.String(); !strings.Contains(out, "plugin loaded, but unsafe") || !strings.Contains(out, "group-writable") {
		t.Errorf("logs = %q, want a warning about the group-writable plugin", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
