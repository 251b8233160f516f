package sdk

// The go-plugin wiring of the contract: the frozen handshake, the versioned
// plugin set, and the gRPC adapters on both sides of the process boundary.

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	livechatv1 "github.com/livechatd/livechatd/proto/livechat/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ProtocolVersion is the version of the provider contract this SDK speaks
// (proto/livechat/v1).
const ProtocolVersion = 1

// MaxMessageSize bounds one gRPC message either way (a webhook body with
// attachments, a long transcript).
const MaxMessageSize = 16 << 20

// pluginName is the key of the provider in go-plugin's plugin set.
const pluginName = "provider"

// Handshake is checked by the host and the plugin before anything else. It is
// frozen: protocol changes go through ProtocolVersion and versioned plugin
// sets, never through the cookie.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "LIVECHATD_PLUGIN",
	MagicCookieValue: "4f1c1e5a-provider-plugin-d7c3b0a2",
}

// HostPlugins is the plugin set the host passes to go-plugin's
// ClientConfig.VersionedPlugins. host receives events the plugin pushes.
// Plugin authors never need it; livechatd and sdktest do.
func HostPlugins(host Host) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {pluginName: &grpcPlugin{host: host}},
	}
}

// Dispense returns the provider of a started go-plugin client.
func Dispense(c plugin.ClientProtocol) (*RemoteProvider, error) {
	raw, err := c.Dispense(pluginName)
	if err != nil {
		return nil, err
	}
	rp, ok := raw.(*RemoteProvider)
	if !ok {
		return nil, fmt.Errorf("plugin dispensed %T, want *sdk.RemoteProvider", raw)
	}
	return rp, nil
}

// GRPCDialOptions are the host side's gRPC options (message size limits).
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageSize),
		grpc.MaxCallSendMsgSize(MaxMessageSize),
	)}
}

func grpcServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize))
	return grpc.NewServer(opts...)
}

// pluginGRPCServer is the plugin process's gRPC server: grpcServer, where a
// panic in a provider method becomes an error for that call, logged with its
// stack on log, instead of killing the process with every call in flight.
func pluginGRPCServer(log hclog.Logger) func([]grpc.ServerOption) *grpc.Server {
	return func(opts []grpc.ServerOption) *grpc.Server {
		return grpcServer(append(opts,
			grpc.ChainUnaryInterceptor(recoverUnary(log)),
			grpc.ChainStreamInterceptor(recoverStream(log)),
		))
	}
}

func recoverUnary(log hclog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (_ any, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = panicked(log, info.FullMethod, r)
			}
		}()
		return handler(ctx, req)
	}
}

func recoverStream(log hclog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = panicked(log, info.FullMethod, r)
			}
		}()
		return handler(srv, ss)
	}
}

// panicked logs a recovered panic with its stack and returns the call's
// error: codes.Internal, which the host classifies as KindUnknown, retried a
// bounded number of times.
func panicked(log hclog.Logger, fullMethod string, r any) error {
	method := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	msg := fmt.Sprintf("provider panicked in %s: %v", method, r)
	log.Error(msg, "stack", string(debug.Stack()))
	return status.Error(codes.Internal, msg)
}

// grpcPlugin is both sides of go-plugin's GRPCPlugin: the plugin process
// fills provider and info, the host fills host.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	info     Info
	provider Provider
	host     Host
}

var _ plugin.GRPCPlugin = (*grpcPlugin)(nil)

func (p *grpcPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	livechatv1.RegisterProviderServer(s, &providerServer{info: p.info, provider: p.provider, broker: broker})
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	rp := &RemoteProvider{client: livechatv1.NewProviderClient(conn)}
	if p.host != nil {
		rp.hostBrokerID = broker.NextId()
		go broker.AcceptAndServe(rp.hostBrokerID, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpcServer(opts)
			livechatv1.RegisterHostServer(s, &hostServer{host: p.host})
			return s
		})
	}
	return rp, nil
}

