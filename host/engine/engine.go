// Package engine is livechatd's session engine: the lifecycle of
// docs/lifecycle.md. It intercepts the reserved payloads, forwards everything else to the
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
	// InsecureEvents takes events without X-Livechat-Signature
	// (insecure_events); EventTolerance bounds the age of a signature's
	// timestamp either way (0: DefaultEventTolerance). See VerifyEvent.
	InsecureEvents bool
	EventTolerance time.Duration
	WebhookToken   string
	Messages       Messages
	// Reconcile is how the bot's sessions are read back from the platform.
	Reconcile Reconcile
	// Waiting is the feedback between START and the first agent message;
	// zero: none. Hours, when set, are when START opens a live session;
	// CSAT, when set, asks a rating after an end by the user or the agent
	// (docs/handoff.md).
	Waiting Waiting
	Hours   *Hours
	CSAT    *CSAT
}

// Messages are the texts the host itself says to users.
type Messages struct {
	Start       string
	EndPrompt   string
	EndButton   string
	Unavailable string
	// The texts of docs/handoff.md: Closed (a START outside hours),
	// Offline (the same with an offline ticket; {opens}), AgentJoined
	// ({agent}), QueuePosition ({position}), ExpectedWait ({wait}), Ended
	// (an end by the agent, an admin or the expiry). Empty: not said.
	Closed        string
	Offline       string
	AgentJoined   string
	QueuePosition string
	ExpectedWait  string
	Ended         string
}

// Options tune an Engine. Zero values take the defaults shown.
type Options struct {
	Logger hclog.Logger
	// Now is the clock (time.Now).
	Now func() time.Time
	// HTTPClient calls bots and channels (a client with a 15s timeout).
	HTTPClient *http.Client
	// Workers is how many outbox items run at once (32). Items wait on
	// networks, not CPUs: enough workers that a few slow queues never hold
	// up the others.
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
	// ReconcileTick is how often sessions due to be read back from their
	// platform are looked up (1s); each bot's Reconcile.Interval says when
	// a session is due.
	ReconcileTick time.Duration
	// DefaultRateLimit is the API limit assumed for a platform when neither
	// the bot nor its plugin gives one (DefaultRateLimit).
	DefaultRateLimit sdk.RateLimit
	// Webchat receives deliveries for bots with channel = "webchat".
	Webchat Channel
	// Bots calls bots (HTTP to each bot's bot_url).
	Bots BotCaller
	// Channels receives deliveries for bots with a channel_url (signed
	// HTTP POSTs).
	Channels Channel
	// PluginDown reports whether a provider call failed because the plugin
	// is not running (failed, restarting): such work waits for it without
	// counting an attempt. nil: never.
	PluginDown func(error) bool
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
	store      host.Store
	providers  Providers
	botsByName map[string]*Bot
	opts       Options
	log        hclog.Logger
	now        func() time.Time

	bots      BotCaller
	channels  Channel
	requests  flights   // requests in flight, for concurrent duplicates
	userLocks userLocks // per-user steps that run one at a time
	rec       reconciler
	typing    throttle      // the user's typing relays
	read      throttle      // the user's read receipts
	ephemeral chan struct{} // typing deliveries running (deliverEphemeral)

	poke     chan struct{} // wakes the outbox dispatcher when a queue frees up
	stop     chan struct{}
	stopOnce sync.Once
	// workCtx is the context of outbox work; Close cancels it when its
	// deadline passes, and work cut short hands its claim back.
	workCtx    context.Context
	cancelWork context.CancelFunc
	wg         sync.WaitGroup
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
		opts.HTTPClient = &http.Client{Timeout: 15 * time.Second, Transport: newTransport()}
	}
	if opts.Workers <= 0 {
		opts.Workers = 32
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
	if opts.ReconcileTick <= 0 {
		opts.ReconcileTick = time.Second
	}
	if opts.DefaultRateLimit.IsZero() {
		opts.DefaultRateLimit = DefaultRateLimit
	}
	e := &Engine{
		store:      store,
		providers:  providers,
		botsByName: map[string]*Bot{},
		opts:       opts,
		log:        opts.Logger,
		now:        opts.Now,
		poke:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		ephemeral:  make(chan struct{}, maxEphemeral),
		typing:     throttle{every: typingEvery},
		read:       throttle{every: readEvery},
	}
	e.rec = reconciler{since: map[string]time.Time{}, restarts: map[string]int{}, unsupported: map[string]bool{}}
	for _, b := range bots {
		e.botsByName[b.Name] = b
		// Whatever the platform did while the host was down is read back
		// at once: every session last read before now is due.
		e.rec.since[b.Name] = opts.Now()
	}
	e.bots, e.channels = opts.Bots, opts.Channels
	if e.bots == nil {
		e.bots = httpBots{e}
	}
	if e.channels == nil {
		e.channels = httpChannels{e}
	}
	e.workCtx, e.cancelWork = context.WithCancel(context.Background())
	return e
}

