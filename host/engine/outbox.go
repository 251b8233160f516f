package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
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
	kindWebhook  = host.KindWebhook
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
		Routing    sdk.Routing   `json:"routing,omitzero"`
		// Offline opens a ticket for a session closed already (hours'
		// offline_ticket): the session stays closed.
		Offline bool `json:"offline,omitempty"`
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
	// Delivery is what a channel receives: docs/events.md.
	Delivery struct {
		Client    Client       `json:"client"`
		SessionID string       `json:"session_id,omitempty"`
		Messages  []OutMessage `json:"messages"`
		// Ephemeral marks what must not be kept (a typing indicator): it
		// comes once, outside the outbox, and a channel that keeps
		// history (the webchat's stream) should not store it.
		Ephemeral bool `json:"-"`
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
// The engine must be the store's only worker (an SQLite file is locked by
// one process): it takes over the claims of a process that died mid-work.
func (e *Engine) Run() {
	if err := e.store.ReleaseClaims(context.Background()); err != nil {
		e.log.Error("release outbox claims", "error", err)
	}
	e.wg.Add(3)
	go func() {
		defer e.wg.Done()
		e.supervise("outbox dispatcher", e.dispatch)
	}()
	go func() {
		defer e.wg.Done()
		e.supervise("reconciliation loop", e.reconcileLoop)
	}()
	go func() {
		defer e.wg.Done()
		e.supervise("expiry loop", e.expireLoop)
	}()
}

// supervise runs loop until it returns normally; a panic is logged and the
// loop starts again, so one bad item never takes the process down.
func (e *Engine) supervise(name string, loop func()) {
	for {
		panicked := false
		func() {
			defer func() {
				if r := recover(); r != nil {
					panicked = true
					e.log.Error("panic; restarting "+name, "panic", r, "stack", string(debug.Stack()))
				}
			}()
			loop()
		}()
		if !panicked {
			return
		}
		select {
		case <-e.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close stops the background work. Running outbox items may finish until
// ctx is done; then their contexts are cancelled and each hands its claim
// back to the store, so the next start runs them at once, without counting
// an attempt. Close returns when every worker has stopped.
func (e *Engine) Close(ctx context.Context) error {
	e.stopOnce.Do(func() { close(e.stop) })
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		e.cancelWork()
		return nil
	case <-ctx.Done():
	}
	e.cancelWork()
	// Cancelled work returns promptly: a plugin or HTTP call ends with its
	// context, and the hand-back runs on its own short deadline.
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		return errors.New("engine: outbox workers did not stop after cancellation")
	}
	return fmt.Errorf("engine: in-flight work was cut short and handed back: %w", ctx.Err())
}

func (e *Engine) wake() {
	select {
	case e.poke <- struct{}{}:
	default:
	}
}

// dispatch claims due queue heads and runs them on a pool of workers. It
// sleeps until the next item is due, a commit enqueues work, or a worker
// frees a queue: never a slow poll. Claimed items are leased, so the next
// due time it sleeps until is that of an item no worker holds.
func (e *Engine) dispatch() {
	sem := make(chan struct{}, e.opts.Workers)
	var running sync.WaitGroup
	defer running.Wait()
	ctx := e.workCtx
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
				defer func() {
					if r := recover(); r != nil { // the lease brings the item back
						e.log.Error("panic in outbox worker", "key", it.Key, "panic", r, "stack", string(debug.Stack()))
					}
				}()
				e.work(ctx, it)
			}()
		}
		if len(items) > 0 && len(items) == free {
			continue // there may be more due right now
		}
		wait := time.Hour
		if free == 0 {
			// Every worker is busy: a freed one pokes.
		} else if at, ok, err := e.store.NextDue(ctx); err == nil && ok {
			wait = max(at.Sub(e.now()), time.Millisecond)
		} else if err != nil {
			wait = time.Second // the store is busy or down: try again soon
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

// work runs one outbox item and records the outcome. A panic in the work is
// a failed attempt, not a dead process.
func (e *Engine) work(ctx context.Context, it *host.OutboxItem) {
	start := e.now()
	actx, cancel := context.WithTimeout(ctx, e.opts.AttemptTimeout)
	err := e.safeExecute(actx, it)
	cancel()
	e.opts.Metrics.outboxAttempt(string(it.Kind), err, e.now().Sub(start))
	if e.opts.OnWork != nil {
		defer e.opts.OnWork(it, err)
	}
	// The outcome is recorded even when ctx was cancelled by Close.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer scancel()
	if err == nil {
		if err := e.store.Complete(sctx, it); err != nil {
			e.log.Error("complete outbox item", "key", it.Key, "error", err)
		}
		return
	}
	if ctx.Err() != nil {
		// Shutting down: the attempt was cut short, not failed.
		if err := e.store.Release(sctx, it, e.now()); err != nil {
			e.log.Error("hand back outbox item", "key", it.Key, "error", err)
		}
		return
	}
	if e.opts.PluginDown != nil && e.opts.PluginDown(err) && !e.startTimedOut(it) {
		// The plugin is not running: the work waits for it, attempts
		// untouched. The supervisor brings the plugin back.
		if err := e.store.Release(sctx, it, e.now().Add(e.opts.RetryBase*5)); err != nil {
			e.log.Error("hand back outbox item", "key", it.Key, "error", err)
		}
		return
	}
	retryable, after := sdk.IsRetryable(err)
	switch host.ErrorCode(err) {
	case host.EINVALID, host.ENOTFOUND:
		retryable = false
	case host.EBUSY:
		retryable = true
	}
	attempts := it.Attempts + 1
	if !retryable || attempts >= e.opts.MaxAttempts {
		if isProviderWork(it.Kind) && it.SessionID != "" {
			// The session cannot go on without this work: fail it first,
			// so that the user and the bot hear of it instead of silence.
			// Until that commits, the item stays (failSession of a closed
			// session is a no-op, so a second try is safe).
			if ferr := e.failSession(sctx, it.SessionID, err); ferr != nil {
				e.log.Error("fail the session of a dead letter; will try again", "session", it.SessionID, "error", ferr)
				if rerr := e.store.Release(sctx, it, e.now().Add(e.backoff(1))); rerr != nil {
					e.log.Error("hand back outbox item", "key", it.Key, "error", rerr)
				}
				return
			}
		}
		e.log.Error("outbox item failed for good; it is a dead letter now", "kind", it.Kind, "key", it.Key, "attempts", attempts, "error", err)
		if err := e.store.Dead(sctx, it, err.Error()); err != nil {
			e.log.Error("dead-letter outbox item", "key", it.Key, "error", err)
			return
		}
		e.opts.Metrics.deadLetter(string(it.Kind))
		return
	}
	delay := e.backoff(attempts)
	if after > delay {
		delay = min(after, e.opts.RetryMax) // a platform's Retry-After, within reason
	}
	e.log.Warn("outbox item failed; will retry", "kind", it.Kind, "key", it.Key, "attempt", attempts, "in", delay, "error", err)
	if err := e.store.Retry(sctx, it, e.now().Add(delay), err.Error()); err != nil {
		e.log.Error("retry outbox item", "key", it.Key, "error", err)
	}
}

func isProviderWork(k host.OutboxKind) bool {
	return k == kindStart || k == kindSend || k == kindEnd
}

// startTimedOut reports whether it is a session's start that has waited
// past its bot's start_timeout: a plugin down that long fails the session.
func (e *Engine) startTimedOut(it *host.OutboxItem) bool {
	if it.Kind != kindStart {
		return false
	}
	s, err := e.store.Session(context.Background(), it.SessionID)
	if err != nil {
		return false
	}
	b, err := e.Bot(s.Bot)
	return err == nil && e.now().Sub(it.CreatedAt) >= b.StartTimeout
}

// safeExecute is execute with a panic turned into a retryable error.
func (e *Engine) safeExecute(ctx context.Context, it *host.OutboxItem) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("panic in outbox work", "kind", it.Kind, "key", it.Key, "panic", r, "stack", string(debug.Stack()))
			err = sdk.Retryable(fmt.Errorf("panic: %v", r), 0)
		}
	}()
	return e.execute(ctx, it)
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
	case kindWebhook:
		return e.doWebhook(ctx, it)
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

