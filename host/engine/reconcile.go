package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/sdk"
)

// Reconciliation: a platform may drop a webhook (Chatwoot never retries
// one; Gorgias turns off an integration that fails too often), so the host
// reads every active session's platform side back — on an interval, and at
// once after its own start and after a plugin restart — and applies what it
// finds as the webhook would have. Both paths give an agent's message the
// same event id, so whichever comes second is dropped as a replay.

// Reconcile is a bot's reconciliation settings (the bot's reconcile block).
type Reconcile struct {
	// Interval is how long an active session goes without being read back
	// (0: never, reconciliation off).
	Interval time.Duration
	// RateLimit is the platform's API limit for the bot's account; zero
	// takes the plugin's Info.RateLimit, then Options.DefaultRateLimit.
	RateLimit sdk.RateLimit
}

// DefaultReconcileInterval is a bot's Reconcile.Interval when its config
// says nothing.
const DefaultReconcileInterval = 30 * time.Second

// DefaultRateLimit is the API limit assumed for a platform when neither
// the bot's config nor its plugin gives one.
var DefaultRateLimit = sdk.RateLimit{Calls: 60, Per: time.Minute}

// SessionReader is a Provider that can read sessions back: a plugin that
// serves sdk.SessionReader, as the plugin host offers it.
type SessionReader interface {
	ReadSession(ctx context.Context, req sdk.ReadRequest) (sdk.ReadResult, error)
}

// Described is a Provider that tells what its plugin is (the plugin host's
// plugins are): reconciliation reads its capabilities and rate limit.
type Described interface {
	Info() sdk.Info
}

// Restarted is a Provider whose plugin process can be restarted: a change
// of Restarts means a new process, which may have missed webhooks while
// the old one was down.
type Restarted interface {
	Restarts() int
}

// readBudget is one bot's share of its platform's API limit: a sliding
// window of the calls the host made to the provider for the bot. Starts,
// sends and ends are counted and never held back; reads are made only
// while the window has room in the half of the limit left for them, so
// reading back never delays a user's message nor, with the sends counted,
// pushes the bot past the platform's limit.
type readBudget struct {
	mu    sync.Mutex
	calls []time.Time // the calls of the last window, oldest first
	// pausedUntil holds reads back after the platform said "slow down".
	pausedUntil time.Time
}

// trim drops the calls older than the window ending at now. b.mu is held.
func (b *readBudget) trim(now time.Time, per time.Duration) {
	i := 0
	for i < len(b.calls) && !b.calls[i].After(now.Add(-per)) {
		i++
	}
	b.calls = b.calls[i:]
}

// spend counts a call that is made whatever the budget says.
func (b *readBudget) spend(now time.Time, limit sdk.RateLimit) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trim(now, limit.Per)
	b.calls = append(b.calls, now)
}

// readShare is how many calls of a window reads may bring the count to:
// half the limit, at least one.
func readShare(limit sdk.RateLimit) int {
	return max(limit.Calls/2, 1)
}

// free is how many reads may be made now.
func (b *readBudget) free(now time.Time, limit sdk.RateLimit) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.pausedUntil) {
		return 0
	}
	b.trim(now, limit.Per)
	return max(readShare(limit)-len(b.calls), 0)
}

// take counts a read if there is room for it.
func (b *readBudget) take(now time.Time, limit sdk.RateLimit) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.pausedUntil) {
		return false
	}
	b.trim(now, limit.Per)
	if len(b.calls) >= readShare(limit) {
		return false
	}
	b.calls = append(b.calls, now)
	return true
}

// pause holds reads back until t.
func (b *readBudget) pause(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.After(b.pausedUntil) {
		b.pausedUntil = t
	}
}

// reconciler is the engine's reconciliation state.
type reconciler struct {
	mu      sync.Mutex
	budgets map[string]*readBudget // by bot
	// since is, per bot, a time before which every read is stale: the
	// engine's start, then the last plugin restart seen. Sessions read
	// before it are read again at once, whatever the interval.
	since map[string]time.Time
	// restarts is the plugin's restart count last seen, per provider.
	restarts map[string]int
	// unsupported providers answered that they cannot read sessions back
	// (an old plugin), until their next restart.
	unsupported map[string]bool
}

func (r *reconciler) budget(bot string) *readBudget {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.budgets == nil {
		r.budgets = map[string]*readBudget{}
	}
	b, ok := r.budgets[bot]
	if !ok {
		b = &readBudget{}
		r.budgets[bot] = b
	}
	return b
}

// rateLimit is the API limit that applies to bot b with provider p.
func (e *Engine) rateLimit(b *Bot, p Provider) sdk.RateLimit {
	if !b.Reconcile.RateLimit.IsZero() {
		return b.Reconcile.RateLimit
	}
	if d, ok := p.(Described); ok {
		if rl := d.Info().RateLimit; !rl.IsZero() {
			return rl
		}
	}
	return e.opts.DefaultRateLimit
}

