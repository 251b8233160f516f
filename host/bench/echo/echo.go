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
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// Info describes the provider under name, with the echo provider's schema.
func Info(name string) sdk.Info {
	return sdk.Info{
		Name:         name,
		Version:      "1.0.0",
		Description:  "The echo provider, for the load harness.",
		Capabilities: []sdk.Capability{sdk.CapPush, sdk.CapAgentAssigned, sdk.CapAgentTyping, sdk.CapQueuePosition, sdk.CapAttachments, sdk.CapRouting},
		Schema: sdk.Schema{Attributes: []sdk.Attribute{
			{Name: "greeting", Type: sdk.String, Required: true, Description: "What the agent says when a session starts."},
			{Name: "agent_name", Type: sdk.String, Default: "Echo", Description: "The agent's name shown to the user."},
			{Name: "prefix", Type: sdk.String, Default: "echo: ", Description: "Put before every echoed text."},
			{Name: "silent", Type: sdk.Bool, Default: false, Description: "Never answer: no greeting, no echo, as when no agent is free (to try the waiting feedback)."},
			{Name: "avatar_url", Type: sdk.String, URL: true, Description: "When set, the agent joins (agent_joined, with this avatar) before the greeting."},
		}},
	}
}

type config struct {
	Greeting  string `json:"greeting"`
	AgentName string `json:"agent_name"`
	Prefix    string `json:"prefix"`
	Silent    bool   `json:"silent"`
	AvatarURL string `json:"avatar_url"`
}

type bot struct {
	config
	host sdk.Host
}

// Provider is the echo agent; it implements sdk.Provider.
type Provider struct {
	mu   sync.Mutex
	bots map[string]bot
	// routing is each open session's StartRequest.Routing, for "routing".
	routing map[string]sdk.Routing
	// reads counts each open session's read receipts, for "read".
	reads map[string]int
	typed atomic.Int64
}

var _ sdk.Provider = (*Provider)(nil)

// New returns a Provider with no bot configured.
func New() *Provider {
	return &Provider{bots: map[string]bot{}, routing: map[string]sdk.Routing{}, reads: map[string]int{}}
}

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
	msg.Author = b.agent()
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
	e.mu.Lock()
	e.routing[req.SessionID] = req.Routing
	e.mu.Unlock()
	if b.Silent {
		return sdk.StartResult{Ref: "echo-" + req.SessionID}, nil
	}
	if b.AvatarURL != "" {
		join := sdk.Event{ID: "join-" + req.SessionID, Type: sdk.EventAgentJoined, SessionID: req.SessionID,
			Message: sdk.Message{Author: b.agent()}}
		if err := b.host.PushEvents(ctx, req.Bot, join); err != nil {
			return sdk.StartResult{}, sdk.Retryable(err, 0)
		}
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
	if b.Silent {
		return sdk.SendResult{PlatformMessageID: req.IdempotencyKey}, nil
	}
	text := req.Message.PlainText()
	id := "echo-" + req.IdempotencyKey
	if a := req.Message.Attachment; a != nil {
		err = b.say(ctx, req.Bot, req.SessionID, id, b.Prefix+"attachment "+a.Name+" "+a.MIME+" "+a.URL)
		return sdk.SendResult{PlatformMessageID: req.IdempotencyKey}, err
	}
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "typing":
		err = b.push(ctx, req.Bot, sdk.Event{ID: id, Type: sdk.EventAgentTyping, SessionID: req.SessionID, Typing: true, Message: sdk.Message{Author: b.agent()}})
	case "queue":
		err = b.push(ctx, req.Bot, sdk.Event{ID: id, Type: sdk.EventQueuePosition, SessionID: req.SessionID, QueuePosition: 2, ExpectedWait: 90 * time.Second})
	case "file":
		err = b.push(ctx, req.Bot, sdk.Event{ID: id, Type: sdk.EventAgentMessage, SessionID: req.SessionID, Message: sdk.Message{
			ID: id, ContentType: "image", Content: map[string]any{"url": echoImage}, Author: b.agent(),
			Attachment: &sdk.Attachment{URL: echoImage, Name: "echo.png", MIME: "image/png", Size: 68}}})
	case "routing":
		e.mu.Lock()
		r := e.routing[req.SessionID]
		e.mu.Unlock()
		err = b.say(ctx, req.Bot, req.SessionID, id, fmt.Sprintf("%srouting team=%s priority=%s tags=%s language=%s",
			b.Prefix, r.Team, r.Priority, strings.Join(r.Tags, ","), r.Language))
	case "read":
		e.mu.Lock()
		n := e.reads[req.SessionID]
		e.mu.Unlock()
		err = b.say(ctx, req.Bot, req.SessionID, id, fmt.Sprintf("%sread receipts=%d", b.Prefix, n))
	case "sign off":
		err = b.say(ctx, req.Bot, req.SessionID, id, "Glad I could help! LIVECHAT_SESSION_END")
	case "close":
		err = b.host.PushEvents(ctx, req.Bot, sdk.Event{ID: "close-" + req.IdempotencyKey, Type: sdk.EventSessionClosed, SessionID: req.SessionID})
	default:
		err = b.say(ctx, req.Bot, req.SessionID, id, b.Prefix+text)
	}
	return sdk.SendResult{PlatformMessageID: req.IdempotencyKey}, err
}

