package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/sdk"
)

const (
	kindStart    = host.KindProviderStart
	kindSend     = host.KindProviderSend
	kindEnd      = host.KindProviderEnd
	kindNotice   = host.KindBotNotice
	kindDelivery = host.KindChannelDelivery
)

var (
	providerQueue = host.ProviderQueue
	channelQueue  = host.ChannelQueue
	botQueue      = host.BotQueue
)

// The payloads of outbox items: what the work needs beyond the session,
// fixed when the work was caused so that retries do the same thing.
type (
	startWork struct {
		User       sdk.User      `json:"user"`
		Transcript []sdk.Message `json:"transcript,omitempty"`
	}
	sendWork struct {
		MessageID string   `json:"message_id"`
		User      sdk.User `json:"user"`
		Payload   Payload  `json:"payload"`
	}
	endWork struct {
		Reason sdk.EndReason `json:"reason"`
	}
	noticeWork struct {
		Payload string `json:"payload"`
	}
	// Delivery is what a channel receives: DESIGN.md §3.3.
	Delivery struct {
		Client    Client       `json:"client"`
		SessionID string       `json:"session_id,omitempty"`
		Messages  []OutMessage `json:"messages"`
	}
)

// enqueue adds work to the outbox inside tx.
func (e *Engine) enqueue(tx host.Tx, s *host.Session, kind host.OutboxKind, key, queue string, work any) error {
	raw, err := json.Marshal(work)
	if err != nil {
		return fmt.Errorf("encode %s: %w", kind, err)
	}
	item := &host.OutboxItem{Key: key, Queue: queue, Kind: kind, Payload: raw}
	if s != nil {
		item.SessionID = s.ID
	}
	return tx.Enqueue(item)
}

// Run starts the outbox worker and the expiry loop; they stop at Close.
// The engine must be the store's only worker: it takes over the claims of
// a process that died mid-work.
func (e *Engine) Run() {
	if err := e.store.ReleaseClaims(context.Background()); err != nil {
		e.log.Error("release outbox claims", "error", err)
	}
	e.wg.Add(2)
	go func() {
		defer e.wg.Done()
		e.dispatch()
	}()
	go func() {
		defer e.wg.Done()
		e.expireLoop()
	}()
}

// Close stops the background work, letting running items finish until ctx
// is done.
func (e *Engine) Close(ctx context.Context) error {
	close(e.stop)
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("engine: in-flight work did not finish: %w", ctx.Err())
	}
}

func (e *Engine) wake() {
	select {
	case e.poke <- struct{}{}:
	default:
	}
}

// dispatch claims due queue heads and runs them on a pool of workers. It
// sleeps until the next item is due, a commit enqueues work, or a worker
// frees a queue: never a slow poll.
func (e *Engine) dispatch() {
	sem := make(chan struct{}, e.opts.Workers)
	var running sync.WaitGroup
	defer running.Wait()
	// Items in flight finish with their own timeouts; Close bounds the wait.
	ctx := context.Background()
	for {
		select {
		case <-e.stop:
			return
		default:
		}
		free := e.opts.Workers - len(sem)
		var items []*host.OutboxItem
		if free > 0 {
			var err error
			items, err = e.store.ClaimDue(ctx, e.now(), free)
			if err != nil {
				e.log.Error("claim outbox items", "error", err)
			}
		}
		for _, it := range items {
			sem <- struct{}{}
			running.Add(1)
			go func() {
				defer running.Done()
				defer func() { <-sem; e.wake() }()
				e.work(ctx, it)
			}()
		}
		if len(items) > 0 && len(items) == free {
			continue // there may be more due right now
		}
		wait := time.Hour
		if at, ok, err := e.store.NextDue(ctx); err == nil && ok {
			wait = at.Sub(e.now())
			if wait < time.Millisecond {
				wait = time.Millisecond
			}
		}
		if len(items) > 0 && wait < 10*time.Millisecond {
			// The heads just claimed are still due: wait for a worker.
			wait = time.Hour
		}
		t := time.NewTimer(wait)
		select {
		case <-e.stop:
			t.Stop()
			return
		case <-e.store.Wake():
		case <-e.poke:
		case <-t.C:
		}
		t.Stop()
	}
}

