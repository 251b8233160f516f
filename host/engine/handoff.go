package engine

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/sdk"
)

// The handoff experience of docs/handoff.md (issue 17): waiting feedback,
// presence, business hours, files, routing, CSAT and outcome metrics.

// The reserved payloads of docs/handoff.md.
const (
	// PayloadNoAgent: the host tells the bot that no agent wrote within
	// the bot's waiting max_wait; the session is over.
	PayloadNoAgent = "LIVECHAT_SESSION_NO_AGENT"
	// PayloadClosedHours: the host tells the bot that a START came outside
	// the bot's hours; no live session was opened.
	PayloadClosedHours = "LIVECHAT_SESSION_CLOSED_HOURS"
	// PayloadCSAT prefixes the payloads of the csat buttons:
	// LIVECHAT_CSAT:<score>:<session id>. The host takes them; the bot
	// never hears them.
	PayloadCSAT = "LIVECHAT_CSAT:"
)

// Content types of docs/handoff.md.
const (
	// ContentTyping is a typing indicator: content {"duration": <ms>},
	// 0 meaning stopped. Never stored.
	ContentTyping = "typing"
	// ContentRead is the user's read receipt: content {} (or none), the
	// user has seen every message of the session so far. Never stored.
	ContentRead = "read"
	// ContentLivechat is a structured event for the channel: content
	// {"event": "agent_joined" | "waiting" | "session_ended", ...}.
	ContentLivechat = "livechat"
)

// The end reasons of outcomes and of session_ended events of issue 17,
// the same as the session's host.EndReason.
const (
	ReasonMaxWait     = string(host.EndMaxWait)
	ReasonClosedHours = string(host.EndClosedHours)
)

// Waiting is a bot's waiting block. Zero Every: no "still waiting"
// message; zero MaxWait: no end for want of an agent.
type Waiting struct {
	Every   time.Duration
	MaxWait time.Duration
	Message string
	NoAgent string
}

func (w Waiting) on() bool { return w.Every > 0 || w.MaxWait > 0 }

// nextDue is when the waiting feedback of a session started at started is
// due next, as of now: the next "still waiting" or max_wait, whichever
// comes first.
func (w Waiting) nextDue(started, now time.Time) time.Time {
	var due time.Time
	if w.Every > 0 && w.Message != "" {
		due = now.Add(w.Every)
	}
	if w.MaxWait > 0 {
		if end := started.Add(w.MaxWait); due.IsZero() || end.Before(due) {
			due = end
		}
	}
	return due
}

// Hours is a bot's hours block.
type Hours struct {
	Location *time.Location
	// Weekly are the opening spans of each day, sorted.
	Weekly map[time.Weekday][]Span
	// Holidays are closed dates, YYYY-MM-DD in Location.
	Holidays      map[string]bool
	OfflineTicket bool
}

// Span is an opening range in minutes since midnight, From included, To
// excluded.
type Span struct{ From, To int }

// Open reports whether t falls within the opening hours.
func (h *Hours) Open(t time.Time) bool {
	lt := t.In(h.Location)
	if h.Holidays[lt.Format(time.DateOnly)] {
		return false
	}
	m := lt.Hour()*60 + lt.Minute()
	for _, s := range h.Weekly[lt.Weekday()] {
		if m >= s.From && m < s.To {
			return true
		}
	}
	return false
}

// NextOpen is the next time at or after t when the hours are open; false
// when they never open in the coming year.
func (h *Hours) NextOpen(t time.Time) (time.Time, bool) {
	lt := t.In(h.Location)
	for d := 0; d <= 370; d++ {
		day := time.Date(lt.Year(), lt.Month(), lt.Day()+d, 0, 0, 0, 0, h.Location)
		if h.Holidays[day.Format(time.DateOnly)] {
			continue
		}
		for _, s := range h.Weekly[day.Weekday()] {
			from := time.Date(day.Year(), day.Month(), day.Day(), s.From/60, s.From%60, 0, 0, h.Location)
			to := time.Date(day.Year(), day.Month(), day.Day(), s.To/60, s.To%60, 0, 0, h.Location)
			if !to.After(lt) {
				continue
			}
			if from.Before(lt) {
				return lt, true
			}
			return from, true
		}
	}
	return time.Time{}, false
}

