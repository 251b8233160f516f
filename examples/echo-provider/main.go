// Command livechat-provider-echo is the smallest real livechatd provider: it
// plays the support agent itself, answering every user message with
// "echo: <text>" through the host's push service, so it needs no platform.
// Copy it to start a provider of your own; see README.md.
//
// Say "sign off" to get the agent's sign-off (the "Quit livechat" button), and
// "close" to have the agent close the session. The handoff features
// (docs/handoff.md) can be tried too: "typing" (the agent types), "queue"
// (place 2, about 90 s), "file" (an image from the agent), "routing" (the
// session's normalized routing echoed), "read" (how many read receipts
// came); an image or file is echoed with its name, type and URL; the agent
// types while the user types; a CSAT rating is recorded. With
// silent = true the agent never answers, to see the waiting feedback and
// max_wait; with avatar_url set the agent joins before the greeting.
package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

var info = sdk.Info{
	Name:         "echo",
	Version:      "1.0.0",
	Description:  "An agent that echoes the user; for demos, tests and as a template.",
	Capabilities: []sdk.Capability{sdk.CapPush, sdk.CapAgentAssigned, sdk.CapAgentTyping, sdk.CapQueuePosition, sdk.CapAttachments, sdk.CapRouting},
	Schema: sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "greeting", Type: sdk.String, Required: true, Description: "What the agent says when a session starts."},
		{Name: "agent_name", Type: sdk.String, Default: "Echo", Description: "The agent's name shown to the user."},
		{Name: "prefix", Type: sdk.String, Default: "echo: ", Description: "Put before every echoed text."},
		{Name: "silent", Type: sdk.Bool, Default: false, Description: "Never answer: no greeting, no echo, as when no agent is free (to try the waiting feedback)."},
		{Name: "avatar_url", Type: sdk.String, URL: true, Description: "When set, the agent joins (agent_joined, with this avatar) before the greeting."},
	}},
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

type echo struct {
	mu   sync.Mutex
	bots map[string]bot
	// routing is each open session's StartRequest.Routing, for "routing".
	routing map[string]sdk.Routing
	// reads counts each open session's read receipts, for "read".
	reads map[string]int
	typed atomic.Int64
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
	msg.Author = b.agent()
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

func (e *echo) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
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

func (e *echo) EndSession(_ context.Context, req sdk.EndRequest) error {
	e.mu.Lock()
	delete(e.routing, req.SessionID)
	delete(e.reads, req.SessionID)
	e.mu.Unlock()
	return nil
}

// SendTyping mirrors the user's typing: the agent types while the user
// does (sdk.TypingSender, so the host relays typing: user_typing).
func (e *echo) SendTyping(ctx context.Context, req sdk.TypingRequest) error {
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
func (e *echo) MarkRead(_ context.Context, req sdk.ReadReceipt) error {
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
func (e *echo) RecordRating(ctx context.Context, req sdk.RatingRequest) error {
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

func (e *echo) HandleWebhook(context.Context, sdk.WebhookRequest) (sdk.WebhookResult, error) {
	return sdk.WebhookResult{Status: 404, Body: []byte("echo has no webhook: it pushes its replies\n")}, nil
}

func main() {
	sdk.Serve(info, &echo{bots: map[string]bot{}, routing: map[string]sdk.Routing{}, reads: map[string]int{}})
}