// work runs one outbox item and records the outcome.
func (e *Engine) work(ctx context.Context, it *host.OutboxItem) {
	start := e.now()
	actx, cancel := context.WithTimeout(ctx, e.opts.AttemptTimeout)
	err := e.execute(actx, it)
	cancel()
	e.opts.Metrics.outboxAttempt(string(it.Kind), err, e.now().Sub(start))
	if e.opts.OnWork != nil {
		defer e.opts.OnWork(it, err)
	}
	if err == nil {
		if err := e.store.Complete(ctx, it.ID); err != nil {
			e.log.Error("complete outbox item", "key", it.Key, "error", err)
		}
		return
	}
	retryable, after := sdk.IsRetryable(err)
	var herr *host.Error
	if errors.As(err, &herr) && (herr.Code == host.EINVALID || herr.Code == host.ENOTFOUND) {
		retryable = false
	}
	attempts := it.Attempts + 1
	if !retryable || attempts >= e.opts.MaxAttempts {
		e.log.Error("outbox item failed for good; it is a dead letter now", "kind", it.Kind, "key", it.Key, "attempts", attempts, "error", err)
		if err := e.store.Dead(ctx, it.ID, err.Error()); err != nil {
			e.log.Error("dead-letter outbox item", "key", it.Key, "error", err)
		}
		e.opts.Metrics.deadLetter(string(it.Kind))
		return
	}
	delay := e.backoff(attempts)
	if after > delay {
		delay = after
	}
	e.log.Warn("outbox item failed; will retry", "kind", it.Kind, "key", it.Key, "attempt", attempts, "in", delay, "error", err)
	if err := e.store.Retry(ctx, it.ID, e.now().Add(delay), err.Error()); err != nil {
		e.log.Error("retry outbox item", "key", it.Key, "error", err)
	}
}

// backoff is RetryBase·2^(n-1) with ±20% jitter, at most RetryMax.
func (e *Engine) backoff(n int) time.Duration {
	d := e.opts.RetryBase
	for i := 1; i < n && d < e.opts.RetryMax; i++ {
		d *= 2
	}
	if d > e.opts.RetryMax {
		d = e.opts.RetryMax
	}
	jitter := time.Duration(float64(d) * (rand.Float64()*0.4 - 0.2))
	return d + jitter
}

func (e *Engine) execute(ctx context.Context, it *host.OutboxItem) error {
	switch it.Kind {
	case kindStart:
		return e.doStart(ctx, it)
	case kindSend:
		return e.doSend(ctx, it)
	case kindEnd:
		return e.doEnd(ctx, it)
	case kindNotice:
		return e.doNotice(ctx, it)
	case kindDelivery:
		return e.doDeliver(ctx, it)
	}
	return &host.Error{Code: host.EINVALID, Field: "kind", Message: fmt.Sprintf("unknown outbox kind %q", it.Kind)}
}

func decode[T any](it *host.OutboxItem) (T, error) {
	var w T
	if err := json.Unmarshal(it.Payload, &w); err != nil {
		return w, &host.Error{Code: host.EINVALID, Field: "payload", Message: fmt.Sprintf("%s item %s: %v", it.Kind, it.Key, err)}
	}
	return w, nil
}

// sessionProvider loads an item's session and its bot and provider.
func (e *Engine) sessionProvider(ctx context.Context, it *host.OutboxItem) (*host.Session, *Bot, Provider, error) {
	s, err := e.store.Session(ctx, it.SessionID)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := e.Bot(s.Bot)
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := e.providers.Provider(s.Provider)
	if err != nil {
		return nil, nil, nil, sdk.Retryable(err, 0)
	}
	return s, b, p, nil
}

// doStart opens the ticket. Failing past start_timeout fails the session:
// the user hears messages.unavailable and the bot LIVECHAT_SESSION_FAILED.
func (e *Engine) doStart(ctx context.Context, it *host.OutboxItem) error {
	w, err := decode[startWork](it)
	if err != nil {
		return err
	}
	s, b, p, err := e.sessionProvider(ctx, it)
	if err != nil {
		if host.ErrorCode(err) == host.ENOTFOUND {
			return err
		}
		return e.startFailed(ctx, it, b, err)
	}
	if s.State != host.SessionStarting {
		return nil // ended before the ticket was opened; the end item knows
	}
	callCtx, cancel := context.WithTimeout(ctx, b.StartTimeout)
	defer cancel()
	res, err := p.StartSession(callCtx, sdk.StartRequest{
		Bot: s.Bot, SessionID: s.ID, User: w.User, Transcript: w.Transcript, IdempotencyKey: it.Key,
	})
	if err != nil {
		return e.startFailed(ctx, it, b, err)
	}
	err = e.store.Tx(ctx, func(tx host.Tx) error {
		cur, err := tx.Session(s.ID)
		if err != nil {
			return err
		}
		cur.ProviderRef = res.Ref
		if cur.State == host.SessionStarting {
			cur.State = host.SessionActive
			cur.ExpiresAt = e.now().Add(b.SessionTimeout)
		}
		return tx.UpdateSession(cur)
	})
	if err == nil {
		e.log.Info("session active", "bot", s.Bot, "session", s.ID, "ref", res.Ref)
	}
	return err
}

