// Command badproto is a plugin from the future: it has the right handshake
// cookie but speaks only protocol version 99. The host must refuse it and
// name both versions.
package main

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"github.com/livechatd/livechatd/sdk"
	"google.golang.org/grpc"
)

type futurePlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (futurePlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }

func (futurePlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("not used")
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{99: {"provider": futurePlugin{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