// EndSession has no ticket to close; it forgets the session's routing.
func (e *Provider) EndSession(_ context.Context, req sdk.EndRequest) error {
	e.mu.Lock()
	delete(e.routing, req.SessionID)
	delete(e.reads, req.SessionID)
	e.mu.Unlock()
	return nil
}

// SendTyping mirrors the user's typing: the agent types while the user
// does (sdk.TypingSender, so the host relays typing: user_typing).
func (e *Provider) SendTyping(ctx context.Context, req sdk.TypingRequest) error {
	b, err := e.bot(req.Bot)
	if err != nil || b.Silent {
		return err
	}
	id := fmt.Sprintf("typing-%s-%d", req.SessionID, e.typed.Add(1))
	return b.push(ctx, req.Bot, sdk.Event{ID: id, Type: sdk.EventAgentTyping, SessionID: req.SessionID, Typing: req.Typing,
		Message: sdk.Message{Author: b.agent()}})
}

// MarkRead counts the user's read receipts, which "read" tells
// (sdk.ReadMarker, so the host relays them: read).
func (e *Provider) MarkRead(_ context.Context, req sdk.ReadReceipt) error {
	if _, err := e.bot(req.Bot); err != nil {
		return err
	}
	e.mu.Lock()
	e.reads[req.SessionID]++
	e.mu.Unlock()
	return nil
}

// RecordRating records the user's rating as an agent message of the
// closed session (sdk.RatingRecorder: csat), which the host keeps and does
// not deliver.
func (e *Provider) RecordRating(ctx context.Context, req sdk.RatingRequest) error {
	b, err := e.bot(req.Bot)
	if err != nil {
		return err
	}
	return b.say(ctx, req.Bot, req.SessionID, "rating-"+req.IdempotencyKey, fmt.Sprintf("rated %d/%d %s", req.Score, req.Scale, req.Label))
}

// echoImage is the agent's attachment for "file".
const echoImage = "https://example.com/echo.png"

func (b bot) agent() sdk.Author {
	return sdk.Author{Type: sdk.AuthorAgent, Name: b.AgentName, AvatarURL: b.AvatarURL}
}

// push hands events to the host; a failure is retried by the host's caller.
func (b bot) push(ctx context.Context, botName string, events ...sdk.Event) error {
	if err := b.host.PushEvents(ctx, botName, events...); err != nil {
		return sdk.Retryable(err, 0)
	}
	return nil
}

// HandleWebhook: echo has no webhook, it pushes.
func (e *Provider) HandleWebhook(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error) {
	return sdk.WebhookResult{Status: 404, Body: []byte("echo has no webhook: it pushes its replies\n")}, nil
}
