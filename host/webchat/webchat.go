// Package webchat is livechatd's built-in chat channel (channel = "webchat"
// on a bot): a chat page served by the host, events posted to the events
// API, and everything the user should see — their own messages, the bot's
// answers, the agent's messages — kept in a per-user stream that the page
// reads over Server-Sent Events with Last-Event-ID replay, so a reload or a
// dropped connection loses nothing.
//
// Users are anonymous: the page asks for an identity (a user id and a token,
// an HMAC of the bot and the user id under the bot's channel_secret) and
// shows the token with every request; a token opens only its own stream.
package webchat

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
)

// Log keeps the streams.
type Log interface {
	AppendStream(ctx context.Context, bot, user, key string, entries ...json.RawMessage) ([]int64, error)
	Stream(ctx context.Context, bot, user string, after int64, limit int) ([]host.StreamEntry, error)
}

// Entry is one thing shown in the chat window.
type Entry struct {
	// Type is "message" or "state".
	Type string `json:"type"`
	// Author and Payload, for messages.
	Author  *Author         `json:"author,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// State and SessionID, for a change of the livechat session.
	State     string `json:"state,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	// RequestID is the request_id of the user's event, on the entry of
	// what they sent: the page matches it with the message it was still
	// sending (offline, or retried), so it shows the message once.
	RequestID string `json:"request_id,omitempty"`
	// At is when livechatd added the entry (the page shows it as the
	// message's time; a replay shows the same time).
	At time.Time `json:"at,omitzero"`
}

// Author is who a message is from, as the chat window shows it.
type Author struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	// AvatarURL is the agent's picture, when the platform gives one.
	AvatarURL string `json:"avatar_url,omitempty"`
}

// authorOf is the author of an outgoing message; nil is the bot.
func authorOf(a *engine.Author) *Author {
	if a == nil {
		return &Author{Type: string(host.AuthorBot)}
	}
	return &Author{Type: a.Type, Name: a.Name, AvatarURL: a.AvatarURL}
}

// Channel is the webchat channel of every bot that uses it.
type Channel struct {
	log  Log
	keys map[string][]byte // per bot: the token key
	lg   hclog.Logger

	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
	// inflight counts the exchanges of each user still being handled: a
	// delivery waits for them, so that what the user sent and the host's
	// answer come before, say, the agent's greeting their START caused.
	inflight map[string]int
	settled  map[string]chan struct{}
	// locks keeps the rule across replicas (replicas.go); nil for one.
	locks ExchangeLocks

	// shutdown is closed by Shutdown: every stream ends.
	shutdown     chan struct{}
	shutdownOnce sync.Once

	limits     Limits
	metrics    *Metrics
	now        func() time.Time
	identities *rateLimiter // per client address
	starts     *rateLimiter // per bot and user
	// open counts the open streams per user (under mu); buffered, the bytes
	// read from the store not yet written.
	open     map[string]int
	openAll  int
	buffered atomic.Int64

	// typing is who types to each user now (under mu), typingVer the
	// last version given.
	typing    map[string]typing
	typingVer uint64

	uploads    *uploads
	publicURL  string
	appearance map[string]Appearance
}

// Option configures a Channel.
type Option func(*Channel)

// WithLimits sets the channel's limits; zero fields keep DefaultLimits'.
func WithLimits(l Limits) Option { return func(c *Channel) { c.limits = l.withDefaults() } }

// WithMetrics exports the channel's gauges and counters.
func WithMetrics(m *Metrics) Option { return func(c *Channel) { c.metrics = m } }

// WithClock sets the clock of the rate limits, the entries' times and the
// typing indicator.
func WithClock(now func() time.Time) Option { return func(c *Channel) { c.now = now } }

// Stats are counts of what the channel holds now.
type Stats struct {
	// OpenStreams is the number of streams open now.
	OpenStreams int
	// BufferedBytes is the bytes of entries read from the store and not
	// yet written to their streams.
	BufferedBytes int64
}

// Stats returns what the channel holds now.
func (c *Channel) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{OpenStreams: c.openAll, BufferedBytes: c.buffered.Load()}
}