// sessionProvider loads an item's session and its bot and provider. A
// store error is returned as is (the item is retried); an unknown bot is
// ENOTFOUND (its config is gone); a missing plugin is retryable.
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
		return s, b, nil, sdk.Retryable(err, 0)
	}
	return s, b, p, nil
}

// platformGone reports whether a provider's error says the session's
// platform side cannot be used any more: the ticket was deleted or merged
// (NotFound), or the platform refuses the call for good.
func platformGone(err error) bool {
	retryable, _ := sdk.IsRetryable(err)
	return err != nil && !retryable
}

// doStart opens the ticket. Failing past start_timeout fails the session:
// the user hears messages.unavailable and the bot LIVECHAT_SESSION_FAILED.
func (e *Engine) doStart(ctx context.Context, it *host.OutboxItem) error {
	w, err := decode[startWork](it)
	if err != nil {
		return err
	}
	s, b, p, err := e.sessionProvider(ctx, it)
	switch {
	case err != nil && sdk.KindOf(err) == sdk.KindUnavailable && b != nil:
		return e.startFailed(ctx, it, b, err) // no plugin: retried until start_timeout
	case err != nil:
		return err // the store: retried; the session itself never fails for it
	}
	if s.State != host.SessionStarting && !w.Offline {
		return nil // ended before the ticket was opened; the end item knows
	}
	if w.Offline && s.ProviderRef != "" {
		return nil // opened already
	}
	callCtx, cancel := context.WithTimeout(ctx, b.StartTimeout)
	defer cancel()
	e.spendCall(b, p)
	res, err := p.StartSession(callCtx, sdk.StartRequest{
		Bot: s.Bot, SessionID: s.ID, User: w.User, Transcript: w.Transcript, IdempotencyKey: it.Key, Routing: w.Routing,
	})
	if err == nil && res.Ref == "" {
		err = sdk.Permanent(fmt.Errorf("provider %s opened no ticket: StartSession returned an empty Ref", s.Provider))
	}
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down: handed back, not failed
		}
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
			// Nothing to read back yet: the first read comes one
			// reconcile interval from now, not at the next tick.
			cur.SyncedAt = e.now()
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
	if retryable && e.now().Sub(it.CreatedAt) < b.StartTimeout {
		return cause
	}
	e.log.Error("session start failed", "session", it.SessionID, "error", cause)
	return e.failSession(ctx, it.SessionID, cause)
}