// CSAT is a bot's csat block.
type CSAT struct {
	Question string
	Scale    int
	Labels   []string
	Thanks   string
}

// question is the rating question of session id: a CSML question whose
// buttons' payloads carry the score and the session.
func (c *CSAT) question(sessionID string) Payload {
	buttons := make([]any, 0, c.Scale)
	for score := 1; score <= c.Scale; score++ {
		title := strconv.Itoa(score)
		if len(c.Labels) == c.Scale {
			title = c.Labels[score-1]
		}
		buttons = append(buttons, map[string]any{
			"content_type": "button",
			"content":      map[string]any{"title": title, "payload": fmt.Sprintf("%s%d:%s", PayloadCSAT, score, sessionID)},
		})
	}
	return Payload{ContentType: "question", Content: map[string]any{"title": c.Question, "buttons": buttons}}
}

// label is the title of score's button.
func (c *CSAT) label(score int) string {
	if len(c.Labels) == c.Scale && score >= 1 && score <= c.Scale {
		return c.Labels[score-1]
	}
	return strconv.Itoa(score)
}

// parseRating reads LIVECHAT_CSAT:<score>:<session id>.
func parseRating(p Payload) (score int, sessionID string, ok bool) {
	if p.ContentType != "payload" && p.ContentType != "text" {
		return 0, "", false
	}
	rest, found := strings.CutPrefix(strings.TrimSpace(p.Value()), PayloadCSAT)
	if !found {
		return 0, "", false
	}
	n, id, found := strings.Cut(rest, ":")
	score, err := strconv.Atoi(n)
	if !found || err != nil || id == "" {
		return 0, "", false
	}
	return score, id, true
}

// livechatPayload is a structured event for the channel.
func livechatPayload(event string, fields map[string]any) Payload {
	c := map[string]any{"event": event}
	for k, v := range fields {
		c[k] = v
	}
	return Payload{ContentType: ContentLivechat, Content: c}
}

func sessionEnded(reason string) OutMessage {
	return hostMessage(livechatPayload("session_ended", map[string]any{"reason": reason}))
}

// endedMessages are what the user reads when a session ends for reason
// other than their own END: the bot's ended text and the structured event.
func endedMessages(b *Bot, reason string) []OutMessage {
	var out []OutMessage
	if b.Messages.Ended != "" {
		out = append(out, hostMessage(textPayload(b.Messages.Ended)))
	}
	return append(out, sessionEnded(reason))
}

// typingDuration is how long one agent typing event shows the indicator
// for, unless a stop comes first.
const typingDuration = 5 * time.Second

func typingPayload(typing bool) Payload {
	ms := 0
	if typing {
		ms = int(typingDuration / time.Millisecond)
	}
	return Payload{ContentType: ContentTyping, Content: map[string]any{"duration": ms}}
}

// validateTyping checks a user typing event: content.duration, a number of
// milliseconds from 0 to 60000.
func validateTyping(field string, p Payload) error {
	d, ok := p.Content["duration"].(float64)
	if !ok {
		if _, isInt := p.Content["duration"].(int); isInt {
			return nil
		}
		return &host.Error{Code: host.EINVALID, Field: field + ".content.duration",
			Message: "content_type \"typing\" needs a number content.duration (milliseconds; 0 for stopped)"}
	}
	if d < 0 || d > 60000 || math.IsNaN(d) {
		return &host.Error{Code: host.EINVALID, Field: field + ".content.duration",
			Message: fmt.Sprintf("content.duration must be from 0 to 60000 milliseconds, got %v", d)}
	}
	return nil
}