// newTransport is the transport toward bots and channels: Go's default,
// but keeping as many idle connections per host as requests run at once.
// The default keeps 2, so under load every other call to a bot opened a new
// connection (and left one in TIME_WAIT).
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	return t
}

// Bot returns the settings of the bot called name, or ENOTFOUND.
func (e *Engine) Bot(name string) (*Bot, error) {
	if b, ok := e.botsByName[name]; ok {
		return b, nil
	}
	return nil, &host.Error{Code: host.ENOTFOUND, Field: "bot", Message: fmt.Sprintf("unknown bot %q", name)}
}

// Bots lists the bots of a provider.
func (e *Engine) botsOf(provider string) []*Bot {
	var out []*Bot
	for _, b := range e.botsByName {
		if b.Provider == provider {
			out = append(out, b)
		}
	}
	return out
}

// HandleEvent handles one channel event for bot: forwarded to the bot when
// the user has no session, intercepted when they have one or ask for one.
//
// With a request_id the event is handled exactly once: a retry gets the
// first answer, a concurrent duplicate waits for it, and the same id with
// another body is ECONFLICT. Without one, a retried event is a new event.
func (e *Engine) HandleEvent(ctx context.Context, botName string, ev Event) (Reply, error) {
	b, err := e.Bot(botName)
	if err != nil {
		return Reply{}, err
	}
	if err := ev.Validate(); err != nil {
		return Reply{}, err
	}
	ev.vouch(b)
	ev.Client.BotID = b.Name
	switch ev.Payload.ContentType {
	case ContentTyping:
		return e.userTyping(ctx, b, ev)
	case ContentRead:
		return e.userRead(ctx, b, ev)
	}
	in := newIntake(b, ev)
	if ev.RequestID == "" {
		return e.handle(ctx, in)
	}
	reply, err, shared := e.requests.do(in.flightKey(), in.bodyHash, func() (Reply, error) {
		return e.handle(ctx, in)
	})
	if shared && err == nil {
		e.opts.Metrics.event(b.Name, "replayed")
	}
	return reply, err
}

