// Package engine is livechatd's session engine: the lifecycle of DESIGN.md
// §2. It intercepts the reserved payloads, forwards everything else to the
// bot, hands user messages to the provider plugin and agent messages to the
// channel, and expires idle sessions.
//
// Every state change commits together with the work it causes (the
// transactional outbox); an outbox worker does that work with retries and
// backoff, one item at a time per queue so that order holds:
//
//	provider:<session>  the plugin calls of a session (start, sends, end)
//	channel:<bot>/<user> deliveries to the user (agent messages, notices)
//	bot:<bot>/<user>    notices to the bot (END, EXPIRED, FAILED)
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/sdk"
)

// Provider is a provider plugin as the engine uses it.
type Provider interface {
	StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error)
	SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error)
	EndSession(ctx context.Context, req sdk.EndRequest) error
	HandleWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error)
}

// Providers finds the provider plugin called name.
type Providers interface {
	Provider(name string) (Provider, error)
}

// ProvidersFunc adapts a function to Providers.
type ProvidersFunc func(name string) (Provider, error)

// Provider calls f.
func (f ProvidersFunc) Provider(name string) (Provider, error) { return f(name) }

// Bot is one bot's settings, as the config file gives them.
type Bot struct {
	Name           string
	Provider       string
	SessionTimeout time.Duration
	StartTimeout   time.Duration
	ExpiredNotice  host.ExpiredNotice
	TranscriptSize int
	BotURL         string
	// ChannelURL receives deliveries; empty when Webchat is set.
	ChannelURL    string
	Webchat       bool
	ChannelSecret string
	WebhookToken  string
	Messages      Messages
}

// Messages are the texts the host itself says to users.
type Messages struct {
	Start       string
	EndPrompt   string
	EndButton   string
	Unavailable string
}

// Options tune an Engine. Zero values take the defaults shown.
type Options struct {
	Logger hclog.Logger
	// Now is the clock (time.Now).
	Now func() time.Time
	// HTTPClient calls bots and channels (a client with a 15s timeout).
	HTTPClient *http.Client
	// Workers is how many outbox items run at once (8).
	Workers int
	// RetryBase and RetryMax bound the exponential backoff of outbox
	// retries (1s, 5m); MaxAttempts failed attempts make a dead letter (25).
	RetryBase   time.Duration
	RetryMax    time.Duration
	MaxAttempts int
	// AttemptTimeout bounds one attempt at an outbox item (1m); it must be
	// shorter than the store's claim lease.
	AttemptTimeout time.Duration
	// ExpiryInterval is how often due expiries are looked up (1s).
	ExpiryInterval time.Duration
	// Webchat receives deliveries for bots with channel = "webchat".
	Webchat Channel
	// Metrics counts what happens; nil counts nothing.
	Metrics *Metrics
	// OnWork, when set, is called after every attempt at an outbox item,
	// with the attempt's error: for tests and tracing.
	OnWork func(it *host.OutboxItem, err error)
}

// Channel takes deliveries to users for bots without a channel_url. key is
// the same on every retry of a delivery, so the channel can drop a repeat.
type Channel interface {
	Deliver(ctx context.Context, bot, key string, d Delivery) error
}

// Engine runs the session lifecycle for every bot.
type Engine struct {
	store     host.Store
	providers Providers
	bots      map[string]*Bot
	opts      Options
	log       hclog.Logger
	now       func() time.Time

	poke chan struct{} // wakes the outbox dispatcher when a queue frees up
	stop chan struct{}
	wg   sync.WaitGroup
}

// New returns an engine; Run starts its background work.
func New(store host.Store, providers Providers, bots []*Bot, opts Options) *Engine {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 5 * time.Minute
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 25
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = time.Minute
	}
	if opts.ExpiryInterval <= 0 {
		opts.ExpiryInterval = time.Second
	}
	e := &Engine{
		store:     store,
		providers: providers,
		bots:      map[string]*Bot{},
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		poke:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	for _, b := range bots {
		e.bots[b.Name] = b
	}
	return e
}