func typingOn(p Payload) bool {
	switch d := p.Content["duration"].(type) {
	case float64:
		return d > 0
	case int:
		return d > 0
	}
	return false
}

// capable reports whether the bot's plugin lists c. A plugin that is not
// running, or a provider that does not describe itself, lists nothing.
func (e *Engine) capable(b *Bot, c sdk.Capability) (Provider, bool) {
	p, err := e.providers.Provider(b.Provider)
	if err != nil {
		return nil, false
	}
	d, ok := p.(Described)
	if !ok {
		return p, false
	}
	return p, slices.Contains(d.Info().Capabilities, c)
}

// --- Outcomes -------------------------------------------------------------

// newOutcome is the outcome of session s, started now, with its waiting
// feedback due.
func newOutcome(b *Bot, s *host.Session, now time.Time) *host.Outcome {
	return &host.Outcome{SessionID: s.ID, Bot: b.Name, Provider: b.Provider, StartedAt: now,
		WaitDueAt: b.Waiting.nextDue(now, now)}
}

// closeOutcome records the end of session s inside tx and returns the
// outcome, or nil when the session has none (started before outcomes were
// kept).
func (e *Engine) closeOutcome(tx host.Tx, s *host.Session, reason string) (*host.Outcome, error) {
	o, err := tx.Outcome(s.ID)
	if host.ErrorCode(err) == host.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !o.EndedAt.IsZero() {
		return nil, nil
	}
	o.EndedAt, o.EndReason, o.WaitDueAt = e.now(), reason, time.Time{}
	if err := tx.PutOutcome(o); err != nil {
		return nil, err
	}
	return o, nil
}

// stopWaiting ends the waiting feedback of session s (an agent joined or
// wrote); first is set when an agent message is the session's first,
// which it records. It returns the outcome when it changed.
func (e *Engine) stopWaiting(tx host.Tx, s *host.Session, agentWrote bool) (*host.Outcome, error) {
	o, err := tx.Outcome(s.ID)
	if host.ErrorCode(err) == host.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	changed := !o.WaitDueAt.IsZero()
	o.WaitDueAt = time.Time{}
	first := agentWrote && o.FirstAgentAt.IsZero()
	if first {
		o.FirstAgentAt = e.now()
	}
	if !changed && !first {
		return nil, nil
	}
	if err := tx.PutOutcome(o); err != nil {
		return nil, err
	}
	if !first {
		return nil, nil
	}
	return o, nil
}

// --- Waiting feedback -----------------------------------------------------

// WaitDue sends the waiting feedback that is due as of the engine's clock
// and returns how many sessions it handled: a "still waiting" message (the
// bot's waiting.message, with a livechat waiting event) to each session
// with no agent yet, and, past max_wait, the end: the session closes, the
// provider's EndSession is queued with reason max_wait, the user reads
// waiting.no_agent and the bot hears LIVECHAT_SESSION_NO_AGENT. Due times
// are stored (Outcome.WaitDueAt) and found by an indexed query, like
// expiries: no timer per session, and a restart loses none.
func (e *Engine) WaitDue(ctx context.Context) (int, error) {
	n := 0
	for {
		due, err := e.store.DueWaits(ctx, e.now(), expiryBatch)
		if err != nil {
			return n, err
		}
		if len(due) == 0 {
			return n, nil
		}
		done, err := e.waitBatch(ctx, due)
		n += done
		if err != nil {
			return n, err
		}
		if done == 0 {
			return n, nil
		}
	}
}

