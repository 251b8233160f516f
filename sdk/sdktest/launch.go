package sdktest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/livechatd/livechatd/sdk"
)

// Plugin is a plugin process launched for a test.
type Plugin struct {
	*sdk.RemoteProvider
	Info sdk.Info
	Host *Host

	client *plugin.Client
	stderr *syncBuffer
	stdout *syncBuffer
}

// Launch starts binary through go-plugin as livechatd does and fingerprints
// it; the process is stopped when the test ends.
func Launch(t testing.TB, binary string) *Plugin {
	t.Helper()
	host := NewHost()
	p, err := launch(binary, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.client.Kill)
	p.Host = host
	return p
}

// LaunchWith is Launch with a Host of the caller's: one that keeps no
// plugin state, say, as a livechatd older than the state calls. The
// Plugin's Host field is nil then.
func LaunchWith(t testing.TB, binary string, host sdk.Host) *Plugin {
	t.Helper()
	p, err := launch(binary, host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.client.Kill)
	return p
}

// launch starts binary with host serving its pushes. The caller kills it.
func launch(binary string, host sdk.Host) (*Plugin, error) {
	stderr, stdout := &syncBuffer{}, &syncBuffer{}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.HostPlugins(host),
		Cmd:              exec.Command(binary),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     20 * time.Second,
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		Stderr:           stderr,
		// What the plugin prints on stdout after the handshake comes back
		// over go-plugin's stdio stream; livechatd logs it as a warning, so the
		// conformance suite counts it as a fault.
		SyncStdout: stdout,
		Logger:     hclog.NewNullLogger(),
	})
	cp, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("launch %s: %v\nstderr: %s", binary, err, stderr.String())
	}
	rp, err := sdk.Dispense(cp)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("dispense: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := rp.Info(ctx)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("info: %v", err)
	}
	return &Plugin{RemoteProvider: rp, Info: info, client: client, stderr: stderr, stdout: stdout}, nil
}

// Stderr is everything the plugin wrote on stderr so far (its logs).
func (p *Plugin) Stderr() string { return p.stderr.String() }

// Stdout is everything the plugin printed on stdout after the handshake.
func (p *Plugin) Stdout() string { return p.stdout.String() }

// Kill stops the plugin process (gracefully first, as livechatd does).
func (p *Plugin) Kill() { p.client.Kill() }

// Exited reports whether the plugin process has exited.
func (p *Plugin) Exited() bool { return p.client.Exited() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