// Bot returns the settings of the bot called name, or ENOTFOUND.
func (e *Engine) Bot(name string) (*Bot, error) {
	if b, ok := e.bots[name]; ok {
		return b, nil
	}
	return nil, &host.Error{Code: host.ENOTFOUND, Field: "bot", Message: fmt.Sprintf("unknown bot %q", name)}
}

// Bots lists the bots of a provider.
func (e *Engine) botsOf(provider string) []*Bot {
	var out []*Bot
	for _, b := range e.bots {
		if b.Provider == provider {
			out = append(out, b)
		}
	}
	return out
}

// HandleEvent handles one channel event for bot: forwarded to the bot when
// the user has no session, intercepted when they have one or ask for one.
func (e *Engine) HandleEvent(ctx context.Context, botName string, ev Event) (Reply, error) {
	b, err := e.Bot(botName)
	if err != nil {
		return Reply{}, err
	}
	if err := ev.Validate(); err != nil {
		return Reply{}, err
	}
	ev.Client.BotID = b.Name
	if ev.RequestID != "" {
		var recalled json.RawMessage
		var ok bool
		err := e.store.Tx(ctx, func(tx host.Tx) error {
			recalled, ok, err = tx.RecalledRequest(b.Name, ev.RequestID)
			return err
		})
		if err != nil {
			return Reply{}, err
		}
		if ok {
			var r Reply
			if err := json.Unmarshal(recalled, &r); err == nil {
				e.opts.Metrics.event(b.Name, "replayed")
				return r, nil
			}
		}
	}
	reply, err := e.handle(ctx, b, ev)
	if err != nil {
		return Reply{}, err
	}
	if ev.RequestID != "" {
		if raw, err := json.Marshal(reply); err == nil {
			if err := e.store.Tx(ctx, func(tx host.Tx) error { return tx.RememberRequest(b.Name, ev.RequestID, raw) }); err != nil {
				e.log.Warn("remember request", "bot", b.Name, "error", err)
			}
		}
	}
	return reply, nil
}

func (e *Engine) handle(ctx context.Context, b *Bot, ev Event) (Reply, error) {
	// In next_message mode the bot hears of an expiry just before the
	// user's next event, and both answers go back together.
	notice, err := e.pendingNotice(ctx, b, ev)
	if err != nil {
		return Reply{}, err
	}
	sess, err := e.store.OpenSession(ctx, b.Name, ev.Client.UserID)
	switch {
	case host.ErrorCode(err) == host.ENOTFOUND:
		sess = nil
	case err != nil:
		return Reply{}, err
	}
	var reply Reply
	switch {
	case sess == nil && ev.Payload.is(PayloadStart):
		reply, err = e.start(ctx, b, ev)
	case sess == nil:
		reply, err = e.forward(ctx, b, ev, "forwarded")
	case ev.Payload.is(PayloadStart):
		// A second START opens nothing new.
		e.opts.Metrics.event(b.Name, "start_again")
		reply = Reply{Livechat: &Livechat{SessionID: sess.ID, State: string(sess.State)}}
	case ev.Payload.is(PayloadEnd):
		reply, err = e.endByUser(ctx, b, sess, ev)
	default:
		reply, err = e.toAgent(ctx, b, sess, ev)
	}
	if err != nil {
		return Reply{}, err
	}
	if notice != nil {
		reply.Messages = append(notice.Messages, reply.Messages...)
	}
	return reply, nil
}

// pendingNotice tells the bot of an expiry it has not heard of yet and
// returns its answer, or nil when there is none to tell.
func (e *Engine) pendingNotice(ctx context.Context, b *Bot, ev Event) (*Reply, error) {
	sess, err := e.store.PendingNotice(ctx, b.Name, ev.Client.UserID)
	if host.ErrorCode(err) == host.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	notice := Event{RequestID: "notice-expired-" + sess.ID, Client: ev.Client, Metadata: sess.Metadata, Payload: payloadEvent(PayloadExpired)}
	reply, err := e.callBot(ctx, b, notice)
	if err != nil {
		return nil, err
	}
	err = e.store.Tx(ctx, func(tx host.Tx) error {
		s, err := tx.Session(sess.ID)
		if err != nil {
			return err
		}
		s.NoticePending = false
		return tx.UpdateSession(s)
	})
	return &reply, err
}