func (e *Engine) handle(ctx context.Context, in *intake) (_ Reply, err error) {
	b, ev := in.bot, in.ev
	// One read says what else to read: on the bot path, nothing.
	g, err := e.store.Glance(ctx, b.Name, ev.Client.UserID, ev.RequestID)
	if err != nil {
		return Reply{}, err
	}
	replay, err := in.recall(func(string, string, string) (*host.Request, error) {
		if g.Request == nil {
			return nil, host.Errorf(host.ENOTFOUND, "request not recorded")
		}
		return g.Request, nil
	})
	if err != nil {
		return Reply{}, err
	}
	if replay != nil {
		e.opts.Metrics.event(b.Name, "replayed")
		return *replay, nil
	}
	// In next_message mode the bot hears of an expiry just before the
	// user's next event, and both answers go back together.
	var notice *Reply
	var noticed *host.Session
	if g.NoticePending {
		if notice, noticed, err = e.pendingNotice(ctx, b, ev); err != nil {
			return Reply{}, err
		}
	}
	if notice != nil {
		in.prefix = notice.Messages
		defer func() {
			if err != nil {
				// The event failed, and with it the answer that was to
				// carry the notice's: deliver that through the channel.
				e.deliverNoticeAnswer(noticed, notice)
			}
		}()
	}
	var sess *host.Session
	if g.OpenSession != "" {
		sess, err = e.store.OpenSession(ctx, b.Name, ev.Client.UserID)
		switch {
		case host.ErrorCode(err) == host.ENOTFOUND:
			sess = nil // it ended meanwhile
		case err != nil:
			return Reply{}, err
		}
	}
	var reply Reply
	_, _, rating := parseRating(ev.Payload)
	switch {
	case rating:
		reply, err = e.rate(ctx, in)
	case sess == nil && ev.Payload.is(PayloadEnd):
		// An old quit button, clicked after the session ended: nothing
		// to end, nothing to tell the bot, nothing to show.
		e.opts.Metrics.event(b.Name, "end_stale")
		reply = Reply{Messages: []OutMessage{}}
	case sess == nil && ev.Payload.is(PayloadStart) && b.Hours != nil && !b.Hours.Open(e.now()):
		reply, err = e.closedHours(ctx, in)
	case sess == nil && ev.Payload.is(PayloadStart):
		reply, err = e.start(ctx, in)
	case sess == nil:
		reply, err = e.forward(ctx, in, "forwarded", nil)
	case ev.Payload.is(PayloadStart):
		// A second START opens nothing new.
		e.opts.Metrics.event(b.Name, "start_again")
		reply = Reply{Livechat: &Livechat{SessionID: sess.ID, State: string(sess.State)}}
	case ev.Payload.is(PayloadEnd):
		reply, err = e.endByUser(ctx, in, sess)
	default:
		reply, err = e.toAgent(ctx, in, sess)
	}
	if errors.Is(err, errReplayed) {
		e.opts.Metrics.event(b.Name, "replayed")
		return reply, nil // already whole: it is the answer remembered
	}
	if err != nil {
		return Reply{}, err
	}
	return in.full(reply), nil
}

