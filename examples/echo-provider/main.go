// Command livechat-provider-echo is the smallest real livechatd provider: it
// plays the support agent itself, answering every user message with
// "echo: <text>" through the host's push service, so it needs no platform.
// Copy it to start a provider of your own; see README.md.
//
// Say "sign off" to get the agent's sign-off (the "Quit livechat" button), and
// "close" to have the agent close the session.
package main

import (
	"context"
	"strings"
	"sync"

	"github.com/livechatd/livechatd/sdk"
)

var info = sdk.Info{
	Name:         "echo",
	Version:      "1.0.0",
	Description:  "An agent that echoes the user; for demos, tests and as a template.",
	Capabilities: []sdk.Capability{sdk.CapPush},
	Schema: sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "greeting", Type: sdk.String, Required: true, Description: "What the agent says when a session starts."},
		{Name: "agent_name", Type: sdk.String, Default: "Echo", Description: "The agent's name shown to the user."},
		{Name: "prefix", Type: sdk.String, Default: "echo: ", Description: "Put before every echoed text."},
	}},
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

type echo struct {
	mu   sync.Mutex
	bots map[string]bot
}

func (e *echo) Configure(_ context.Context, name string, cfg sdk.Config, host sdk.Host) error {
	var b bot
	if err := cfg.Decode(&b.config); err != nil {
		return sdk.Permanent(err)
	}
	b.host = host
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bots[name] = b
	return nil
}

func (e *echo) bot(name string) (bot, error) {
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

func (e *echo) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
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

func (e *echo) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
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

func (e *echo) EndSession(context.Context, sdk.EndRequest) error { return nil }

func (e *echo) HandleWebhook(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error) {
	return sdk.WebhookResult{Status: 404, Body: []byte("echo has no webhook: it pushes its replies\n")}, nil
}

func main() {
	sdk.Serve(info, &echo{bots: map[string]bot{}})
}