// spendCall counts a call made to the provider for bot b against its
// budget. Calls for sessions are counted whether or not the bot reads
// back: that is what the platform counts too.
func (e *Engine) spendCall(b *Bot, p Provider) {
	e.rec.budget(b.Name).spend(e.now(), e.rateLimit(b, p))
}

// reader returns bot b's provider as a SessionReader, or nil when the bot
// does not read back (reconciliation off, a plugin without the capability,
// or a plugin that is not running).
func (e *Engine) reader(b *Bot) (Provider, SessionReader) {
	if b.Reconcile.Interval <= 0 {
		return nil, nil
	}
	p, err := e.providers.Provider(b.Provider)
	if err != nil {
		return nil, nil
	}
	r, ok := p.(SessionReader)
	if !ok {
		return nil, nil
	}
	if d, ok := p.(Described); ok && !slices.Contains(d.Info().Capabilities, sdk.CapReadSession) {
		return nil, nil
	}
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	if rs, ok := p.(Restarted); ok {
		n := rs.Restarts()
		if last, seen := e.rec.restarts[b.Provider]; seen && last != n {
			// A new plugin process: whatever it missed while the old one
			// was down is read back now, for every bot it serves.
			for _, other := range e.botsOf(b.Provider) {
				e.rec.since[other.Name] = e.now()
			}
			delete(e.rec.unsupported, b.Provider)
			e.log.Info("plugin restarted; reading its sessions back", "provider", b.Provider)
		}
		e.rec.restarts[b.Provider] = n
	}
	if e.rec.unsupported[b.Provider] {
		return nil, nil
	}
	return p, r
}

func (e *Engine) reconcileLoop() {
	t := time.NewTicker(e.opts.ReconcileTick)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		if _, err := e.ReconcileDue(e.workCtx); err != nil && e.workCtx.Err() == nil {
			e.log.Error("read sessions back", "error", err)
		}
	}
}

// maxConcurrentBots bounds the bots whose sessions are read at once. One
// bot's sessions are read one after the other: a platform that answers
// "slow down" to one read is not sent the next.
const maxConcurrentBots = 8

// ReconcileDue reads back, as of the engine's clock, the active sessions
// that are due — not read for their bot's interval, or not since the
// engine started or their plugin restarted — for every bot whose provider
// can, each bot within its read budget, least recently read first. It
// returns how many sessions it read.
func (e *Engine) ReconcileDue(ctx context.Context) (int, error) {
	bots := make([]*Bot, 0, len(e.botsByName))
	for _, b := range e.botsByName {
		bots = append(bots, b)
	}
	slices.SortFunc(bots, func(a, b *Bot) int { return strings.Compare(a.Name, b.Name) })
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		read  int
		first error
	)
	sem := make(chan struct{}, maxConcurrentBots)
	for _, b := range bots {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := e.reconcileBot(ctx, b)
			mu.Lock()
			defer mu.Unlock()
			read += n
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	return read, first
}

// reconcileBot reads back bot b's due sessions, as many as its budget
// allows, one after the other.
func (e *Engine) reconcileBot(ctx context.Context, b *Bot) (int, error) {
	p, r := e.reader(b)
	if r == nil {
		return 0, nil
	}
	limit := e.rateLimit(b, p)
	budget := e.rec.budget(b.Name)
	now := e.now()
	n := budget.free(now, limit)
	if n == 0 {
		e.log.Debug("no read budget left in the window", "bot", b.Name, "rate_limit", limit.String())
		return 0, nil
	}
	before := now.Add(-b.Reconcile.Interval)
	e.rec.mu.Lock()
	if since := e.rec.since[b.Name]; since.After(before) {
		before = since
	}
	e.rec.mu.Unlock()
	due, err := e.store.DueSyncs(ctx, b.Name, before, n)
	if err != nil {
		return 0, err
	}
	read := 0
	for _, s := range due {
		if ctx.Err() != nil || !budget.take(e.now(), limit) {
			break
		}
		read++
		err := e.readBack(ctx, b, r, s, limit)
		if errors.Is(err, errStopReading) {
			break
		}
		if err != nil {
			return read, err
		}
	}
	return read, nil
}

// errStopReading ends a pass over a bot's sessions: the platform or the
// plugin said no more reads now.
var errStopReading = errors.New("stop reading this bot's sessions back")

// maxReadPause bounds how long a platform's "slow down" holds reads back.
const maxReadPause = 5 * time.Minute

