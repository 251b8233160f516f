// Package sdktest tests livechatd provider plugins the way livechatd runs
// them: it builds the plugin binary, launches it through go-plugin with the
// host's settings (AutoMTLS, gRPC only, no host environment), plays the
// host's side (a recording Host), and judges it with a conformance suite.
//
// The suite (Conformance in a Go test, Check for a Report, the
// livechat-plugin-check command) drives a provider's whole lifecycle —
// sessions started, messages sent and retried (also across a restart),
// agent replies, notes and closings, webhooks replayed and with a wrong
// token, platform errors, many bots at once, Shutdown, stdout — against the
// author's fake platform, through a Platform adapter of a few methods, and
// says for each failed check what to fix.
package sdktest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Builder compiles plugin main packages once per test binary and hands out
// the result. Make one in TestMain with NewBuilder and Close it after m.Run.
type Builder struct {
	dir  string
	mu   sync.Mutex
	bins map[string]string
}

// NewBuilder returns a Builder writing into a new temporary directory.
func NewBuilder() (*Builder, error) {
	dir, err := os.MkdirTemp("", "sdktest-build-")
	if err != nil {
		return nil, err
	}
	return &Builder{dir: dir, bins: map[string]string{}}, nil
}

// RunMain runs a test binary's tests with a Builder in *b, removed
// afterwards, and returns the exit code. Call it from TestMain:
//
//	var builds *sdktest.Builder
//
//	func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }
func RunMain(m *testing.M, b **Builder) int {
	builder, err := NewBuilder()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sdktest:", err)
		return 1
	}
	*b = builder
	defer builder.Close()
	return m.Run()
}

// Close removes the built binaries.
func (b *Builder) Close() error { return os.RemoveAll(b.dir) }

// Binary builds pkg (an import path or a ./relative directory) once and
// returns the binary's path.
func (b *Builder) Binary(t testing.TB, pkg string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if bin, ok := b.bins[pkg]; ok {
		return bin
	}
	bin := filepath.Join(b.dir, strings.NewReplacer("/", "_", ".", "_").Replace(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	b.bins[pkg] = bin
	return bin
}

// Install copies the binary src into dir as livechat-provider-<name>, the
// way an operator drops a plugin into plugin_dir, and returns its path.
func Install(t testing.TB, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "livechat-provider-"+name)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}
