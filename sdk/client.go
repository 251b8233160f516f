package sdk

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	livechatv1 "github.com/livechatd/livechatd/proto/livechat/v1"
)

// RemoteProvider is the host's handle on a provider in a plugin process: the
// Provider contract over gRPC, with errors classified again on this side.
// Plugin authors never need it; livechatd and sdktest use it.
type RemoteProvider struct {
	client       livechatv1.ProviderClient
	hostBrokerID uint32
}

// Info fingerprints the plugin.
func (c *RemoteProvider) Info(ctx context.Context) (Info, error) {
	res, err := c.client.Info(ctx, &livechatv1.InfoRequest{})
	if err != nil {
		return Info{}, callError(err)
	}
	return infoFromProto(res)
}

// ValidateConfig checks one bot's config without applying it.
func (c *RemoteProvider) ValidateConfig(ctx context.Context, bot string, cfg Config) (Diagnostics, error) {
	raw, err := configToJSON(cfg)
	if err != nil {
		return nil, Permanent(fmt.Errorf("encode config: %w", err))
	}
	res, err := c.client.ValidateConfig(ctx, &livechatv1.ValidateConfigRequest{BotId: bot, ConfigJson: raw})
	if err != nil {
		return nil, callError(err)
	}
	return diagnosticsFromProto(res.GetDiagnostics()), nil
}

// Configure applies one bot's config. Diagnostics with errors mean the
// config was refused; an error means the call itself failed.
func (c *RemoteProvider) Configure(ctx context.Context, bot string, cfg Config) (Diagnostics, error) {
	raw, err := configToJSON(cfg)
	if err != nil {
		return nil, Permanent(fmt.Errorf("encode config: %w", err))
	}
	res, err := c.client.Configure(ctx, &livechatv1.ConfigureRequest{BotId: bot, ConfigJson: raw, HostBrokerId: c.hostBrokerID})
	if err != nil {
		return nil, callError(err)
	}
	return diagnosticsFromProto(res.GetDiagnostics()), nil
}

// StartSession opens a ticket.
func (c *RemoteProvider) StartSession(ctx context.Context, req StartRequest) (StartResult, error) {
	user, err := userToProto(req.User)
	if err != nil {
		return StartResult{}, Permanent(err)
	}
	transcript, err := messagesToProto(req.Transcript)
	if err != nil {
		return StartResult{}, Permanent(err)
	}
	msgs, err := messagesToProto(req.Messages)
	if err != nil {
		return StartResult{}, Permanent(err)
	}
	res, err := c.client.StartSession(ctx, &livechatv1.StartSessionRequest{
		BotId:          req.Bot,
		SessionId:      req.SessionID,
		User:           user,
		Transcript:     transcript,
		Messages:       msgs,
		IdempotencyKey: req.IdempotencyKey,
		Routing:        routingToProto(req.Routing),
	})
	if err != nil {
		return StartResult{}, callError(err)
	}
	return StartResult{Ref: res.GetRef()}, nil
}

// SendMessage forwards one user message.
func (c *RemoteProvider) SendMessage(ctx context.Context, req SendRequest) (SendResult, error) {
	user, err := userToProto(req.User)
	if err != nil {
		return SendResult{}, Permanent(err)
	}
	msg, err := messageToProto(req.Message)
	if err != nil {
		return SendResult{}, Permanent(err)
	}
	res, err := c.client.SendMessage(ctx, &livechatv1.SendMessageRequest{
		BotId:          req.Bot,
		SessionId:      req.SessionID,
		Ref:            req.Ref,
		User:           user,
		Message:        msg,
		IdempotencyKey: req.IdempotencyKey,
	})
	if err != nil {
		return SendResult{}, callError(err)
	}
	return SendResult{PlatformMessageID: res.GetPlatformMessageId()}, nil
}

// EndSession closes a ticket.
func (c *RemoteProvider) EndSession(ctx context.Context, req EndRequest) error {
	user, err := userToProto(req.User)
	if err != nil {
		return Permanent(err)
	}
	_, err = c.client.EndSession(ctx, &livechatv1.EndSessionRequest{
		BotId:          req.Bot,
		SessionId:      req.SessionID,
		Ref:            req.Ref,
		User:           user,
		Reason:         endReasonToProto(req.Reason),
		IdempotencyKey: req.IdempotencyKey,
	})
	return callError(err)
}

