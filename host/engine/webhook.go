package engine

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/sdk"
)

// WebhookRequest is a platform's request to /v1/livechat/{provider}/receive.
type WebhookRequest struct {
	Provider string
	// Token is the bot's webhook token, from ?token= or X-Livechat-Token.
	Token  string
	Method string
	Path   string
	Query  map[string][]string
	Header map[string][]string
	Body   []byte
}

// WebhookResponse is the answer to give the platform.
type WebhookResponse struct {
	Status int
	Header map[string][]string
	Body   []byte
}

// HandleWebhook authenticates a platform's request by the bot's token,
// hands it to the bot's provider plugin and applies the events it finds.
// Events are checked before any is applied: a request naming a session of
// another bot, or a ticket that is not its session's, delivers nothing.
func (e *Engine) HandleWebhook(ctx context.Context, r WebhookRequest) (WebhookResponse, error) {
	bots := e.botsOf(r.Provider)
	if len(bots) == 0 {
		return WebhookResponse{}, &host.Error{Code: host.ENOTFOUND, Field: "provider", Message: fmt.Sprintf("no bot uses provider %q", r.Provider)}
	}
	if r.Token == "" {
		return WebhookResponse{}, &host.Error{Code: host.EUNAUTHORIZED, Field: "token", Message: "webhook token required (?token= or X-Livechat-Token)"}
	}
	b := botByToken(bots, r.Token)
	if b == nil {
		e.opts.Metrics.webhook(r.Provider, "unauthorized")
		return WebhookResponse{}, &host.Error{Code: host.EUNAUTHORIZED, Field: "token", Message: "wrong webhook token"}
	}
	req := sdk.WebhookRequest{Bot: b.Name, Method: r.Method, Path: r.Path,
		Query: withoutKey(r.Query, "token"), Header: withoutKey(r.Header, "X-Livechat-Token"), Body: r.Body}
	// Webhooks that wait for the plugin go first: a new one waits behind them.
	waiting, err := e.store.Pending(ctx, host.WebhookQueue(b.Name))
	if err != nil {
		return WebhookResponse{}, err
	}
	if waiting {
		return e.queueWebhook(ctx, b, req, errors.New("earlier webhooks wait for the plugin"))
	}
	res, err := e.callWebhook(ctx, b, req)
	if err != nil {
		if retryable, _ := sdk.IsRetryable(err); retryable {
			// The plugin is down, or the platform behind it: keep the
			// webhook and hand it to the plugin later, rather than
			// answer 5xx to a platform that may never send it again.
			return e.queueWebhook(ctx, b, req, err)
		}
		switch sdk.KindOf(err) {
		case sdk.KindInvalid:
			return WebhookResponse{}, &host.Error{Code: host.EINVALID, Message: err.Error(), Err: err}
		case sdk.KindUnauthorized:
			return WebhookResponse{}, &host.Error{Code: host.EUNAUTHORIZED, Message: err.Error(), Err: err}
		case sdk.KindNotFound:
			return WebhookResponse{}, &host.Error{Code: host.ENOTFOUND, Message: err.Error(), Err: err}
		}
		return WebhookResponse{}, upstream("provider", "the provider plugin failed: "+err.Error(), err)
	}
	applied, err := e.applyEvents(ctx, b, res.Events)
	if err != nil {
		e.opts.Metrics.webhook(r.Provider, host.ErrorCode(err))
		return WebhookResponse{}, err
	}
	e.opts.Metrics.webhook(r.Provider, "ok")
	out := WebhookResponse{Status: res.Status, Header: res.Header, Body: res.Body}
	if out.Status == 0 {
		out.Status = 200
	}
	if len(out.Body) == 0 {
		out.Body, _ = json.Marshal(map[string]int{"events": len(res.Events), "applied": applied})
		out.Header = map[string][]string{"Content-Type": {"application/json"}}
	}
	return out, nil
}

// callWebhook hands a webhook to the bot's provider plugin.
func (e *Engine) callWebhook(ctx context.Context, b *Bot, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	p, err := e.providers.Provider(b.Provider)
	if err != nil {
		return sdk.WebhookResult{}, sdk.Retryable(err, 0)
	}
	return p.HandleWebhook(ctx, req)
}

// webhookWork is a webhook kept for the plugin: the request as the plugin
// would have seen it, the bot's token already removed.
type webhookWork struct {
	Provider string `json:"provider"`
	sdk.WebhookRequest
}