// pendingNotice tells the bot of an expiry it has not heard of yet and
// returns its answer, or nil when there is none to tell. It runs once per
// expiry however many events of the user arrive together, and it never
// blocks the user: a notice the bot refuses is dropped (logged, counted),
// one the bot cannot take now goes to the outbox, to be retried there and
// its answer delivered through the channel.
func (e *Engine) pendingNotice(ctx context.Context, b *Bot, ev Event) (*Reply, *host.Session, error) {
	unlock := e.userLocks.lock(b.Name, ev.Client.UserID)
	defer unlock()
	sess, err := e.store.PendingNotice(ctx, b.Name, ev.Client.UserID)
	if host.ErrorCode(err) == host.ENOTFOUND {
		return nil, nil, nil // told by a concurrent event of the user
	}
	if err != nil {
		return nil, nil, err
	}
	key := "notice-expired:" + sess.ID
	notice := Event{RequestID: key, Client: ev.Client, Metadata: sess.Metadata, Payload: payloadEvent(PayloadExpired)}
	reply, callErr := e.bots.CallBot(ctx, b, notice)
	retryable, _ := sdk.IsRetryable(callErr)
	err = e.store.Tx(ctx, func(tx host.Tx) error {
		s, err := tx.Session(sess.ID)
		if err != nil {
			return err
		}
		if !s.NoticePending {
			return nil
		}
		s.NoticePending = false
		if err := tx.UpdateSession(s); err != nil {
			return err
		}
		if callErr != nil && retryable {
			return e.enqueue(tx, s, kindNotice, key, botQueue(s.Bot, s.UserID), noticeWork{Payload: PayloadExpired})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	switch {
	case callErr == nil:
		return &reply, sess, nil
	case retryable:
		e.opts.Metrics.event(b.Name, "notice_deferred")
		e.log.Warn("the bot could not take the expiry notice now; it goes through the outbox", "bot", b.Name, "session", sess.ID, "error", callErr)
	default:
		e.opts.Metrics.event(b.Name, "notice_refused")
		e.log.Error("the bot refused the expiry notice; dropped", "bot", b.Name, "session", sess.ID, "error", callErr)
	}
	return nil, nil, nil
}

// deliverNoticeAnswer queues the bot's answer to an expiry notice for the
// user's channel, when the event that was to carry it failed.
func (e *Engine) deliverNoticeAnswer(s *host.Session, notice *Reply) {
	if len(notice.Messages) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msgs := append([]OutMessage{}, notice.Messages...)
	for i := range msgs {
		if msgs[i].Author == nil {
			msgs[i].Author = &Author{Type: string(host.AuthorBot)}
		}
	}
	d := Delivery{Client: clientOf(s), SessionID: s.ID, Messages: msgs}
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		return e.enqueue(tx, s, kindDelivery, "reply:notice-expired:"+s.ID, channelQueue(s.Bot, s.UserID), d)
	})
	if err != nil {
		e.log.Error("the bot's answer to an expiry notice is lost", "bot", s.Bot, "session", s.ID, "error", err)
	}
}

// forward sends the event to the bot and returns its reply, keeping both in
// the transcript.
func (e *Engine) forward(ctx context.Context, in *intake, outcome string, lc *Livechat) (Reply, error) {
	b, ev := in.bot, in.ev
	reply, err := e.bots.CallBot(ctx, b, ev)
	if err != nil {
		return Reply{}, err
	}
	reply.Livechat = lc
	e.opts.Metrics.event(b.Name, outcome)
	rec := &host.Record{Messages: []*host.Message{{ID: in.id("in"), Bot: b.Name, UserID: ev.Client.UserID,
		Direction: host.DirectionIn, Author: host.AuthorUser, Payload: ev.Payload.raw()}}}
	for i, m := range reply.Messages {
		if !json.Valid(m.Payload) || len(m.Payload) == 0 || m.Payload[0] != '{' {
			continue
		}
		rec.Messages = append(rec.Messages, &host.Message{ID: in.id(fmt.Sprintf("out%d", i)), Bot: b.Name, UserID: ev.Client.UserID,
			Direction: host.DirectionOut, Author: host.AuthorBot, Payload: m.Payload})
	}
	if rec.Request, err = in.request(reply); err != nil {
		return Reply{}, err
	}
	recorded, err := e.store.Record(ctx, rec)
	if err == nil && !recorded {
		// A run of the same request was recorded first: its answer is
		// the answer.
		replay, err := in.recall(func(bot, user, id string) (*host.Request, error) {
			return e.store.RecalledRequest(ctx, bot, user, id)
		})
		if err != nil {
			return Reply{}, err
		}
		if replay != nil {
			return *replay, errReplayed
		}
		// Recorded, then removed by retention since: this answer stands.
	}
	if err != nil {
		if ev.RequestID != "" {
			// The bot answered, but the answer is not recorded: a retry
			// would ask the bot again. Say so; the channel retries.
			return Reply{}, err
		}
		e.log.Warn("keep transcript", "bot", b.Name, "error", err)
	}
	return reply, nil
}

// start opens a session: stored as starting, with the plugin's start queued
// in the same transaction.
func (e *Engine) start(ctx context.Context, in *intake) (Reply, error) {
	b, ev := in.bot, in.ev
	var transcript []*host.Message
	if b.TranscriptSize > 0 {
		var err error
		if transcript, err = e.store.Transcript(ctx, b.Name, ev.Client.UserID, b.TranscriptSize); err != nil {
			return Reply{}, err
		}
	}
	now := e.now()
	sess := &host.Session{
		ID:            in.id("session"),
		Bot:           b.Name,
		UserID:        ev.Client.UserID,
		ChannelID:     ev.Client.ChannelID,
		Provider:      b.Provider,
		State:         host.SessionStarting,
		Metadata:      ev.Metadata,
		ExpiredNotice: b.ExpiredNotice,
		ExpiresAt:     now.Add(b.SessionTimeout),
	}
	routing, err := routingOf(ev.Metadata)
	if err != nil {
		return Reply{}, err
	}
	start := startWork{User: userOf(ev), Transcript: transcriptMessages(transcript), Routing: routing}
	var replay *Reply
	var reply Reply
	err = e.store.Tx(ctx, func(tx host.Tx) error {
		if err := in.claim(tx, &replay); err != nil {
			return err
		}
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
			reply = Reply{Livechat: &Livechat{SessionID: sess.ID, State: string(sess.State)}}
			if err := in.remember(tx, reply); err != nil {
				return err
			}
			return errJoined
		}
		if err := tx.AppendMessage(&host.Message{ID: in.id("in"), Bot: b.Name, UserID: sess.UserID, SessionID: sess.ID,
			Direction: host.DirectionIn, Author: host.AuthorUser, Payload: ev.Payload.raw()}); err != nil {
			return err
		}
		if err := e.enqueue(tx, sess, kindStart, "start:"+sess.ID, providerQueue(sess.ID), start); err != nil {
			return err
		}
		if err := tx.PutOutcome(newOutcome(b, sess, now)); err != nil {
			return err
		}
		reply = Reply{Livechat: &Livechat{SessionID: sess.ID, State: string(host.SessionStarting)}}
		if b.Messages.Start != "" {
			reply.Messages = []OutMessage{hostMessage(textPayload(b.Messages.Start))}
		}
		return in.remember(tx, reply)
	})
	switch {
	case errors.Is(err, errReplayed):
		return *replay, err
	case errors.Is(err, errJoined):
		e.opts.Metrics.event(b.Name, "start_again")
		return reply, nil
	case err != nil:
		return Reply{}, err
	}
	e.opts.Metrics.event(b.Name, "start")
	e.opts.Metrics.sessionOpened(b.Name)
	e.log.Info("session starting", "bot", b.Name, "session", sess.ID, "provider", b.Provider)
	return reply, nil
}

