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
//
// A platform may fire every integration of an account for every ticket
// (Gorgias does, and disables an integration after 100 failed answers in a
// row): with two bots on one account, each bot's webhook sees the other's
// tickets. So an event that names another bot's session, an unknown
// session, or a ticket that is not its session's is ignored — logged,
// counted as result "ignored", and not remembered as seen, so the bot it
// belongs to still applies it — and the webhook's other events are applied.
// Only a wrong token (401) or a request the plugin refuses is an error.
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
	applied, ignored, err := e.applyEvents(ctx, b, b.Provider, res.Events, true)
	if err != nil {
		e.opts.Metrics.webhook(r.Provider, host.ErrorCode(err))
		return WebhookResponse{}, err
	}
	e.opts.Metrics.webhook(r.Provider, webhookResult(ignored))
	out := WebhookResponse{Status: res.Status, Header: res.Header, Body: res.Body}
	if out.Status == 0 {
		out.Status = 200
	}
	if len(out.Body) == 0 {
		out.Body, _ = json.Marshal(map[string]int{"events": len(res.Events), "applied": applied, "ignored": ignored})
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
	_, ignored, err := e.applyEvents(ctx, b, b.Provider, res.Events, true)
	if err != nil {
		if host.ErrorCode(err) == host.EINVALID {
			return sdk.Permanent(err)
		}
		return err
	}
	e.opts.Metrics.webhook(w.Provider, webhookResult(ignored))
	return nil
}

// webhookResult is the result a webhook is counted under: "ignored" when at
// least one of its events was.
func webhookResult(ignored int) string {
	if ignored > 0 {
		return "ignored"
	}
	return "ok"
}

// PushEvents takes events a plugin pushes for bot (sdk.Host), as pushed by
// the bot's own provider: see PushEventsAs.
func (e *Engine) PushEvents(ctx context.Context, bot string, events ...sdk.Event) error {
	b, err := e.Bot(bot)
	if err != nil {
		return sdk.NotFound("%v", err)
	}
	return e.PushEventsAs(ctx, b.Provider, bot, events...)
}

