package sdk

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/go-plugin"
	livechatv1 "github.com/livechatd/livechatd/proto/livechat/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// providerServer adapts a Provider to the generated gRPC service.
type providerServer struct {
	livechatv1.UnimplementedProviderServer
	info     Info
	provider Provider
	broker   *plugin.GRPCBroker

	mu    sync.Mutex
	hosts map[uint32]Host // dialled Host services by broker id
}

var _ livechatv1.ProviderServer = (*providerServer)(nil)

func (s *providerServer) Info(context.Context, *livechatv1.InfoRequest) (*livechatv1.InfoResponse, error) {
	out, err := infoToProto(s.info)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return out, nil
}

// checkConfig decodes a config and runs the schema's checks and the
// provider's own.
func (s *providerServer) checkConfig(ctx context.Context, bot string, raw []byte) (Config, Diagnostics) {
	cfg, err := configFromJSON(raw)
	if err != nil {
		return nil, Diagnostics{{Severity: SeverityError, Summary: err.Error()}}
	}
	cfg = s.info.Schema.WithDefaults(cfg)
	diags := s.info.Schema.Validate(cfg)
	if diags.HasErrors() {
		return cfg, diags
	}
	if v, ok := s.provider.(ConfigValidator); ok {
		diags = append(diags, v.ValidateConfig(ctx, bot, cfg)...)
	}
	return cfg, diags
}

func (s *providerServer) ValidateConfig(ctx context.Context, req *livechatv1.ValidateConfigRequest) (*livechatv1.ValidateConfigResponse, error) {
	_, diags := s.checkConfig(ctx, req.GetBotId(), req.GetConfigJson())
	return &livechatv1.ValidateConfigResponse{Diagnostics: diagnosticsToProto(diags)}, nil
}

func (s *providerServer) Configure(ctx context.Context, req *livechatv1.ConfigureRequest) (*livechatv1.ConfigureResponse, error) {
	cfg, diags := s.checkConfig(ctx, req.GetBotId(), req.GetConfigJson())
	if diags.HasErrors() {
		return &livechatv1.ConfigureResponse{Diagnostics: diagnosticsToProto(diags)}, nil
	}
	host, err := s.host(req.GetHostBrokerId())
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	if err := s.provider.Configure(ctx, req.GetBotId(), cfg, host); err != nil {
		return nil, toStatus(err)
	}
	return &livechatv1.ConfigureResponse{Diagnostics: diagnosticsToProto(diags)}, nil
}