func (e *Engine) waitBatch(ctx context.Context, due []*host.Outcome) (int, error) {
	var ended []*host.Outcome
	var endedSessions []*host.Session
	notices := 0
	touched := 0
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		ended, endedSessions, notices, touched = ended[:0], endedSessions[:0], 0, 0
		now := e.now()
		for _, d := range due {
			o, err := tx.Outcome(d.SessionID)
			if err != nil {
				return err
			}
			if o.WaitDueAt.IsZero() || o.WaitDueAt.After(now) {
				continue // handled meanwhile
			}
			touched++
			s, err := tx.Session(o.SessionID)
			if err != nil && host.ErrorCode(err) != host.ENOTFOUND {
				return err
			}
			b, berr := e.Bot(o.Bot)
			if err != nil || berr != nil || !s.State.IsOpen() || !o.FirstAgentAt.IsZero() || !b.Waiting.on() {
				o.WaitDueAt = time.Time{}
				if err := tx.PutOutcome(o); err != nil {
					return err
				}
				continue
			}
			if b.Waiting.MaxWait > 0 && !now.Before(o.StartedAt.Add(b.Waiting.MaxWait)) {
				if err := e.endNoAgentTx(tx, b, s, o); err != nil {
					return err
				}
				ended, endedSessions = append(ended, o), append(endedSessions, s)
				continue
			}
			o.WaitNotices++
			o.WaitDueAt = b.Waiting.nextDue(o.StartedAt, now)
			if err := tx.PutOutcome(o); err != nil {
				return err
			}
			msgs := []OutMessage{hostMessage(textPayload(b.Waiting.Message)), hostMessage(livechatPayload("waiting", nil))}
			d := Delivery{Client: clientOf(s), SessionID: s.ID, Messages: msgs}
			if err := e.enqueue(tx, s, kindDelivery, fmt.Sprintf("waiting:%s:%d", s.ID, o.WaitNotices), channelQueue(s.Bot, s.UserID), d); err != nil {
				return err
			}
			notices++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for i, o := range ended {
		e.opts.Metrics.sessionClosed(o.Bot, string(host.EndMaxWait))
		e.opts.Metrics.outcomeClosed(o)
		e.opts.Metrics.event(o.Bot, "no_agent")
		e.log.Info("session ended: no agent within max_wait", "bot", o.Bot, "session", endedSessions[i].ID)
	}
	if notices > 0 {
		e.log.Debug("still-waiting messages queued", "count", notices)
	}
	return touched, nil
}

// endNoAgentTx ends session s at max_wait inside tx.
func (e *Engine) endNoAgentTx(tx host.Tx, b *Bot, s *host.Session, o *host.Outcome) error {
	s.State, s.EndReason = host.SessionEnded, host.EndMaxWait
	if err := tx.UpdateSession(s); err != nil {
		return err
	}
	o.EndedAt, o.EndReason, o.WaitDueAt = e.now(), ReasonMaxWait, time.Time{}
	if err := tx.PutOutcome(o); err != nil {
		return err
	}
	if err := e.enqueue(tx, s, kindEnd, "end:"+s.ID, providerQueue(s.ID), endWork{Reason: sdk.EndMaxWait}); err != nil {
		return err
	}
	var msgs []OutMessage
	if b.Waiting.NoAgent != "" {
		msgs = append(msgs, hostMessage(textPayload(b.Waiting.NoAgent)))
	}
	msgs = append(msgs, sessionEnded(ReasonMaxWait))
	d := Delivery{Client: clientOf(s), SessionID: s.ID, Messages: msgs}
	if err := e.enqueue(tx, s, kindDelivery, "no-agent:"+s.ID, channelQueue(s.Bot, s.UserID), d); err != nil {
		return err
	}
	return e.enqueue(tx, s, kindNotice, "notice-no-agent:"+s.ID, botQueue(s.Bot, s.UserID), noticeWork{Payload: PayloadNoAgent})
}

// --- Presence -------------------------------------------------------------

// presenceTx applies an agent_joined or queue_position event to the open
// session s inside tx: the user hears of it through the channel.
func (e *Engine) presenceTx(tx host.Tx, b *Bot, s *host.Session, ev sdk.Event) error {
	var msgs []OutMessage
	switch ev.Type {
	case sdk.EventAgentJoined:
		if _, err := e.stopWaiting(tx, s, false); err != nil {
			return err
		}
		author := agentAuthor(ev.Message.Author)
		fields := map[string]any{}
		if author.Name != "" {
			fields["name"] = author.Name
		}
		if author.AvatarURL != "" {
			fields["avatar_url"] = author.AvatarURL
		}
		if text := agentJoinedText(b.Messages.AgentJoined, author.Name); text != "" {
			msgs = append(msgs, OutMessage{Payload: textPayload(text).raw(), Author: author})
		}
		msgs = append(msgs, OutMessage{Payload: livechatPayload("agent_joined", fields).raw(), Author: author})
	case sdk.EventQueuePosition:
		fields := map[string]any{}
		var texts []string
		if ev.QueuePosition > 0 {
			fields["position"] = ev.QueuePosition
			if b.Messages.QueuePosition != "" {
				texts = append(texts, strings.ReplaceAll(b.Messages.QueuePosition, "{position}", strconv.Itoa(ev.QueuePosition)))
			}
		}
		if ev.ExpectedWait > 0 {
			fields["expected_wait"] = int(math.Ceil(ev.ExpectedWait.Seconds()))
			if b.Messages.ExpectedWait != "" {
				texts = append(texts, strings.ReplaceAll(b.Messages.ExpectedWait, "{wait}", humanWait(ev.ExpectedWait)))
			}
		}
		if len(fields) == 0 {
			return nil // nothing known
		}
		if len(texts) > 0 {
			msgs = append(msgs, hostMessage(textPayload(strings.Join(texts, " "))))
		}
		msgs = append(msgs, hostMessage(livechatPayload("waiting", fields)))
	}
	d := Delivery{Client: clientOf(s), SessionID: s.ID, Messages: msgs}
	return e.enqueue(tx, s, kindDelivery, string(ev.Type)+":"+s.ID+":"+host.NewID(), channelQueue(s.Bot, s.UserID), d)
}

func agentAuthor(a sdk.Author) *Author {
	return &Author{Type: string(host.AuthorAgent), Name: a.Name, AvatarURL: a.AvatarURL}
}

func agentJoinedText(tmpl, name string) string {
	if tmpl == "" {
		return ""
	}
	if name == "" {
		name = "An agent"
	}
	return strings.ReplaceAll(tmpl, "{agent}", name)
}

// humanWait says a wait in whole minutes, or seconds under one.
func humanWait(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(math.Ceil(d.Seconds())))
	}
	m := int(math.Round(d.Minutes()))
	if m == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}