// queueWebhook keeps an authenticated webhook in the bot's webhook queue and
// answers 202: the outbox hands it to the plugin, in order, once it can.
func (e *Engine) queueWebhook(ctx context.Context, b *Bot, req sdk.WebhookRequest, why error) (WebhookResponse, error) {
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		return e.enqueue(tx, nil, kindWebhook, "webhook:"+host.NewID(), host.WebhookQueue(b.Name), webhookWork{Provider: b.Provider, WebhookRequest: req})
	})
	if err != nil {
		return WebhookResponse{}, err
	}
	e.opts.Metrics.webhook(b.Provider, "queued")
	e.log.Warn("webhook kept for later: the plugin cannot take it now", "bot", b.Name, "provider", b.Provider, "reason", why)
	body, _ := json.Marshal(map[string]bool{"queued": true})
	return WebhookResponse{Status: http.StatusAccepted, Header: map[string][]string{"Content-Type": {"application/json"}}, Body: body}, nil
}

// doWebhook hands a kept webhook to the plugin and applies its events. What
// the plugin or the checks refuse for good is a dead letter.
func (e *Engine) doWebhook(ctx context.Context, it *host.OutboxItem) error {
	w, err := decode[webhookWork](it)
	if err != nil {
		return err
	}
	b, err := e.Bot(w.Bot)
	if err != nil {
		return err
	}
	res, err := e.callWebhook(ctx, b, w.WebhookRequest)
	if err != nil {
		return err
	}
	if _, err := e.applyEvents(ctx, b, res.Events); err != nil {
		switch host.ErrorCode(err) {
		case host.ENOTFOUND, host.EFORBIDDEN, host.EINVALID:
			return sdk.Permanent(err)
		}
		return err
	}
	e.opts.Metrics.webhook(w.Provider, "ok")
	return nil
}

// PushEvents takes events a plugin pushes for bot (sdk.Host). It runs on
// the gRPC server the plugin calls back, which does not recover panics: a
// panic here is turned into a retryable error for the plugin.
func (e *Engine) PushEvents(ctx context.Context, bot string, events ...sdk.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("panic while applying pushed events", "bot", bot, "panic", r, "stack", string(debug.Stack()))
			err = sdk.Retryable(fmt.Errorf("livechatd failed on these events: %v", r), 0)
		}
	}()
	b, err := e.Bot(bot)
	if err != nil {
		return sdk.NotFound("%v", err)
	}
	_, err = e.applyEvents(ctx, b, events)
	switch host.ErrorCode(err) {
	case "":
		return nil
	case host.ENOTFOUND:
		return sdk.NotFound("%s", host.ErrorMessage(err))
	case host.EFORBIDDEN, host.EINVALID:
		return sdk.Permanent(err)
	}
	return sdk.Retryable(err, 0)
}

// botByToken finds the bot whose token is token, comparing in constant time
// and against every bot, so timing tells nothing.
func botByToken(bots []*Bot, token string) *Bot {
	var found *Bot
	got := sha256.Sum256([]byte(token))
	for _, b := range bots {
		if b.WebhookToken == "" {
			continue
		}
		want := sha256.Sum256([]byte(b.WebhookToken))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			found = b
		}
	}
	return found
}

func withoutKey(m map[string][]string, key string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		if !strings.EqualFold(k, key) {
			out[k] = v
		}
	}
	return out
}

// target is an event and the session it is for.
type target struct {
	ev   sdk.Event
	sess *host.Session
}

// applyEvents checks every event, then applies them in order; it returns
// how many changed something (replays and events for closed sessions do not).
func (e *Engine) applyEvents(ctx context.Context, b *Bot, events []sdk.Event) (int, error) {
	var targets []target
	for _, ev := range events {
		s, err := e.resolve(ctx, b, ev)
		if err != nil {
			return 0, err
		}
		if s != nil {
			targets = append(targets, target{ev, s})
		}
	}
	applied := 0
	for _, t := range targets {
		ok, err := e.apply(ctx, b, t)
		if err != nil {
			return applied, err
		}
		if ok {
			applied++
		}
	}
	return applied, nil
}