var errJoined = errors.New("joined the open session")

// toAgent queues a user message for the provider and keeps the session alive.
func (e *Engine) toAgent(ctx context.Context, in *intake, sess *host.Session) (Reply, error) {
	b, ev := in.bot, in.ev
	msg := &host.Message{ID: in.id("in"), Bot: b.Name, UserID: sess.UserID, SessionID: sess.ID,
		Direction: host.DirectionIn, Author: host.AuthorUser, Payload: ev.Payload.raw()}
	var replay *Reply
	var reply Reply
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		if err := in.claim(tx, &replay); err != nil {
			return err
		}
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
		if err := e.enqueue(tx, s, kindSend, "send:"+msg.ID, providerQueue(s.ID), sendWork{MessageID: msg.ID, User: userOf(ev), Payload: ev.Payload}); err != nil {
			return err
		}
		reply = Reply{Livechat: &Livechat{SessionID: s.ID, State: string(s.State)}}
		return in.remember(tx, reply)
	})
	if errors.Is(err, errReplayed) {
		return *replay, err
	}
	if err != nil {
		return Reply{}, err
	}
	e.opts.Metrics.event(b.Name, "to_agent")
	return reply, nil
}

// endByUser closes the session, queues the ticket's closing, and forwards
// the END to the bot, whose reply goes back to the channel.
func (e *Engine) endByUser(ctx context.Context, in *intake, sess *host.Session) (Reply, error) {
	ended, err := e.end(ctx, sess.ID, host.EndUser, false)
	if err != nil {
		return Reply{}, err
	}
	in.suffix = append(in.suffix, sessionEnded(string(host.EndUser)))
	return e.forward(ctx, in, "end", &Livechat{SessionID: ended.ID, State: string(ended.State)})
}