// failSession ends an open session with reason failed because its platform
// side is gone or cannot be reached: the user hears messages.unavailable,
// the bot LIVECHAT_SESSION_FAILED, and the user's next event goes to the
// bot. A closed session is left alone.
func (e *Engine) failSession(ctx context.Context, sessionID string, cause error) error {
	var failed *host.Session
	var outcome *host.Outcome
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		s, err := tx.Session(sessionID)
		if err != nil {
			return err
		}
		if !s.State.IsOpen() {
			return nil
		}
		b, err := e.Bot(s.Bot)
		if err != nil {
			return err
		}
		s.State, s.EndReason = host.SessionFailed, host.EndFailed
		if err := tx.UpdateSession(s); err != nil {
			return err
		}
		failed = s
		if outcome, err = e.closeOutcome(tx, s, string(host.EndFailed)); err != nil {
			return err
		}
		var msgs []OutMessage
		if b.Messages.Unavailable != "" {
			msgs = append(msgs, hostMessage(textPayload(b.Messages.Unavailable)))
		}
		d := Delivery{Client: clientOf(s), SessionID: s.ID, Messages: append(msgs, sessionEnded(string(host.EndFailed)))}
		if err := e.enqueue(tx, s, kindDelivery, "unavailable:"+s.ID, channelQueue(s.Bot, s.UserID), d); err != nil {
			return err
		}
		return e.enqueue(tx, s, kindNotice, "notice-failed:"+s.ID, botQueue(s.Bot, s.UserID), noticeWork{Payload: PayloadFailed})
	})
	if err != nil || failed == nil {
		return err
	}
	e.opts.Metrics.sessionClosed(failed.Bot, string(host.EndFailed))
	e.opts.Metrics.outcomeClosed(outcome)
	e.log.Warn("session failed", "bot", failed.Bot, "session", failed.ID, "cause", cause)
	return nil
}

func clientOf(s *host.Session) Client {
	return Client{BotID: s.Bot, ChannelID: s.ChannelID, UserID: s.UserID}
}

// doSend hands one user message to the provider. When the platform says
// the ticket is gone, the session fails instead of the message dying.
func (e *Engine) doSend(ctx context.Context, it *host.OutboxItem) error {
	w, err := decode[sendWork](it)
	if err != nil {
		return err
	}
	s, b, p, err := e.sessionProvider(ctx, it)
	if err != nil {
		return err
	}
	if s.ProviderRef == "" {
		return nil // the start failed: there is no ticket to write to
	}
	e.spendCall(b, p)
	_, err = p.SendMessage(ctx, sdk.SendRequest{
		Bot: s.Bot, SessionID: s.ID, Ref: s.ProviderRef, User: w.User,
		Message:        e.userMessage(b, w.MessageID, w.Payload),
		IdempotencyKey: it.Key,
	})
	if platformGone(err) && ctx.Err() == nil {
		e.log.Warn("the platform refused a message for good; failing the session", "session", s.ID, "ref", s.ProviderRef, "error", err)
		return e.failSession(ctx, s.ID, err)
	}
	return err
}

// doEnd closes the ticket. A ticket the platform no longer knows is closed
// enough.
func (e *Engine) doEnd(ctx context.Context, it *host.OutboxItem) error {
	w, err := decode[endWork](it)
	if err != nil {
		return err
	}
	s, b, p, err := e.sessionProvider(ctx, it)
	if err != nil {
		return err
	}
	if s.ProviderRef == "" {
		return nil
	}
	e.spendCall(b, p)
	err = p.EndSession(ctx, sdk.EndRequest{Bot: s.Bot, SessionID: s.ID, Ref: s.ProviderRef, User: userOfSession(s), Reason: w.Reason, IdempotencyKey: it.Key})
	if sdk.KindOf(err) == sdk.KindNotFound {
		e.log.Info("the ticket to close is gone already", "session", s.ID, "ref", s.ProviderRef)
		return nil
	}
	return err
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
	reply, err := e.bots.CallBot(ctx, b, ev)
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
	return e.channels.Deliver(ctx, b.Name, it.Key, d)
}

// isUnavailable reports whether a bot or channel answer is worth a retry.
func isUnavailable(status int) bool {
	return status >= 500 || status == 408 || status == 429 || status == 425
}
