package sdk

import (
	"context"
	"fmt"

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
		return Info{}, fromStatus(err)
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
		return nil, fromStatus(err)
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
		return nil, fromStatus(err)
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
	})
	if err != nil {
		return StartResult{}, fromStatus(err)
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
		return SendResult{}, fromStatus(err)
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
	return fromStatus(err)
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
		return WebhookResult{}, fromStatus(err)
	}
	return WebhookResult{
		Events: eventsFromProto(res.GetEvents()),
		Status: int(res.GetResponse().GetStatus()),
		Header: valuesFromProto(res.GetResponse().GetHeaders()),
		Body:   res.GetResponse().GetBody(),
	}, nil
}

// Shutdown asks the plugin to finish its work before it is stopped.
func (c *RemoteProvider) Shutdown(ctx context.Context) error {
	_, err := c.client.Shutdown(ctx, &livechatv1.ShutdownRequest{})
	return fromStatus(err)
}