// readBack reads one session's platform side since its cursor and applies
// what it finds. The session is marked read whatever the provider answers,
// so that a session the platform cannot answer for does not starve the
// others; only a store failure leaves it due. A ticket the platform no
// longer has fails the session, as a send would.
func (e *Engine) readBack(ctx context.Context, b *Bot, r SessionReader, s *host.Session, limit sdk.RateLimit) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic while reading session %s back: %v", s.ID, p)
		}
	}()
	callCtx, cancel := context.WithTimeout(ctx, e.opts.AttemptTimeout)
	began := time.Now()
	res, err := r.ReadSession(callCtx, sdk.ReadRequest{Bot: b.Name, SessionID: s.ID, Ref: s.ProviderRef, User: userOfSession(s), Cursor: s.SyncCursor})
	cancel()
	e.log.Debug("session read back", "bot", b.Name, "session", s.ID, "ref", s.ProviderRef, "cursor", s.SyncCursor,
		"events", len(res.Events), "closed", res.Closed, "next_cursor", res.Cursor, "took", time.Since(began), "error", err)
	if err != nil {
		return e.readFailed(ctx, b, s, limit, err)
	}
	events := e.readEvents(b, s, res)
	applied, _, err := e.applyEvents(ctx, b, b.Provider, events, true)
	if err != nil {
		e.opts.Metrics.read(b.Name, "error")
		return fmt.Errorf("apply what session %s's read back found: %w", s.ID, err)
	}
	if applied > 0 {
		e.opts.Metrics.caughtUp(b.Name, applied)
		e.log.Info("caught up with the platform: events its webhooks did not deliver", "bot", b.Name, "session", s.ID, "ref", s.ProviderRef, "applied", applied)
	}
	e.opts.Metrics.read(b.Name, "ok")
	return e.markRead(ctx, s.ID, res.Cursor)
}

// readEvents checks a read's events and completes them: each must be about
// s (an event naming another session or ticket is a plugin bug: dropped,
// logged), one naming nothing is s's, and a closed ticket ends the list.
func (e *Engine) readEvents(b *Bot, s *host.Session, res sdk.ReadResult) []sdk.Event {
	events := make([]sdk.Event, 0, len(res.Events)+1)
	for _, ev := range res.Events {
		if (ev.SessionID != "" && ev.SessionID != s.ID) || (ev.Ref != "" && ev.Ref != s.ProviderRef) {
			e.log.Warn("a session's read back returned an event of another session; dropped", "bot", b.Name, "provider", b.Provider,
				"session", s.ID, "event", ev.ID, "event_session", ev.SessionID, "event_ref", ev.Ref)
			continue
		}
		if ev.SessionID == "" && ev.Ref == "" {
			ev.SessionID = s.ID
		}
		events = append(events, ev)
	}
	if res.Closed {
		events = append(events, sdk.Event{ID: "read:closed", Type: sdk.EventSessionClosed, SessionID: s.ID})
	}
	return events
}

// readFailed handles a failed read: a ticket that is gone fails the
// session; a platform that says "slow down" holds the bot's reads back;
// a plugin that cannot read is not asked again until it restarts.
func (e *Engine) readFailed(ctx context.Context, b *Bot, s *host.Session, limit sdk.RateLimit, cause error) error {
	switch {
	case ctx.Err() != nil:
		return nil // shutting down: read again at the next start
	case errors.Is(cause, errors.ErrUnsupported):
		e.rec.mu.Lock()
		e.rec.unsupported[b.Provider] = true
		e.rec.mu.Unlock()
		e.opts.Metrics.read(b.Name, "unsupported")
		e.log.Warn("the plugin cannot read sessions back; reconciliation is off for it until it restarts", "provider", b.Provider)
		return errStopReading
	case sdk.KindOf(cause) == sdk.KindNotFound:
		e.opts.Metrics.read(b.Name, "gone")
		e.log.Warn("the platform no longer has the session's ticket; failing the session", "bot", b.Name, "session", s.ID, "ref", s.ProviderRef, "error", cause)
		return e.failSession(ctx, s.ID, cause)
	case sdk.KindOf(cause) == sdk.KindRateLimited:
		// Without a Retry-After, a whole window of the limit.
		wait := limit.Per
		if _, after := sdk.IsRetryable(cause); after > 0 {
			wait = min(after, maxReadPause)
		}
		e.rec.budget(b.Name).pause(e.now().Add(wait))
		e.opts.Metrics.read(b.Name, "rate_limited")
		e.log.Warn("the platform asked to slow down; reads of the bot's sessions wait", "bot", b.Name, "for", wait)
		return errStopReading // this session is read first when the pause is over
	}
	e.opts.Metrics.read(b.Name, "error")
	e.log.Warn("could not read a session back; trying again at its next turn", "bot", b.Name, "session", s.ID, "ref", s.ProviderRef, "error", cause)
	return e.markRead(ctx, s.ID, "")
}

// markRead records that session id was read back now, with the provider's
// new cursor ("" keeps the old one).
func (e *Engine) markRead(ctx context.Context, id, cursor string) error {
	return e.store.Tx(ctx, func(tx host.Tx) error {
		cur, err := tx.Session(id)
		if err != nil {
			return err
		}
		if cursor != "" {
			cur.SyncCursor = cursor
		}
		cur.SyncedAt = e.now()
		return tx.UpdateSession(cur)
	})
}
