// Package echo is the echo provider of examples/echo-provider as a library,
// for the load harness: the same agent that answers every user message with
// "<prefix><text>" through the host's push service, but callable in
// process (the harness's in-process mode, no go-plugin between host and
// provider) and servable under any provider name (plugin/, so that ten
// plugins can sit in one plugin_dir: the host requires a plugin's file name
// to match the name it gives).
//
// Keep its behaviour the same as examples/echo-provider's main.go: the
// harness compares the two across the plugin boundary.
package echo

import (
	"context"
	"strings"
	"sync"

	"github.com/livechatd/livechatd/sdk"
)

// Info describes the provider under name, with the echo provider's schema.
func Info(name string) sdk.Info {
	return sdk.Info{
		Name:         name,
		Version:      "1.0.0",
		Description:  "The echo provider, for the load harness.",
		Capabilities: []sdk.Capability{sdk.CapPush},
		Schema: sdk.Schema{Attributes: []sdk.Attribute{
			{Name: "greeting", Type: sdk.String, Required: true, Description: "What the agent says when a session starts."},
			{Name: "agent_name", Type: sdk.String, Default: "Echo", Description: "The agent's name shown to the user."},
			{Name: "prefix", Type: sdk.String, Default: "echo: ", Description: "Put before every echoed text."},
		}},
	}
}

type config struct {
	Greeting  string `json:"greeting"`
	AgentName string `json:"agent_name"`
	Prefix    string `json:"prefix"`
}

type bot struct {
	config
	host sdk.Host
}

// Provider is the echo agent; it implements sdk.Provider.
type Provider struct {
	mu   sync.Mutex
	bots map[string]bot
}

var _ sdk.Provider = (*Provider)(nil)

// New returns a Provider with no bot configured.
func New() *Provider { return &Provider{bots: map[string]bot{}} }

// Configure sets up bot name; its agent messages are pushed to host.
func (e *Provider) Configure(_ context.Context, name string, cfg sdk.Config, host sdk.Host) error {
	var b bot
	if err := cfg.Decode(&b.config); err != nil {
		return sdk.Permanent(err)
	}
	// Decode leaves what the config omits empty; the schema's defaults
	// apply when the host fills them, which an in-process caller does not.
	if b.AgentName == "" {
		b.AgentName = "Echo"
	}
	if b.Prefix == "" {
		b.Prefix = "echo: "
	}
	b.host = host
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bots[name] = b
	return nil
}

func (e *Provider) bot(name string) (bot, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, ok := e.bots[name]
	if !ok {
		return bot{}, sdk.NotFound("bot %q is not configured", name)
	}
	return b, nil
}

// say pushes an agent message; id makes a retried push a replay the host drops.
func (b bot) say(ctx context.Context, botName, session, id, text string) error {
	msg := sdk.Text(text)
	msg.ID = id
	msg.Author = sdk.Author{Type: sdk.AuthorAgent, Name: b.AgentName}
	ev := sdk.Event{ID: id, Type: sdk.EventAgentMessage, SessionID: session, Message: msg}
	if err := b.host.PushEvents(ctx, botName, ev); err != nil {
		return sdk.Retryable(err, 0)
	}
	return nil
}

// StartSession greets the user and echoes the messages handed over.
func (e *Provider) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	b, err := e.bot(req.Bot)
	if err != nil {
		return sdk.StartResult{}, err
	}
	if err := b.say(ctx, req.Bot, req.SessionID, "greet-"+req.SessionID, b.Greeting); err != nil {
		return sdk.StartResult{}, err
	}
	for _, m := range req.Messages {
		if _, err := e.SendMessage(ctx, sdk.SendRequest{Bot: req.Bot, SessionID: req.SessionID, Message: m, IdempotencyKey: m.ID}); err != nil {
			return sdk.StartResult{}, err
		}
	}
	return sdk.StartResult{Ref: "echo-" + req.SessionID}, nil
}

// SendMessage answers the user's message at once, as the agent.
func (e *Provider) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	b, err := e.bot(req.Bot)
	if err != nil {
		return sdk.SendResult{}, err
	}
	text := req.Message.PlainText()
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "sign off":
		err = b.say(ctx, req.Bot, req.SessionID, "echo-"+req.IdempotencyKey, "Glad I could help! LIVECHAT_SESSION_END")
	case "close":
		err = b.host.PushEvents(ctx, req.Bot, sdk.Event{ID: "close-" + req.IdempotencyKey, Type: sdk.EventSessionClosed, SessionID: req.SessionID})
	default:
		err = b.say(ctx, req.Bot, req.SessionID, "echo-"+req.IdempotencyKey, b.Prefix+text)
	}
	return sdk.SendResult{PlatformMessageID: req.IdempotencyKey}, err
}

// EndSession has nothing to close.
func (e *Provider) EndSession(context.Context, sdk.EndRequest) error { return nil }

// HandleWebhook: echo has no webhook, it pushes.
func (e *Provider) HandleWebhook(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error) {
	return sdk.WebhookResult{Status: 404, Body: []byte("echo has no webhook: it pushes its replies\n")}, nil
}