var _ engine.Channel = (*Channel)(nil)

// New returns the channel for bots, each mapped to its channel_secret; a
// bot without one gets a random key (identities do not survive a restart).
func New(log Log, secrets map[string]string, lg hclog.Logger, opts ...Option) *Channel {
	if lg == nil {
		lg = hclog.NewNullLogger()
	}
	c := &Channel{log: log, keys: map[string][]byte{}, lg: lg, subs: map[string]map[chan struct{}]struct{}{},
		inflight: map[string]int{}, settled: map[string]chan struct{}{}, shutdown: make(chan struct{}),
		limits: DefaultLimits, now: time.Now, open: map[string]int{}, typing: map[string]typing{},
		appearance: map[string]Appearance{}}
	for _, o := range opts {
		o(c)
	}
	if c.metrics == nil {
		c.metrics = NewMetrics(nil)
	}
	c.identities = newRateLimiter(c.limits.IdentitiesPerMinute, c.now)
	c.starts = newRateLimiter(c.limits.StartsPerMinute, c.now)
	c.checkAppearance()
	c.watchReplicas()
	if c.uploads != nil {
		c.uploads.limit = newRateLimiter(c.limits.UploadsPerMinute, c.now)
	}
	for bot, secret := range secrets {
		key := []byte(secret)
		if secret == "" {
			key = make([]byte, 32)
			_, _ = rand.Read(key)
			lg.Warn("webchat bot has no channel_secret: chat identities will not survive a restart", "bot", bot)
		}
		c.keys[bot] = key
	}
	return c
}

// Shutdown ends every open stream, and any opened later as soon as it has
// sent what is already stored, so that an open chat tab does not hold the
// HTTP server's graceful shutdown. The page reconnects by itself (the
// stream's retry line) and replays from its Last-Event-ID. Deliveries still
// go to the store. Calling it again does nothing.
func (c *Channel) Shutdown() {
	c.shutdownOnce.Do(func() { close(c.shutdown) })
}

// Serves reports whether bot uses the webchat.
func (c *Channel) Serves(bot string) bool {
	_, ok := c.keys[bot]
	return ok
}

// Token is the credential of user with bot.
func (c *Channel) Token(bot, user string) string {
	mac := hmac.New(sha256.New, c.keys[bot])
	mac.Write([]byte(bot))
	mac.Write([]byte{0})
	mac.Write([]byte(user))
	return hex.EncodeToString(mac.Sum(nil))[:40]
}

// Verify checks a user's token in constant time.
func (c *Channel) Verify(bot, user, token string) bool {
	if !c.Serves(bot) || user == "" {
		return false
	}
	return hmac.Equal([]byte(c.Token(bot, user)), []byte(token))
}

// BeginExchange marks an event of user as being handled until done is
// called, after RecordExchange: deliveries to the user wait for it.
func (c *Channel) BeginExchange(bot, user string) (done func()) {
	k := streamKey(bot, user)
	across := c.holdAcross(bot, user)
	c.mu.Lock()
	c.inflight[k]++
	if c.settled[k] == nil {
		c.settled[k] = make(chan struct{})
	}
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			defer across()
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.inflight[k]--; c.inflight[k] == 0 {
				delete(c.inflight, k)
				close(c.settled[k])
				delete(c.settled, k)
			}
		})
	}
}