// forward sends the event to the bot and returns its reply, keeping both in
// the transcript.
func (e *Engine) forward(ctx context.Context, b *Bot, ev Event, outcome string) (Reply, error) {
	reply, err := e.callBot(ctx, b, ev)
	if err != nil {
		return Reply{}, err
	}
	e.opts.Metrics.event(b.Name, outcome)
	err = e.store.Tx(ctx, func(tx host.Tx) error {
		if err := tx.AppendMessage(&host.Message{Bot: b.Name, UserID: ev.Client.UserID, Direction: host.DirectionIn,
			Author: host.AuthorUser, Payload: ev.Payload.raw()}); err != nil {
			return err
		}
		for _, m := range reply.Messages {
			if !json.Valid(m.Payload) || len(m.Payload) == 0 || m.Payload[0] != '{' {
				continue
			}
			if err := tx.AppendMessage(&host.Message{Bot: b.Name, UserID: ev.Client.UserID, Direction: host.DirectionOut,
				Author: host.AuthorBot, Payload: m.Payload}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		e.log.Warn("keep transcript", "bot", b.Name, "error", err)
	}
	return reply, nil
}

// start opens a session: stored as starting, with the plugin's start queued
// in the same transaction.
func (e *Engine) start(ctx context.Context, b *Bot, ev Event) (Reply, error) {
	transcript, err := e.store.Transcript(ctx, b.Name, ev.Client.UserID, b.TranscriptSize)
	if err != nil {
		return Reply{}, err
	}
	now := e.now()
	sess := &host.Session{
		ID:            host.NewID(),
		Bot:           b.Name,
		UserID:        ev.Client.UserID,
		ChannelID:     ev.Client.ChannelID,
		Provider:      b.Provider,
		State:         host.SessionStarting,
		Metadata:      ev.Metadata,
		ExpiredNotice: b.ExpiredNotice,
		ExpiresAt:     now.Add(b.SessionTimeout),
	}
	start := startWork{User: userOf(ev), Transcript: transcriptMessages(transcript)}
	err = e.store.Tx(ctx, func(tx host.Tx) error {
		if err := tx.CreateSession(sess); err != nil {
			if host.ErrorCode(err) != host.ECONFLICT {
				return err
			}
			// Another START of this user won the race: join its session.
			open, oerr := tx.OpenSession(b.Name, ev.Client.UserID)
			if oerr != nil {
				return oerr
			}
			sess = open
			return errJoined
		}
		if err := tx.AppendMessage(&host.Message{Bot: b.Name, UserID: sess.UserID, SessionID: sess.ID,
			Direction: host.DirectionIn, Author: host.AuthorUser, Payload: ev.Payload.raw()}); err != nil {
			return err
		}
		return e.enqueue(tx, sess, kindStart, "start:"+sess.ID, providerQueue(sess.ID), start)
	})
	if errors.Is(err, errJoined) {
		e.opts.Metrics.event(b.Name, "start_again")
		return Reply{Livechat: &Livechat{SessionID: sess.ID, State: string(sess.State)}}, nil
	}
	if err != nil {
		return Reply{}, err
	}
	e.opts.Metrics.event(b.Name, "start")
	e.opts.Metrics.sessionOpened(b.Name)
	e.log.Info("session starting", "bot", b.Name, "session", sess.ID, "provider", b.Provider)
	reply := Reply{Livechat: &Livechat{SessionID: sess.ID, State: string(host.SessionStarting)}}
	if b.Messages.Start != "" {
		reply.Messages = []OutMessage{hostMessage(textPayload(b.Messages.Start))}
	}
	return reply, nil
}

var errJoined = errors.New("joined the open session")

// toAgent queues a user message for the provider and keeps the session alive.
func (e *Engine) toAgent(ctx context.Context, b *Bot, sess *host.Session, ev Event) (Reply, error) {
	msg := &host.Message{ID: host.NewID(), Bot: b.Name, UserID: sess.UserID, SessionID: sess.ID,
		Direction: host.DirectionIn, Author: host.AuthorUser, Payload: ev.Payload.raw()}
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		s, err := tx.Session(sess.ID)
		if err != nil {
			return err
		}
		if !s.State.IsOpen() {
			return &host.Error{Code: host.ECONFLICT, Message: "the session ended meanwhile; send the event again"}
		}
		s.ExpiresAt = e.now().Add(b.SessionTimeout)
		if err := tx.UpdateSession(s); err != nil {
			return err
		}
		if err := tx.AppendMessage(msg); err != nil {
			return err
		}
		return e.enqueue(tx, s, kindSend, "send:"+msg.ID, providerQueue(s.ID), sendWork{MessageID: msg.ID, User: userOf(ev), Payload: ev.Payload})
	})
	if err != nil {
		return Reply{}, err
	}
	e.opts.Metrics.event(b.Name, "to_agent")
	return Reply{Livechat: &Livechat{SessionID: sess.ID, State: string(sess.State)}}, nil
}

// endByUser closes the session, queues the ticket's closing, and forwards
// the END to the bot, whose reply goes back to the channel.
func (e *Engine) endByUser(ctx context.Context, b *Bot, sess *host.Session, ev Event) (Reply, error) {
	ended, err := e.end(ctx, sess.ID, host.EndUser, false)
	if err != nil {
		return Reply{}, err
	}
	reply, err := e.forward(ctx, b, ev, "end")
	if err != nil {
		return Reply{}, err
	}
	reply.Livechat = &Livechat{SessionID: ended.ID, State: string(ended.State)}
	return reply, nil
}

// end closes an open session for reason and queues the ticket's closing;
// with notifyBot the bot hears LIVECHAT_SESSION_END through the outbox.
func (e *Engine) end(ctx context.Context, sessionID string, reason host.EndReason, notifyBot bool) (*host.Session, error) {
	var ended *host.Session
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		s, err := tx.Session(sessionID)
		if err != nil {
			return err
		}
		if !s.State.IsOpen() {
			return &host.Error{Code: host.ECONFLICT, Field: "state", Message: fmt.Sprintf("session %s is %s already", s.ID, s.State)}
		}
		ended = s
		return e.endTx(tx, s, reason, notifyBot)
	})
	if err != nil {
		return nil, err
	}
	e.ended(ended)
	return ended, nil
}