// resolve finds the session an event names and checks that it is this
// bot's, and that the ticket is the session's. nil means the event names no
// session at all (a ticket that is not a livechat's): it is ignored.
func (e *Engine) resolve(ctx context.Context, b *Bot, ev sdk.Event) (*host.Session, error) {
	if ev.Type != sdk.EventAgentMessage && ev.Type != sdk.EventSessionClosed {
		return nil, &host.Error{Code: host.EINVALID, Field: "type", Message: fmt.Sprintf("unknown event type %q", ev.Type)}
	}
	if ev.ID == "" {
		return nil, &host.Error{Code: host.EINVALID, Field: "id", Message: fmt.Sprintf("%s event without an id: the provider must give every event an id unique within its conversation", ev.Type)}
	}
	var s *host.Session
	var err error
	switch {
	case ev.SessionID != "":
		s, err = e.store.Session(ctx, ev.SessionID)
		if host.ErrorCode(err) == host.ENOTFOUND {
			return nil, &host.Error{Code: host.ENOTFOUND, Field: "session", Message: fmt.Sprintf("no livechat session %q", ev.SessionID)}
		}
	case ev.Ref != "":
		s, err = e.store.FindSessionByRef(ctx, b.Name, ev.Ref)
		if host.ErrorCode(err) == host.ENOTFOUND {
			return nil, &host.Error{Code: host.ENOTFOUND, Field: "ref", Message: fmt.Sprintf("no livechat session for %s ticket %q", b.Provider, ev.Ref)}
		}
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.Bot != b.Name {
		return nil, &host.Error{Code: host.EFORBIDDEN, Field: "session", Message: "the session belongs to another bot"}
	}
	if ev.Ref != "" && s.ProviderRef != "" && ev.Ref != s.ProviderRef {
		return nil, &host.Error{Code: host.EFORBIDDEN, Field: "ref", Message: fmt.Sprintf("ticket %q is not the ticket of session %s", ev.Ref, s.ID)}
	}
	return s, nil
}

// apply applies one checked event exactly once. Event ids are remembered
// per session: a platform's ids only have to be unique within a
// conversation, and a platform that starts its ids again (a sandbox reset)
// never has a new session's events dropped as replays.
func (e *Engine) apply(ctx context.Context, b *Bot, t target) (bool, error) {
	applied, late := false, false
	var ended *host.Session
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		first, err := tx.MarkProcessed("session:"+t.sess.ID, t.ev.ID)
		if err != nil || !first {
			return err
		}
		s, err := tx.Session(t.sess.ID)
		if err != nil {
			return err
		}
		if !s.State.IsOpen() {
			if t.ev.Type != sdk.EventAgentMessage {
				return nil // closed already
			}
			// Too late to deliver: kept for the record, and counted.
			late = true
			return tx.AppendMessage(&host.Message{Bot: b.Name, UserID: s.UserID, SessionID: s.ID, Direction: host.DirectionOut,
				Author: host.AuthorAgent, AuthorName: t.ev.Message.Author.Name, Payload: agentPayload(t.ev).raw(), Late: true})
		}
		switch t.ev.Type {
		case sdk.EventSessionClosed:
			ended, applied = s, true
			return e.endTx(tx, s, host.EndAgent, true)
		case sdk.EventAgentMessage:
			applied = true
			return e.agentMessageTx(tx, b, s, t.ev)
		}
		return nil
	})
	if err == nil && ended != nil {
		e.ended(ended)
	}
	if err == nil && applied && t.ev.Type == sdk.EventAgentMessage {
		e.opts.Metrics.event(b.Name, "from_agent")
	}
	if err == nil && late {
		e.opts.Metrics.event(b.Name, "late_agent_message")
		e.log.Info("agent message after the session closed; kept, not delivered", "bot", b.Name, "session", t.sess.ID, "event", t.ev.ID)
	}
	return applied, err
}

// agentPayload is an agent's message as a CSML payload.
func agentPayload(ev sdk.Event) Payload {
	p := Payload{ContentType: ev.Message.ContentType, Content: ev.Message.Content}
	if p.ContentType == "" {
		p.ContentType = "text"
	}
	return p
}

// agentMessageTx keeps an agent's message and queues it for the user; the
// sign-off token turns it into a question with the quit button.
func (e *Engine) agentMessageTx(tx host.Tx, b *Bot, s *host.Session, ev sdk.Event) error {
	p := agentPayload(ev)
	if text, ok := p.Content["text"].(string); ok && p.ContentType == "text" && strings.Contains(text, PayloadEnd) {
		title := strings.TrimSpace(strings.ReplaceAll(text, PayloadEnd, ""))
		if title == "" {
			title = b.Messages.EndPrompt
		}
		p = signOff(title, b.Messages.EndButton)
	}
	s.ExpiresAt = e.now().Add(b.SessionTimeout)
	if err := tx.UpdateSession(s); err != nil {
		return err
	}
	msg := &host.Message{ID: host.NewID(), Bot: b.Name, UserID: s.UserID, SessionID: s.ID, Direction: host.DirectionOut,
		Author: host.AuthorAgent, AuthorName: ev.Message.Author.Name, Payload: p.raw()}
	if err := tx.AppendMessage(msg); err != nil {
		return err
	}
	author := &Author{Type: string(host.AuthorAgent), Name: ev.Message.Author.Name}
	d := Delivery{Client: clientOf(s), SessionID: s.ID, Messages: []OutMessage{{Payload: p.raw(), Author: author}}}
	return e.enqueue(tx, s, kindDelivery, "agent:"+msg.ID, channelQueue(s.Bot, s.UserID), d)
}