// ephemeral delivers what is never stored (typing) at once, best effort:
// no outbox, no retry. At most maxEphemeral run at a time; more are
// dropped.
const maxEphemeral = 64

func (e *Engine) deliverEphemeral(b *Bot, key string, d Delivery) {
	select {
	case e.ephemeral <- struct{}{}:
	default:
		e.opts.Metrics.event(b.Name, "typing_dropped")
		return
	}
	go func() {
		defer func() { <-e.ephemeral }()
		ctx, cancel := context.WithTimeout(e.workCtx, 5*time.Second)
		defer cancel()
		var err error
		if b.Webchat {
			if e.opts.Webchat == nil {
				return
			}
			err = e.opts.Webchat.Deliver(ctx, b.Name, key, d)
		} else {
			err = e.channels.Deliver(ctx, b.Name, key, d)
		}
		if err != nil {
			e.log.Debug("typing indicator not delivered", "bot", b.Name, "session", d.SessionID, "error", err)
		}
	}()
}

// agentTyping relays an agent typing event to the user's channel, never
// stored.
func (e *Engine) agentTyping(b *Bot, s *host.Session, ev sdk.Event) {
	if !s.State.IsOpen() {
		return
	}
	d := Delivery{Client: clientOf(s), SessionID: s.ID, Ephemeral: true,
		Messages: []OutMessage{{Payload: typingPayload(ev.Typing).raw(), Author: agentAuthor(ev.Message.Author)}}}
	e.deliverEphemeral(b, "typing:"+s.ID+":"+host.NewID(), d)
	e.opts.Metrics.event(b.Name, "agent_typing")
}