// endTx closes the open session s inside tx. The ticket's closing is queued
// behind the start and the sends of the session, so it comes last.
func (e *Engine) endTx(tx host.Tx, s *host.Session, reason host.EndReason, notifyBot bool) error {
	s.State, s.EndReason = host.SessionEnded, reason
	if err := tx.UpdateSession(s); err != nil {
		return err
	}
	if err := e.enqueue(tx, s, kindEnd, "end:"+s.ID, providerQueue(s.ID), endWork{Reason: sdk.EndReason(reason)}); err != nil {
		return err
	}
	if notifyBot {
		return e.enqueue(tx, s, kindNotice, "notice-end:"+s.ID, botQueue(s.Bot, s.UserID), noticeWork{Payload: PayloadEnd})
	}
	return nil
}

// ended counts and logs a session closed by endTx.
func (e *Engine) ended(s *host.Session) {
	e.opts.Metrics.sessionClosed(s.Bot, string(s.EndReason))
	e.log.Info("session ended", "bot", s.Bot, "session", s.ID, "reason", s.EndReason)
}

// EndSession ends a session for an admin.
func (e *Engine) EndSession(ctx context.Context, id string) (*host.Session, error) {
	return e.end(ctx, id, host.EndAdmin, true)
}

func userOf(ev Event) sdk.User {
	return sdk.User{ID: ev.Client.UserID, ChannelID: ev.Client.ChannelID, Metadata: ev.Metadata}
}

func userOfSession(s *host.Session) sdk.User {
	return sdk.User{ID: s.UserID, ChannelID: s.ChannelID, Metadata: s.Metadata}
}

// transcriptMessages turns stored messages into the provider's transcript.
func transcriptMessages(ms []*host.Message) []sdk.Message {
	var out []sdk.Message
	for _, m := range ms {
		var p Payload
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			continue
		}
		out = append(out, sdk.Message{
			ID:          m.ID,
			ContentType: p.ContentType,
			Content:     p.Content,
			Author:      sdk.Author{Type: sdk.AuthorType(m.Author), Name: m.AuthorName},
			Time:        m.CreatedAt,
		})
	}
	return out
}