// end closes an open session for reason and queues the ticket's closing;
// with notifyBot the bot hears LIVECHAT_SESSION_END through the outbox.
func (e *Engine) end(ctx context.Context, sessionID string, reason host.EndReason, notifyBot bool) (*host.Session, error) {
	var ended *host.Session
	var outcome *host.Outcome
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		s, err := tx.Session(sessionID)
		if err != nil {
			return err
		}
		if !s.State.IsOpen() {
			return &host.Error{Code: host.ECONFLICT, Field: "state", Message: fmt.Sprintf("session %s is %s already", s.ID, s.State)}
		}
		ended = s
		outcome, err = e.endTx(tx, s, reason, notifyBot)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.ended(ended, outcome)
	return ended, nil
}

// endTx closes the open session s inside tx. The ticket's closing is queued
// behind the start and the sends of the session, so it comes last. When
// the agent or an admin ended it (notifyBot), the user reads
// messages.ended and a session_ended event before the bot's answer; after
// an end by the user or the agent, a bot with a csat block asks its
// rating question. It returns the session's outcome, closed.
func (e *Engine) endTx(tx host.Tx, s *host.Session, reason host.EndReason, notifyBot bool) (*host.Outcome, error) {
	s.State, s.EndReason = host.SessionEnded, reason
	if err := tx.UpdateSession(s); err != nil {
		return nil, err
	}
	o, err := e.closeOutcome(tx, s, string(reason))
	if err != nil {
		return nil, err
	}
	if err := e.enqueue(tx, s, kindEnd, "end:"+s.ID, providerQueue(s.ID), endWork{Reason: sdk.EndReason(reason)}); err != nil {
		return nil, err
	}
	b, err := e.Bot(s.Bot)
	if err != nil {
		return nil, err
	}
	var msgs []OutMessage
	if notifyBot {
		msgs = endedMessages(b, string(reason))
	}
	if b.CSAT != nil && (reason == host.EndUser || reason == host.EndAgent) {
		msgs = append(msgs, hostMessage(b.CSAT.question(s.ID)))
	}
	if len(msgs) > 0 {
		d := Delivery{Client: clientOf(s), SessionID: s.ID, Messages: msgs}
		if err := e.enqueue(tx, s, kindDelivery, "ended:"+s.ID, channelQueue(s.Bot, s.UserID), d); err != nil {
			return nil, err
		}
	}
	if notifyBot {
		return o, e.enqueue(tx, s, kindNotice, "notice-end:"+s.ID, botQueue(s.Bot, s.UserID), noticeWork{Payload: PayloadEnd})
	}
	return o, nil
}

// ended counts and logs a session closed by endTx, with its outcome (nil
// for a session without one).
func (e *Engine) ended(s *host.Session, o *host.Outcome) {
	e.opts.Metrics.sessionClosed(s.Bot, string(s.EndReason))
	e.opts.Metrics.outcomeClosed(o)
	e.log.Info("session ended", "bot", s.Bot, "session", s.ID, "reason", s.EndReason)
}

// EndSession ends a session for an admin.
func (e *Engine) EndSession(ctx context.Context, id string) (*host.Session, error) {
	return e.end(ctx, id, host.EndAdmin, true)
}

// userOf is the event's user for the provider: Verified only for a claim
// the channel signed (see Event.vouch). The start's and each send's outbox
// item keep it, so retries after a restart say the same.
func userOf(ev Event) sdk.User {
	return sdk.User{ID: ev.Client.UserID, ChannelID: ev.Client.ChannelID, Metadata: ev.Metadata,
		Verified: ev.MetadataVerified && ev.Signed}
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