// hostServer serves the Host service to the plugin.
type hostServer struct {
	livechatv1.UnimplementedHostServer
	host Host
}

func (s *hostServer) PushEvents(ctx context.Context, req *livechatv1.PushEventsRequest) (*livechatv1.PushEventsResponse, error) {
	if err := s.host.PushEvents(ctx, req.GetBotId(), eventsFromProto(req.GetEvents())...); err != nil {
		return nil, toStatus(err)
	}
	return &livechatv1.PushEventsResponse{}, nil
}

// stateStore is the host's StateStore; a Host without one (a test double)
// answers Unimplemented, as a host older than the state calls does.
func (s *hostServer) stateStore() (StateStore, error) {
	if ss, ok := s.host.(StateStore); ok {
		return ss, nil
	}
	return nil, status.Error(codes.Unimplemented, ErrNoState.Error())
}

func (s *hostServer) GetState(ctx context.Context, req *livechatv1.GetStateRequest) (*livechatv1.GetStateResponse, error) {
	ss, err := s.stateStore()
	if err != nil {
		return nil, err
	}
	v, ok, err := ss.GetState(ctx, stateKeyFromProto(req.GetKey()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &livechatv1.GetStateResponse{Value: v, Found: ok}, nil
}

func (s *hostServer) SetState(ctx context.Context, req *livechatv1.SetStateRequest) (*livechatv1.SetStateResponse, error) {
	ss, err := s.stateStore()
	if err != nil {
		return nil, err
	}
	if err := ss.SetState(ctx, stateKeyFromProto(req.GetKey()), req.GetValue()); err != nil {
		return nil, toStatus(err)
	}
	return &livechatv1.SetStateResponse{}, nil
}

func (s *hostServer) DeleteState(ctx context.Context, req *livechatv1.DeleteStateRequest) (*livechatv1.DeleteStateResponse, error) {
	ss, err := s.stateStore()
	if err != nil {
		return nil, err
	}
	if err := ss.DeleteState(ctx, stateKeyFromProto(req.GetKey())); err != nil {
		return nil, toStatus(err)
	}
	return &livechatv1.DeleteStateResponse{}, nil
}

// hostClient is the plugin's handle on the host, given to Configure: the
// Host, and the StateStore.
type hostClient struct {
	client livechatv1.HostClient
}

var _ StateStore = (*hostClient)(nil)

func (c *hostClient) PushEvents(ctx context.Context, bot string, events ...Event) error {
	pe, err := eventsToProto(events)
	if err != nil {
		return Permanent(fmt.Errorf("push events: %w", err))
	}
	_, err = c.client.PushEvents(ctx, &livechatv1.PushEventsRequest{BotId: bot, Events: pe})
	return fromStatus(err)
}

func (c *hostClient) GetState(ctx context.Context, k StateKey) ([]byte, bool, error) {
	res, err := c.client.GetState(ctx, &livechatv1.GetStateRequest{Key: stateKeyToProto(k)})
	if err != nil {
		return nil, false, stateError(err)
	}
	return res.GetValue(), res.GetFound(), nil
}

func (c *hostClient) SetState(ctx context.Context, k StateKey, value []byte) error {
	_, err := c.client.SetState(ctx, &livechatv1.SetStateRequest{Key: stateKeyToProto(k), Value: value})
	return stateError(err)
}

func (c *hostClient) DeleteState(ctx context.Context, k StateKey) error {
	_, err := c.client.DeleteState(ctx, &livechatv1.DeleteStateRequest{Key: stateKeyToProto(k)})
	return stateError(err)
}

// stateError classifies the error of a state call; a host that has no
// state calls (older than them) answers Unimplemented: ErrNoState.
func stateError(err error) error {
	if status.Code(err) == codes.Unimplemented {
		return Permanent(ErrNoState)
	}
	return callError(err)
}

// noHost is given to Configure when the host offers no Host service.
type noHost struct{}

func (noHost) PushEvents(context.Context, string, ...Event) error {
	return Permanent(fmt.Errorf("the host offers no push service"))
}