// throttle lets a session's typing or read receipts through at most once
// per every, except a change of state (typing started/stopped), which
// always goes.
type throttle struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]throttleMark
}

type throttleMark struct {
	at time.Time
	on bool
}

const (
	// typingEvery is the least time between two typing relays of a session.
	typingEvery = time.Second
	// readEvery is the least time between two read receipts of a session.
	// The webchat sends one at most every 3 s; a client sending more often
	// is held to this.
	readEvery = 2 * time.Second
)

func (t *throttle) allow(session string, on bool, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = map[string]throttleMark{}
	}
	m, seen := t.last[session]
	if seen && m.on == on && now.Sub(m.at) < t.every {
		return false
	}
	if len(t.last) >= 4096 {
		for k, v := range t.last {
			if now.Sub(v.at) > time.Minute {
				delete(t.last, k)
			}
		}
	}
	t.last[session] = throttleMark{at: now, on: on}
	return true
}

// userTyping relays a channel's typing event to the provider of the user's
// open session when the provider takes it (user_typing), throttled.
func (e *Engine) userTyping(ctx context.Context, b *Bot, ev Event) (Reply, error) {
	typing := typingOn(ev.Payload)
	return e.relayUser(ctx, b, ev, relay{cap: sdk.CapUserTyping, throttle: &e.typing, on: typing,
		message: sdk.TypingMessage(typing), key: "typing", metric: "user_typing"})
}

// userRead relays a channel's read receipt to the provider of the user's
// open session when the provider takes it (read), throttled.
func (e *Engine) userRead(ctx context.Context, b *Bot, ev Event) (Reply, error) {
	return e.relayUser(ctx, b, ev, relay{cap: sdk.CapRead, throttle: &e.read, on: true,
		message: sdk.ReadMessage(), key: "read", metric: "user_read"})
}

// relay is what relayUser sends for one kind of ephemeral user event.
type relay struct {
	cap      sdk.Capability
	throttle *throttle
	on       bool
	message  sdk.Message
	key      string // the idempotency key's prefix
	metric   string // the events counter's outcome; +"_throttled" when held back
}