// settle waits until no exchange of the user is being handled.
func (c *Channel) settle(ctx context.Context, bot, user string) error {
	for {
		c.mu.Lock()
		ch := c.settled[streamKey(bot, user)]
		c.mu.Unlock()
		if ch == nil {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Deliver appends a delivery to the user's stream (engine.Channel), after
// the user's exchanges in flight.
func (c *Channel) Deliver(ctx context.Context, bot, key string, d engine.Delivery) error {
	if err := c.settle(ctx, bot, d.Client.UserID); err != nil {
		return fmt.Errorf("webchat: wait for the user's exchange: %w", err)
	}
	if err := c.awaitAcross(ctx, bot, d.Client.UserID); err != nil {
		return err
	}
	var entries []json.RawMessage
	user := d.Client.UserID
	now := c.now().UTC()
	agentSent := false
	for _, m := range d.Messages {
		author := authorOf(m.Author)
		if ms, ok := typingOf(m.Payload); ok {
			// Typing is shown, never kept: it goes to the open streams.
			c.setTyping(bot, user, author, ms)
			continue
		}
		agentSent = agentSent || author.Type == string(host.AuthorAgent)
		entries = append(entries, mustJSON(Entry{Type: "message", Author: author, Payload: m.Payload, At: now}))
	}
	if err := c.append(ctx, bot, user, key, entries...); err != nil {
		return err
	}
	if agentSent {
		c.setTyping(bot, user, nil, 0) // the agent has sent: no longer typing
	}
	return nil
}

// RecordExchange appends what the user sent and what the host answered.
func (c *Channel) RecordExchange(ctx context.Context, bot string, ev engine.Event, reply engine.Reply) error {
	if ev.Payload.ContentType == contentTyping || ev.Payload.ContentType == contentRead {
		return nil // the user's typing and read receipts are relayed, never shown nor kept
	}
	payload, err := json.Marshal(ev.Payload)
	if err != nil {
		return err
	}
	now := c.now().UTC()
	entries := []json.RawMessage{mustJSON(Entry{Type: "message", Author: &Author{Type: string(host.AuthorUser)}, Payload: payload,
		RequestID: ev.RequestID, At: now})}
	// A state line marks a change: the START or END the user just sent.
	// Every message to the agent also answers with the session's state,
	// which changes nothing.
	if reply.Livechat != nil && isReserved(ev.Payload) {
		entries = append(entries, mustJSON(Entry{Type: "state", State: reply.Livechat.State, SessionID: reply.Livechat.SessionID, At: now}))
	}
	for _, m := range reply.Messages {
		if _, ok := typingOf(m.Payload); ok {
			continue
		}
		entries = append(entries, mustJSON(Entry{Type: "message", Author: authorOf(m.Author), Payload: m.Payload, At: now}))
	}
	key := ""
	if ev.RequestID != "" {
		// Stream keys are unique across the store, and request ids are
		// scoped to (bot, user): so is the key, or one user's request id
		// would hide another user's exchange.
		key = requestKey(bot, ev.Client.UserID, ev.RequestID)
	}
	return c.append(ctx, bot, ev.Client.UserID, key, entries...)
}

func (c *Channel) append(ctx context.Context, bot, user, key string, entries ...json.RawMessage) error {
	if len(entries) == 0 {
		return nil
	}
	if _, err := c.log.AppendStream(ctx, bot, user, key, entries...); err != nil {
		return fmt.Errorf("webchat stream: %w", err)
	}
	c.notify(bot, user)
	return nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own types, all marshalable
	}
	return b
}

func streamKey(bot, user string) string { return bot + "\x00" + user }

// requestKey is the stream key of an exchange with a request id: a hash of
// (bot, user, request id), whose parts are each up to 256 bytes.
func requestKey(bot, user, requestID string) string {
	h := sha256.New()
	for _, part := range []string{bot, user, requestID} {
		fmt.Fprintf(h, "%d:%s", len(part), part)
	}
	return "request:" + hex.EncodeToString(h.Sum(nil))
}

// subscribe returns a channel that receives a value when the user's stream
// grows, and the function that ends the subscription.
func (c *Channel) subscribe(bot, user string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	k := streamKey(bot, user)
	c.mu.Lock()
	if c.subs[k] == nil {
		c.subs[k] = map[chan struct{}]struct{}{}
	}
	c.subs[k][ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.subs[k], ch)
		if len(c.subs[k]) == 0 {
			delete(c.subs, k)
		}
	}
}

func (c *Channel) notify(bot, user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ch := range c.subs[streamKey(bot, user)] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func isReserved(p engine.Payload) bool {
	v := strings.TrimSpace(p.Value())
	return v == engine.PayloadStart || v == engine.PayloadEnd
}