// startFailed decides whether a failed start is retried or fails the session.
func (e *Engine) startFailed(ctx context.Context, it *host.OutboxItem, b *Bot, cause error) error {
	retryable, _ := sdk.IsRetryable(cause)
	if retryable && b != nil && e.now().Sub(it.CreatedAt) < b.StartTimeout {
		return cause
	}
	e.log.Error("session start failed", "session", it.SessionID, "error", cause)
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		s, err := tx.Session(it.SessionID)
		if err != nil {
			return err
		}
		if s.State != host.SessionStarting {
			return nil
		}
		s.State, s.EndReason = host.SessionFailed, host.EndFailed
		if err := tx.UpdateSession(s); err != nil {
			return err
		}
		bot, err := e.Bot(s.Bot)
		if err != nil {
			return err
		}
		if bot.Messages.Unavailable != "" {
			d := Delivery{Client: clientOf(s), SessionID: s.ID, Messages: []OutMessage{hostMessage(textPayload(bot.Messages.Unavailable))}}
			if err := e.enqueue(tx, s, kindDelivery, "unavailable:"+s.ID, channelQueue(s.Bot, s.UserID), d); err != nil {
				return err
			}
		}
		return e.enqueue(tx, s, kindNotice, "notice-failed:"+s.ID, botQueue(s.Bot, s.UserID), noticeWork{Payload: PayloadFailed})
	})
	if err != nil {
		return err
	}
	e.opts.Metrics.sessionClosed(b.Name, string(host.EndFailed))
	return nil
}

func clientOf(s *host.Session) Client {
	return Client{BotID: s.Bot, ChannelID: s.ChannelID, UserID: s.UserID}
}

// doSend hands one user message to the provider.
func (e *Engine) doSend(ctx context.Context, it *host.OutboxItem) error {
	w, err := decode[sendWork](it)
	if err != nil {
		return err
	}
	s, _, p, err := e.sessionProvider(ctx, it)
	if err != nil {
		return err
	}
	if s.ProviderRef == "" {
		return nil // the start failed: there is no ticket to write to
	}
	_, err = p.SendMessage(ctx, sdk.SendRequest{
		Bot: s.Bot, SessionID: s.ID, Ref: s.ProviderRef, User: w.User,
		Message:        sdk.Message{ID: w.MessageID, ContentType: w.Payload.ContentType, Content: w.Payload.Content, Author: sdk.Author{Type: sdk.AuthorUser}},
		IdempotencyKey: it.Key,
	})
	return err
}

// doEnd closes the ticket.
func (e *Engine) doEnd(ctx context.Context, it *host.OutboxItem) error {
	w, err := decode[endWork](it)
	if err != nil {
		return err
	}
	s, _, p, err := e.sessionProvider(ctx, it)
	if err != nil {
		return err
	}
	if s.ProviderRef == "" {
		return nil
	}
	return p.EndSession(ctx, sdk.EndRequest{Bot: s.Bot, SessionID: s.ID, Ref: s.ProviderRef, User: userOfSession(s), Reason: w.Reason, IdempotencyKey: it.Key})
}

// doNotice tells the bot LIVECHAT_SESSION_* and queues its reply for the user.
func (e *Engine) doNotice(ctx context.Context, it *host.OutboxItem) error {
	w, err := decode[noticeWork](it)
	if err != nil {
		return err
	}
	s, err := e.store.Session(ctx, it.SessionID)
	if err != nil {
		return err
	}
	b, err := e.Bot(s.Bot)
	if err != nil {
		return err
	}
	ev := Event{RequestID: it.Key, Client: clientOf(s), Metadata: s.Metadata, Payload: payloadEvent(w.Payload)}
	reply, err := e.callBot(ctx, b, ev)
	if err != nil {
		return err
	}
	if len(reply.Messages) == 0 {
		return nil
	}
	for i := range reply.Messages {
		if reply.Messages[i].Author == nil {
			reply.Messages[i].Author = &Author{Type: string(host.AuthorBot)}
		}
	}
	d := Delivery{Client: clientOf(s), SessionID: s.ID, Messages: reply.Messages}
	return e.store.Tx(ctx, func(tx host.Tx) error {
		return e.enqueue(tx, s, kindDelivery, "reply:"+it.Key, channelQueue(s.Bot, s.UserID), d)
	})
}

// doDeliver sends messages to the user's channel.
func (e *Engine) doDeliver(ctx context.Context, it *host.OutboxItem) error {
	d, err := decode[Delivery](it)
	if err != nil {
		return err
	}
	b, err := e.Bot(d.Client.BotID)
	if err != nil {
		return err
	}
	if b.Webchat {
		if e.opts.Webchat == nil {
			return sdk.Retryable(errors.New("the webchat channel is not running"), 0)
		}
		return e.opts.Webchat.Deliver(ctx, b.Name, it.Key, d)
	}
	return e.postChannel(ctx, b, it.Key, d)
}

// isUnavailable reports whether a bot or channel answer is worth a retry.
func isUnavailable(status int) bool {
	return status >= 500 || status == 408 || status == 429 || status == 425
}
