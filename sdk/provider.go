package sdk

import "context"

// Provider is what a plugin author implements: one support platform. One
// plugin process serves every bot configured with it, so every call names
// the bot, and an implementation keeps one client per bot.
//
// Methods return classified errors (Retryable, RateLimited, Permanent,
// NotFound, Unauthorized) so the host knows whether to retry.
type Provider interface {
	// Configure applies one bot's config. It is called for every bot when the
	// host starts and again after a plugin restart, so it must be safe to
	// call twice. host lets push-style providers send events at any time.
	Configure(ctx context.Context, bot string, cfg Config, host Host) error
	// StartSession opens a ticket or conversation and returns its reference.
	StartSession(ctx context.Context, req StartRequest) (StartResult, error)
	// SendMessage forwards one user message to the platform.
	SendMessage(ctx context.Context, req SendRequest) (SendResult, error)
	// EndSession closes the ticket or conversation.
	EndSession(ctx context.Context, req EndRequest) error
	// HandleWebhook turns one HTTP request from the platform into events.
	HandleWebhook(ctx context.Context, req WebhookRequest) (WebhookResult, error)
}

// ConfigValidator is implemented by providers that check a bot's config
// beyond its schema (one of two attributes required, a URL that parses...).
// The SDK has already checked required and unknown attributes and types.
type ConfigValidator interface {
	ValidateConfig(ctx context.Context, bot string, cfg Config) Diagnostics
}

// SessionReader is implemented by providers that can read a session's
// platform side back: the agent messages written since a cursor and whether
// the ticket is closed. Platforms drop webhooks (some never retry them); the
// host reads every open session back on an interval, after a plugin
// restart and after its own restart, within the bot's rate limit (see
// Info.RateLimit), so no agent reply is lost. A read should cost the
// platform one or two requests.
type SessionReader interface {
	ReadSession(ctx context.Context, req ReadRequest) (ReadResult, error)
}

// Shutdowner is implemented by providers with work to finish before the
// process stops.
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}

// Host is the host's side of the contract, offered to the plugin.
type Host interface {
	// PushEvents hands platform events for bot to the host, for providers
	// whose platform pushes over a connection of their own instead of
	// calling the webhook.
	PushEvents(ctx context.Context, bot string, events ...Event) error
}
