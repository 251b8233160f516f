package sdk

import (
	"context"
	"errors"
	"fmt"
)

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

// Host is the host's side of the contract, offered to the plugin. The Host
// livechatd gives Configure also keeps the plugin's state: see StateOf.
type Host interface {
	// PushEvents hands platform events for bot to the host, for providers
	// whose platform pushes over a connection of their own instead of
	// calling the webhook.
	PushEvents(ctx context.Context, bot string, events ...Event) error
}

// WebhookDescriber is implemented by providers whose webhook setup depends
// on a bot's config: a URL on the bot's own platform domain, an account id
// in the instructions. `livechatd webhook-url -bot BOT` calls it with the
// bot's config (checked against the Schema, defaults applied) and prints
// what it returns; without it, or when it returns no webhooks, Info.Webhooks
// is printed. The text is shown to the operator: put a sensitive attribute
// in it only when the operator must enter it on the platform.
type WebhookDescriber interface {
	DescribeWebhooks(ctx context.Context, bot string, cfg Config) ([]WebhookSetup, error)
}

// StateKey names one value of the provider's plugin state: a key of one
// session of one bot. The host scopes it to the calling plugin too, so a
// plugin never sees another plugin's state, and names only its own bots
// and their sessions.
type StateKey struct {
	Bot       string
	SessionID string
	// Key is 1 to 256 bytes of UTF-8, e.g. "sent:" + the IdempotencyKey.
	Key string
}

// Bounds of plugin state, checked by the host: a value over them is
// refused as Permanent, naming the field.
const (
	MaxStateKey     = 256       // bytes of a StateKey.Key
	MaxStateValue   = 16 << 10  // bytes of one value
	MaxStateSession = 256 << 10 // bytes of all keys and values of one session
)

// StateStore is the plugin state the host keeps for a provider: small
// values per session, the equivalent of Terraform's private state. They
// live in the host's store, so they survive a restart of the plugin process
// (its memory does not) and of the host. Use it where the platform has no
// idempotency keys: record what a call did (the ticket it opened, the
// message it posted) under a key derived from the request's
// IdempotencyKey, and look it up before doing it again on a retry.
//
// Get the store with StateOf(host) in Configure. A session's state is
// deleted with its transcript, retention.transcripts after the session
// closed; it can be written while the session is stored, open or closed.
// Errors: a key of a bot the plugin is not configured for, or of a session
// of another bot or provider, is Permanent; an unknown session is
// NotFound; the host not ready yet is Retryable.
type StateStore interface {
	// GetState returns the value at k; ok is false when there is none.
	GetState(ctx context.Context, k StateKey) (value []byte, ok bool, err error)
	// SetState stores value at k, replacing what was there.
	SetState(ctx context.Context, k StateKey, value []byte) error
	// DeleteState removes the value at k; removing none is no error.
	DeleteState(ctx context.Context, k StateKey) error
}

// StateOf returns the plugin state kept by host, the Host given to
// Configure. When the host keeps none (livechatd before plugin state, or a
// test double without it), every call fails with a Permanent error
// wrapping errors.ErrUnsupported.
func StateOf(host Host) StateStore {
	if s, ok := host.(StateStore); ok {
		return s
	}
	return noState{}
}

// ErrNoState is wrapped by the errors of StateOf's store when the host keeps
// no plugin state; it wraps errors.ErrUnsupported.
var ErrNoState = fmt.Errorf("the host keeps no plugin state: %w", errors.ErrUnsupported)

type noState struct{}

func (noState) GetState(context.Context, StateKey) ([]byte, bool, error) {
	return nil, false, Permanent(ErrNoState)
}
func (noState) SetState(context.Context, StateKey, []byte) error { return Permanent(ErrNoState) }
func (noState) DeleteState(context.Context, StateKey) error      { return Permanent(ErrNoState) }