// PushEventsAs takes events the plugin of provider pushes for bot
// (pluginhost.ProviderHost). Unlike a webhook's, a push is the plugin's own
// word and is checked whole: a bot of another provider, another bot's
// session, a session opened with another provider or a ticket that is not
// the session's refuses the whole push for good (a plugin bug or a hostile
// plugin: logged), an unknown session refuses it as NotFound, and then
// nothing of it is applied.
//
// It runs on the gRPC server the plugin calls back, which does not recover
// panics: a panic here is turned into a retryable error for the plugin.
func (e *Engine) PushEventsAs(ctx context.Context, provider, bot string, events ...sdk.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("panic while applying pushed events", "provider", provider, "bot", bot, "panic", r, "stack", string(debug.Stack()))
			err = sdk.Retryable(fmt.Errorf("livechatd failed on these events: %v", r), 0)
		}
	}()
	b, err := e.Bot(bot)
	if err != nil {
		return sdk.NotFound("%v", err)
	}
	if b.Provider != provider {
		e.log.Warn("plugin pushed events for a bot of another provider; refused", "provider", provider, "bot", bot, "bot_provider", b.Provider)
		return sdk.Permanent(fmt.Errorf("bot %q does not use provider %q", bot, provider))
	}
	_, _, err = e.applyEvents(ctx, b, provider, events, false)
	switch host.ErrorCode(err) {
	case "":
		return nil
	case host.ENOTFOUND:
		return sdk.NotFound("%s", host.ErrorMessage(err))
	case host.EFORBIDDEN:
		e.log.Warn("plugin pushed events for a session that is not its bot's; refused", "provider", provider, "bot", bot, "reason", host.ErrorMessage(err))
		return sdk.Permanent(err)
	case host.EINVALID:
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

// applyEvents checks every event, then applies them in order. An event
// whose session is not this bot's (resolve's ENOTFOUND and EFORBIDDEN) fails
// the lot, or, when ignore is set, is skipped and counted in ignored; any
// other refusal fails the lot, before anything is applied. applied counts
// the events that changed something (replays and events for closed
// sessions do not).
func (e *Engine) applyEvents(ctx context.Context, b *Bot, provider string, events []sdk.Event, ignore bool) (applied, ignored int, err error) {
	var targets []target
	for _, ev := range events {
		s, err := e.resolve(ctx, b, provider, ev)
		if err != nil {
			code := host.ErrorCode(err)
			if !ignore || (code != host.ENOTFOUND && code != host.EFORBIDDEN) {
				return 0, 0, err
			}
			ignored++
			e.logIgnored(b, ev, err)
			continue
		}
		if s != nil {
			targets = append(targets, target{ev, s})
		}
	}
	for _, t := range targets {
		if t.ev.Type == sdk.EventAgentTyping {
			// Typing is never stored: relayed at once, best effort.
			e.agentTyping(b, t.sess, t.ev)
			applied++
			continue
		}
		ok, err := e.apply(ctx, b, t)
		if err != nil {
			return applied, ignored, err
		}
		if ok {
			applied++
		}
	}
	return applied, ignored, nil
}

// logIgnored says why a webhook's event was ignored: at info for what a
// platform firing every integration for every ticket sends (another bot's
// or an unknown session), at warn for a ticket that is not its session's,
// which no platform sends by itself.
func (e *Engine) logIgnored(b *Bot, ev sdk.Event, why error) {
	log := e.log.Info
	var he *host.Error
	if errors.As(why, &he) && he.Code == host.EFORBIDDEN && he.Field == "ref" {
		log = e.log.Warn
	}
	log("webhook event ignored: not this bot's", "bot", b.Name, "provider", b.Provider, "event", ev.ID, "type", ev.Type,
		"session", ev.SessionID, "ref", ev.Ref, "reason", host.ErrorMessage(why))
}

// resolve finds the session an event names and checks that it is this
// bot's, that it was opened with provider (the plugin that sent the event),
// and that the ticket is the session's. nil means the event names no
// session at all (a ticket that is not a livechat's): it is ignored.
func (e *Engine) resolve(ctx context.Context, b *Bot, provider string, ev sdk.Event) (*host.Session, error) {
	switch ev.Type {
	case sdk.EventAgentMessage, sdk.EventSessionClosed, sdk.EventAgentJoined, sdk.EventAgentTyping, sdk.EventQueuePosition:
	default:
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
			return nil, &host.Error{Code: host.ENOTFOUND, Field: "ref", Message: fmt.Sprintf("no livechat session of bot %q for %s ticket %q", b.Name, b.Provider, ev.Ref)}
		}
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if s.Bot != b.Name {
		return nil, &host.Error{Code: host.EFORBIDDEN, Field: "session", Message: fmt.Sprintf("session %s belongs to another bot", s.ID)}
	}
	if s.Provider != provider {
		return nil, &host.Error{Code: host.EFORBIDDEN, Field: "session", Message: fmt.Sprintf("session %s was opened with provider %q, not %q", s.ID, s.Provider, provider)}
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
	var outcome, firstReply *host.Outcome
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		firstReply = nil
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
			outcome, err = e.endTx(tx, s, host.EndAgent, true)
			return err
		case sdk.EventAgentMessage:
			applied = true
			firstReply, err = e.agentMessageTx(tx, b, s, t.ev)
			return err
		case sdk.EventAgentJoined, sdk.EventQueuePosition:
			applied = true
			return e.presenceTx(tx, b, s, t.ev)
		}
		return nil
	})
	if err == nil && ended != nil {
		e.ended(ended, outcome)
	}
	if err == nil && firstReply != nil {
		e.opts.Metrics.firstAgent(firstReply)
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

// agentPayload is an agent's message as a CSML payload. An attachment is
// an image or file payload with content.url (and name, mime and size when
// known): an image when the provider said so or its type is image/*.
func agentPayload(ev sdk.Event) Payload {
	if a := ev.Message.Attachment; a != nil && a.URL != "" {
		ct := ev.Message.ContentType
		if !isFile(ct) {
			ct = "file"
			if strings.HasPrefix(a.MIME, "image/") {
				ct = "image"
			}
		}
		c := map[string]any{"url": a.URL}
		if a.Name != "" {
			c["name"] = a.Name
		}
		if a.MIME != "" {
			c["mime"] = a.MIME
		}
		if a.Size > 0 {
			c["size"] = a.Size
		}
		return Payload{ContentType: ct, Content: c}
	}
	p := Payload{ContentType: ev.Message.ContentType, Content: ev.Message.Content}
	if p.ContentType == "" {
		p.ContentType = "text"
	}
	return p
}

// agentMessageTx keeps an agent's message and queues it for the user; the
// sign-off token turns it into a question with the quit button. The first
// agent message of a session stops its waiting feedback; its outcome is
// returned then, for the time to first agent message.
func (e *Engine) agentMessageTx(tx host.Tx, b *Bot, s *host.Session, ev sdk.Event) (*host.Outcome, error) {
	first, err := e.stopWaiting(tx, s, true)
	if err != nil {
		return nil, err
	}
	return first, e.agentMessageWrite(tx, b, s, ev)
}

func (e *Engine) agentMessageWrite(tx host.Tx, b *Bot, s *host.Session, ev sdk.Event) error {
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
	author := agentAuthor(ev.Message.Author)
	d := Delivery{Client: clientOf(s), SessionID: s.ID, Messages: []OutMessage{{Payload: p.raw(), Author: author}}}
	return e.enqueue(tx, s, kindDelivery, "agent:"+msg.ID, channelQueue(s.Bot, s.UserID), d)
}
