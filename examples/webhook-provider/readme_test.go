package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The author's guide, whose code blocks are this example's files.
const guide = "../../sdk/README.md"

// readmeFiles reads the files the guide tells an author to write: each
// code block right after a line "<!-- file: NAME -->". Blocks of one file
// follow each other in the file, a blank line between them.
func readmeFiles(t *testing.T) (files map[string]string, text string) {
	t.Helper()
	raw, err := os.ReadFile(guide)
	if err != nil {
		t.Fatalf("the author's guide: %v", err)
	}
	text = string(raw)
	marker := regexp.MustCompile(`^<!-- file: (\S+) -->$`)
	files = map[string]string{}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		m := marker.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		i++
		for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
			i++
		}
		if i == len(lines) || !strings.HasPrefix(lines[i], "```") {
			t.Fatalf("%s:%d: %q is not followed by a code block", guide, i, m[0])
		}
		var block strings.Builder
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			block.WriteString(lines[i] + "\n")
		}
		if i == len(lines) {
			t.Fatalf("%s: the code block of %s never ends", guide, m[1])
		}
		if files[m[1]] != "" {
			files[m[1]] += "\n"
		}
		files[m[1]] += block.String()
	}
	return files, text
}

// TestReadmeIsTheExample: the guide's code is this example, byte for
// byte, so what authors copy is what these tests build and judge.
func TestReadmeIsTheExample(t *testing.T) {
	files, _ := readmeFiles(t)
	for _, name := range []string{"main.go", "fake_test.go", "conformance_test.go"} {
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), files[name]); diff != "" {
			t.Errorf("%s's blocks of %s differ from examples/webhook-provider/%s: change both (-example +guide):\n%s", guide, name, name, diff)
		}
	}
	if files["livechatd.hcl"] == "" {
		t.Errorf("%s has no <!-- file: livechatd.hcl --> block", guide)
	}
}

// TestReadmeFromEmptyFolder follows the guide as an author would, in a new
// folder outside this repository: go mod init, the files it shows, go
// test (the conformance suite), go build; then a livechatd built from this
// repository validates the guide's config against the plugin, loads the
// plugin, and prints the webhook the plugin describes. The one departure:
// before go get, go.mod points the SDK's module at this repository (a
// replace directive) and go.sum holds the repository's checksums, so that
// go get finds everything in the module cache and needs no network.
func TestReadmeFromEmptyFolder(t *testing.T) {
	files, text := readmeFiles(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{
		"go mod init example.com/livechat-provider-helpdesk",
		"go get github.com/livechatd/livechatd/sdk",
		"go test ./...",
		"go build -o livechat-provider-helpdesk .",
		"livechatd validate -config livechatd.hcl",
		"livechatd plugins -config livechatd.hcl",
		"livechatd webhook-url -config livechatd.hcl -bot support",
	} {
		if !strings.Contains(text, step) {
			t.Errorf("%s no longer says %q, which this test does", guide, step)
		}
	}

	dir, err := os.MkdirTemp("", "livechat-provider-helpdesk-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if rel, err := filepath.Rel(root, dir); err != nil || !strings.HasPrefix(rel, "..") {
		t.Fatalf("%s is inside the repository %s", dir, root)
	}
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
	run := func(dir string, timeout time.Duration, name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out.String())
		}
		return out.String()
	}

	run(dir, time.Minute, "go", "mod", "init", "example.com/livechat-provider-helpdesk")
	run(dir, time.Minute, "go", "mod", "edit",
		"-require=github.com/livechatd/livechatd@v0.0.0-00010101000000-000000000000",
		"-replace=github.com/livechatd/livechatd="+root)
	// The checksums go get would have fetched, from this repository.
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "go.sum"), string(sum))
	for _, name := range []string{"main.go", "fake_test.go", "conformance_test.go"} {
		if files[name] == "" {
			t.Fatalf("%s shows no %s", guide, name)
		}
		write(t, filepath.Join(dir, name), files[name])
	}
	run(dir, 3*time.Minute, "go", "get", "github.com/livechatd/livechatd/sdk")
	out := run(dir, 8*time.Minute, "go", "test", "-count=1", "-v", "./...")
	if !strings.Contains(out, "--- PASS: TestConformance") || strings.Contains(out, "--- FAIL") {
		t.Fatalf("the conformance suite did not pass in %s:\n%s", dir, out)
	}
	run(dir, 3*time.Minute, "go", "build", "-o", "livechat-provider-helpdesk", ".")

	livechatd := filepath.Join(dir, "livechatd")
	run(root, 5*time.Minute, "go", "build", "-o", livechatd, "./host/cmd/livechatd")
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "livechat-provider-helpdesk"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "livechat-provider-helpdesk"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if files["livechatd.hcl"] == "" {
		t.Fatalf("%s shows no livechatd.hcl", guide)
	}
	write(t, filepath.Join(dir, "livechatd.hcl"), files["livechatd.hcl"])
	env = append(env,
		"LIVECHAT_ADMIN_TOKEN="+strings.Repeat("a", 32),
		"SUPPORT_WEBHOOK_TOKEN="+strings.Repeat("w", 32),
		"HELPDESK_API_TOKEN="+strings.Repeat("k", 32),
		"HELPDESK_WEBHOOK_SECRET="+strings.Repeat("s", 32))

	out = run(dir, time.Minute, livechatd, "validate", "-config", "livechatd.hcl")
	if !strings.Contains(out, "ok (1 bots)") {
		t.Errorf("livechatd validate -config livechatd.hcl:\n%s", out)
	}
	out = run(dir, time.Minute, livechatd, "plugins", "-config", "livechatd.hcl")
	if !regexp.MustCompile(`(?m)^helpdesk\s+0\.1\.0\s+1\s+[0-9a-f]{64}\s+webhook,close_ticket,read_session\s+ok$`).MatchString(out) {
		t.Errorf("livechatd plugins does not list helpdesk as ok:\n%s", out)
	}
	out = run(dir, time.Minute, livechatd, "webhook-url", "-config", "livechatd.hcl", "-bot", "support")
	for _, want := range []string{"/v1/livechat/helpdesk/receive", "https://acme.helpdesk.example/settings/webhooks", "message.created"} {
		if !strings.Contains(out, want) {
			t.Errorf("livechatd webhook-url lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{strings.Repeat("k", 32), strings.Repeat("s", 32)} {
		if strings.Contains(out, secret) {
			t.Errorf("livechatd webhook-url shows a secret:\n%s", out)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(fmt.Errorf("write %s: %w", path, err))
	}
}