// HandleWebhook hands one platform request to the plugin.
func (c *RemoteProvider) HandleWebhook(ctx context.Context, req WebhookRequest) (WebhookResult, error) {
	res, err := c.client.HandleWebhook(ctx, &livechatv1.HandleWebhookRequest{
		BotId:   req.Bot,
		Method:  req.Method,
		Path:    req.Path,
		Query:   valuesToProto(req.Query),
		Headers: valuesToProto(req.Header),
		Body:    req.Body,
	})
	if err != nil {
		return WebhookResult{}, callError(err)
	}
	return WebhookResult{
		Events: eventsFromProto(res.GetEvents()),
		Status: int(res.GetResponse().GetStatus()),
		Header: valuesFromProto(res.GetResponse().GetHeaders()),
		Body:   res.GetResponse().GetBody(),
	}, nil
}

// ReadSession reads a session's platform side since req.Cursor. A plugin
// that does not serve it (one built before the call existed, or whose
// provider is no SessionReader) answers an error wrapping
// errors.ErrUnsupported; check Info's CapReadSession first.
func (c *RemoteProvider) ReadSession(ctx context.Context, req ReadRequest) (ReadResult, error) {
	user, err := userToProto(req.User)
	if err != nil {
		return ReadResult{}, Permanent(err)
	}
	res, err := c.client.ReadSession(ctx, &livechatv1.ReadSessionRequest{
		BotId: req.Bot, SessionId: req.SessionID, Ref: req.Ref, User: user, Cursor: req.Cursor,
	})
	if status.Code(err) == codes.Unimplemented {
		return ReadResult{}, &Error{Kind: KindInvalid, Err: fmt.Errorf("the plugin cannot read sessions back: %w", errors.ErrUnsupported)}
	}
	if err != nil {
		return ReadResult{}, callError(err)
	}
	return ReadResult{Events: eventsFromProto(res.GetEvents()), Closed: res.GetClosed(), Cursor: res.GetCursor()}, nil
}

// DescribeWebhooks asks the plugin for the webhooks to create on the
// platform for bot, built from its config. A plugin that does not serve it
// (one built before the call existed, or whose provider is no
// WebhookDescriber) answers an error wrapping errors.ErrUnsupported: use
// Info.Webhooks then.
func (c *RemoteProvider) DescribeWebhooks(ctx context.Context, bot string, cfg Config) ([]WebhookSetup, error) {
	raw, err := configToJSON(cfg)
	if err != nil {
		return nil, Permanent(fmt.Errorf("encode config: %w", err))
	}
	res, err := c.client.DescribeWebhooks(ctx, &livechatv1.DescribeWebhooksRequest{BotId: bot, ConfigJson: raw})
	if status.Code(err) == codes.Unimplemented {
		return nil, &Error{Kind: KindInvalid, Err: fmt.Errorf("the plugin describes no webhooks per bot: %w", errors.ErrUnsupported)}
	}
	if err != nil {
		return nil, callError(err)
	}
	return webhooksFromProto(res.GetWebhooks()), nil
}

// Shutdown asks the plugin to finish its work before it is stopped.
func (c *RemoteProvider) Shutdown(ctx context.Context) error {
	_, err := c.client.Shutdown(ctx, &livechatv1.ShutdownRequest{})
	return callError(err)
}

// codecFailures are how grpc-go reports that a message could not cross the
// boundary: encoded (invalid UTF-8 in a string field), decoded (nested past
// protobuf's recursion limit) or carried (over MaxMessageSize), on either
// side — the host's client or the plugin's server. grpc gives these no
// error type or detail of their own, only a code shared with other causes
// (Internal, ResourceExhausted) and these fixed texts (grpc-go rpc_util.go
// and stream.go), so they are matched on the text.
var codecFailures = []struct {
	code   codes.Code
	prefix string
}{
	{codes.Internal, "grpc: error while marshaling"},
	{codes.Internal, "grpc: failed to unmarshal the received message"},
	{codes.ResourceExhausted, "trying to send message larger than max"},
	{codes.ResourceExhausted, "grpc: received message larger than max"},
	{codes.ResourceExhausted, "grpc: received message after decompression larger than max"},
}

// callError classifies the error of a call to the plugin. A message the
// boundary cannot carry fails the same way on every try, so it is
// permanent (KindInvalid): retried, it would hold its session's queue until
// its retries ran out. Everything else is classified by fromStatus.
func callError(err error) error {
	if st, ok := status.FromError(err); ok && err != nil {
		for _, f := range codecFailures {
			if st.Code() == f.code && strings.HasPrefix(st.Message(), f.prefix) {
				return &Error{Kind: KindInvalid, Err: fmt.Errorf("the message cannot cross the plugin boundary: %s", st.Message())}
			}
		}
	}
	return fromStatus(err)
}
