package pluginhost_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/livechatd/livechatd/host/pluginhost"
	"github.com/livechatd/livechatd/sdk"
)

// BenchmarkSendMessage is one user message through the plugin boundary: a
// gRPC call over mTLS to the echo plugin, which pushes its answer back to
// the host over the broker — two calls across the process boundary.
func BenchmarkSendMessage(b *testing.B) {
	dir := b.TempDir()
	sdkInstall(b, dir)
	m := pluginhost.New(pluginhost.Options{Dir: dir})
	ctx := context.Background()
	if err := m.Load(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close(context.Background()) })
	m.SetHost(discard{})
	p, err := m.Plugin("echo")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := p.Configure(ctx, "shop", echoConfig); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: "r", Message: sdk.Text("hello"), IdempotencyKey: fmt.Sprint(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) PushEvents(context.Context, string, ...sdk.Event) error { return nil }
