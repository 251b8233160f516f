package sdktest

import (
	"bytes"
	"context"
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
}

// Launch starts binary through go-plugin as livechatd does and fingerprints
// it; the process is stopped when the test ends.
func Launch(t testing.TB, binary string) *Plugin {
	t.Helper()
	host := NewHost()
	stderr := &syncBuffer{}
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
		Logger:           hclog.NewNullLogger(),
	})
	t.Cleanup(client.Kill)
	cp, err := client.Client()
	if err != nil {
		t.Fatalf("launch %s: %v\nstderr: %s", binary, err, stderr.String())
	}
	rp, err := sdk.Dispense(cp)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := rp.Info(ctx)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	return &Plugin{RemoteProvider: rp, Info: info, Host: host, client: client, stderr: stderr}
}

// Stderr is everything the plugin wrote on stderr so far (its logs).
func (p *Plugin) Stderr() string { return p.stderr.String() }

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