// relayUser sends an ephemeral user event (typing, a read receipt) to the
// provider of the user's open session when it lists r.cap, throttled. It
// is never stored, never forwarded to the bot, never retried, and answered
// with no message: without a session, a capable provider or a platform
// that answers, it is dropped.
func (e *Engine) relayUser(ctx context.Context, b *Bot, ev Event, r relay) (Reply, error) {
	reply := Reply{Messages: []OutMessage{}}
	s, err := e.store.OpenSession(ctx, b.Name, ev.Client.UserID)
	if host.ErrorCode(err) == host.ENOTFOUND {
		return reply, nil
	}
	if err != nil {
		return Reply{}, err
	}
	if s.ProviderRef == "" {
		return reply, nil
	}
	p, ok := e.capable(b, r.cap)
	if !ok {
		return reply, nil
	}
	if !r.throttle.allow(s.ID, r.on, e.now()) {
		e.opts.Metrics.event(b.Name, r.metric+"_throttled")
		return reply, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = p.SendMessage(callCtx, sdk.SendRequest{Bot: b.Name, SessionID: s.ID, Ref: s.ProviderRef, User: userOf(ev),
		Message: r.message, IdempotencyKey: r.key + ":" + host.NewID()})
	if err != nil {
		e.log.Debug("user "+r.key+" not relayed", "bot", b.Name, "session", s.ID, "error", err)
		e.opts.Metrics.event(b.Name, r.metric+"_failed")
		return reply, nil
	}
	e.opts.Metrics.event(b.Name, r.metric)
	return reply, nil
}

// --- Files ----------------------------------------------------------------

// isFile reports whether a content type carries a file to attach.
func isFile(contentType string) bool { return contentType == "image" || contentType == "file" }

// attachmentOf is the attachment of a user's image or file payload.
func attachmentOf(p Payload) *sdk.Attachment {
	a := &sdk.Attachment{URL: str(p.Content, "url"), Name: str(p.Content, "name"), MIME: str(p.Content, "mime")}
	if n, ok := p.Content["size"].(float64); ok && n > 0 && n < math.MaxInt64 {
		a.Size = int64(n)
	}
	return a
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// linkText is a file as text, for a provider without attachments.
func linkText(a *sdk.Attachment) string {
	if a.Name != "" {
		return a.Name + ": " + a.URL
	}
	return a.URL
}

// userMessage is a user's payload as the provider gets it: an image or a
// file carries its Attachment when the provider attaches files, and is a
// text with the link when it does not.
func (e *Engine) userMessage(b *Bot, id string, p Payload) sdk.Message {
	m := sdk.Message{ID: id, ContentType: p.ContentType, Content: p.Content, Author: sdk.Author{Type: sdk.AuthorUser}}
	if !isFile(p.ContentType) {
		return m
	}
	a := attachmentOf(p)
	if _, ok := e.capable(b, sdk.CapAttachments); ok {
		m.Attachment = a
		return m
	}
	m.ContentType, m.Content = "text", map[string]any{"text": linkText(a)}
	return m
}

// --- Routing --------------------------------------------------------------

var languageRE = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{1,8})*$`)

// Bounds of routing metadata.
const (
	maxTags     = 32
	maxTagBytes = 64
)

var priorities = []string{sdk.PriorityLow, sdk.PriorityNormal, sdk.PriorityHigh, sdk.PriorityUrgent}

// routingOf normalizes the routing keys of metadata (docs/handoff.md):
// team, priority, tags and language, trimmed and lower-cased; tags a list
// of strings or one comma-separated string. It returns EINVALID naming the
// key when one has the wrong type or value.
func routingOf(md map[string]any) (sdk.Routing, error) {
	var r sdk.Routing
	bad := func(key, format string, args ...any) error {
		return &host.Error{Code: host.EINVALID, Field: "metadata." + key, Message: fmt.Sprintf("metadata.%s %s", key, fmt.Sprintf(format, args...))}
	}
	text := func(key string) (string, error) {
		v, ok := md[key]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", bad(key, "must be a string")
		}
		return strings.ToLower(strings.TrimSpace(s)), nil
	}
	var err error
	if r.Team, err = text("team"); err != nil {
		return r, err
	}
	if r.Priority, err = text("priority"); err != nil {
		return r, err
	}
	if r.Priority != "" && !slices.Contains(priorities, r.Priority) {
		return r, bad("priority", "must be low, normal, high or urgent, got %q", r.Priority)
	}
	if r.Language, err = text("language"); err != nil {
		return r, err
	}
	r.Language = strings.ReplaceAll(r.Language, "_", "-")
	if r.Language != "" && !languageRE.MatchString(r.Language) {
		return r, bad("language", "must be a language tag such as \"fr\" or \"pt-BR\", got %q", r.Language)
	}
	var raw []string
	switch v := md["tags"].(type) {
	case nil:
	case string:
		raw = strings.Split(v, ",")
	case []any:
		for i, t := range v {
			s, ok := t.(string)
			if !ok {
				return r, bad(fmt.Sprintf("tags[%d]", i), "must be a string")
			}
			raw = append(raw, s)
		}
	default:
		return r, bad("tags", "must be a list of strings or a comma-separated string")
	}
	for _, t := range raw {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || slices.Contains(r.Tags, t) {
			continue
		}
		if len(t) > maxTagBytes {
			return r, bad("tags", "holds a tag longer than %d bytes", maxTagBytes)
		}
		r.Tags = append(r.Tags, t)
	}
	if len(r.Tags) > maxTags {
		return r, bad("tags", "holds more than %d tags", maxTags)
	}
	return r, nil
}