// host dials the host's Host service once per broker id.
func (s *providerServer) host(id uint32) (Host, error) {
	if id == 0 || s.broker == nil {
		return noHost{}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.hosts[id]; ok {
		return h, nil
	}
	conn, err := s.broker.Dial(id)
	if err != nil {
		return nil, fmt.Errorf("dial host service: %w", err)
	}
	if s.hosts == nil {
		s.hosts = make(map[uint32]Host)
	}
	h := &hostClient{client: livechatv1.NewHostClient(conn)}
	s.hosts[id] = h
	return h, nil
}

func (s *providerServer) StartSession(ctx context.Context, req *livechatv1.StartSessionRequest) (*livechatv1.StartSessionResponse, error) {
	res, err := s.provider.StartSession(ctx, StartRequest{
		Bot:            req.GetBotId(),
		SessionID:      req.GetSessionId(),
		User:           userFromProto(req.GetUser()),
		Transcript:     messagesFromProto(req.GetTranscript()),
		Messages:       messagesFromProto(req.GetMessages()),
		IdempotencyKey: req.GetIdempotencyKey(),
		Routing:        routingFromProto(req.GetRouting()),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &livechatv1.StartSessionResponse{Ref: res.Ref}, nil
}

func (s *providerServer) SendMessage(ctx context.Context, req *livechatv1.SendMessageRequest) (*livechatv1.SendMessageResponse, error) {
	sr := SendRequest{
		Bot:            req.GetBotId(),
		SessionID:      req.GetSessionId(),
		Ref:            req.GetRef(),
		User:           userFromProto(req.GetUser()),
		Message:        messageFromProto(req.GetMessage()),
		IdempotencyKey: req.GetIdempotencyKey(),
	}
	if handled, err := dispatchSend(ctx, s.provider, sr); handled {
		if err != nil {
			return nil, toStatus(err)
		}
		return &livechatv1.SendMessageResponse{}, nil
	}
	res, err := s.provider.SendMessage(ctx, sr)
	if err != nil {
		return nil, toStatus(err)
	}
	return &livechatv1.SendMessageResponse{PlatformMessageId: res.PlatformMessageID}, nil
}

func (s *providerServer) EndSession(ctx context.Context, req *livechatv1.EndSessionRequest) (*livechatv1.EndSessionResponse, error) {
	err := s.provider.EndSession(ctx, EndRequest{
		Bot:            req.GetBotId(),
		SessionID:      req.GetSessionId(),
		Ref:            req.GetRef(),
		User:           userFromProto(req.GetUser()),
		Reason:         endReasonFromProto(req.GetReason()),
		IdempotencyKey: req.GetIdempotencyKey(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &livechatv1.EndSessionResponse{}, nil
}

func (s *providerServer) HandleWebhook(ctx context.Context, req *livechatv1.HandleWebhookRequest) (*livechatv1.HandleWebhookResponse, error) {
	res, err := s.provider.HandleWebhook(ctx, WebhookRequest{
		Bot:    req.GetBotId(),
		Method: req.GetMethod(),
		Path:   req.GetPath(),
		Query:  valuesFromProto(req.GetQuery()),
		Header: valuesFromProto(req.GetHeaders()),
		Body:   req.GetBody(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	events, err := eventsToProto(res.Events)
	if err != nil {
		// The provider's bug, not the platform's: Internal, so the platform
		// is answered with a server error and may deliver the webhook again.
		return nil, status.Error(codes.Internal, "webhook result: "+err.Error())
	}
	return &livechatv1.HandleWebhookResponse{
		Events: events,
		Response: &livechatv1.HTTPResponse{
			Status:  int32(res.Status),
			Headers: valuesToProto(res.Header),
			Body:    res.Body,
		},
	}, nil
}

func (s *providerServer) ReadSession(ctx context.Context, req *livechatv1.ReadSessionRequest) (*livechatv1.ReadSessionResponse, error) {
	r, ok := s.provider.(SessionReader)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "provider %s cannot read sessions back (no ReadSession)", s.info.Name)
	}
	res, err := r.ReadSession(ctx, ReadRequest{
		Bot:       req.GetBotId(),
		SessionID: req.GetSessionId(),
		Ref:       req.GetRef(),
		User:      userFromProto(req.GetUser()),
		Cursor:    req.GetCursor(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	events, err := eventsToProto(res.Events)
	if err != nil {
		return nil, status.Error(codes.Internal, "read result: "+err.Error())
	}
	return &livechatv1.ReadSessionResponse{Events: events, Closed: res.Closed, Cursor: res.Cursor}, nil
}

func (s *providerServer) DescribeWebhooks(ctx context.Context, req *livechatv1.DescribeWebhooksRequest) (*livechatv1.DescribeWebhooksResponse, error) {
	d, ok := s.provider.(WebhookDescriber)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "provider %s describes no webhooks per bot (no DescribeWebhooks)", s.info.Name)
	}
	cfg, diags := s.checkConfig(ctx, req.GetBotId(), req.GetConfigJson())
	if diags.HasErrors() {
		return nil, status.Error(codes.InvalidArgument, "config: "+diags.Err().Error())
	}
	hooks, err := d.DescribeWebhooks(ctx, req.GetBotId(), cfg)
	if err != nil {
		return nil, toStatus(err)
	}
	return &livechatv1.DescribeWebhooksResponse{Webhooks: webhooksToProto(hooks)}, nil
}

func (s *providerServer) Shutdown(ctx context.Context, _ *livechatv1.ShutdownRequest) (*livechatv1.ShutdownResponse, error) {
	if sd, ok := s.provider.(Shutdowner); ok {
		if err := sd.Shutdown(ctx); err != nil {
			return nil, toStatus(err)
		}
	}
	return &livechatv1.ShutdownResponse{}, nil
}
