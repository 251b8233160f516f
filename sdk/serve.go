package sdk

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

var (
	loggerOnce sync.Once
	logger     hclog.Logger
)

// Logger is the plugin's logger: hclog JSON lines on stderr, which the host
// reads and re-logs under the plugin's name. Nothing may go to stdout, which
// carries the go-plugin handshake.
func Logger() hclog.Logger {
	loggerOnce.Do(func() {
		logger = hclog.New(&hclog.LoggerOptions{
			Level:      hclog.Trace, // the host filters by its own level
			Output:     os.Stderr,
			JSONFormat: true,
		})
	})
	return logger
}

// Serve runs the provider as a livechatd plugin; call it from main. It never
// returns when launched by livechatd. Run by hand, it prints a one-line
// explanation and exits 1; with --describe it prints Info as JSON and exits 0.
func Serve(info Info, p Provider) {
	os.Exit(serve(info, p, os.Args, os.Getenv, os.Stdout, os.Stderr))
}

// serve is Serve without the process: it returns the exit code when it does
// not hand over to go-plugin.
func serve(info Info, p Provider, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	info.ProtocolVersions = []int{ProtocolVersion}
	info = withImplied(info, p)
	if err := info.validate(); err != nil {
		fmt.Fprintf(stderr, "livechat provider plugin: invalid Info: %v\n", err)
		return 2
	}
	if slices.Contains(args[1:], "--describe") || slices.Contains(args[1:], "-describe") {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(info); err != nil {
			fmt.Fprintf(stderr, "describe: %v\n", err)
			return 1
		}
		return 0
	}
	if getenv(Handshake.MagicCookieKey) != Handshake.MagicCookieValue {
		fmt.Fprintf(stderr, "%s is a livechatd provider plugin (%s %s, protocol %d): put it in livechatd's plugin_dir; run it with --describe to see its config schema.\n",
			filepath.Base(args[0]), info.Name, info.Version, ProtocolVersion)
		return 1
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {pluginName: &grpcPlugin{info: info, provider: p}},
		},
		GRPCServer: pluginGRPCServer(Logger()),
		Logger:     Logger(),
	})
	return 0
}

func (i Info) validate() error {
	if i.Name == "" {
		return fmt.Errorf("name is empty")
	}
	seen := map[string]bool{}
	for _, a := range i.Schema.Attributes {
		if a.Name == "" {
			return fmt.Errorf("schema: an attribute has no name")
		}
		if seen[a.Name] {
			return fmt.Errorf("schema: attribute %q declared twice", a.Name)
		}
		seen[a.Name] = true
		if _, ok := attributeTypes[a.Type]; !ok {
			return fmt.Errorf("schema: attribute %q: unknown type %q", a.Name, a.Type)
		}
		if a.Default != nil {
			if err := a.Type.check(a.Default); err != nil {
				return fmt.Errorf("schema: attribute %q: default: %v", a.Name, err)
			}
		}
	}
	return nil
}

// withImplied adds the capabilities the provider's optional interfaces
// imply, so the host sees them whether or not the author listed them.
func withImplied(info Info, p Provider) Info {
	for _, implied := range []struct {
		has bool
		c   Capability
	}{
		{is[SessionReader](p), CapReadSession},
		{is[TypingSender](p), CapUserTyping},
		{is[RatingRecorder](p), CapCSAT},
		{is[ReadMarker](p), CapRead},
	} {
		if implied.has && !slices.Contains(info.Capabilities, implied.c) {
			info.Capabilities = append(slices.Clone(info.Capabilities), implied.c)
		}
	}
	return info
}

func is[T any](p Provider) bool {
	_, ok := p.(T)
	return ok
}
