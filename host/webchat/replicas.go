package webchat

import (
	"context"
	"fmt"
	"time"
)

// Several livechatd replicas on one database (PostgreSQL) share the
// streams: a reply handled by one replica goes to a user whose stream is
// open on another. A Log that implements the interfaces below tells the
// channel so; host/sqlite's, for one process, implements neither.

// StreamWatcher is a Log that says when a stream grew on another
// replica. fn is called with the stream's bot and user, or with "", ""
// when any stream may have grown unseen (a lost connection); it must not
// block.
type StreamWatcher interface {
	WatchStreams(fn func(bot, user string))
}

// ExchangeLocks is a Log that keeps the "a delivery waits for the user's
// exchanges in flight" rule across replicas: HoldExchange marks an
// exchange in flight until release, AwaitExchanges waits until the
// exchanges of the user held when it was called are released.
type ExchangeLocks interface {
	HoldExchange(ctx context.Context, bot, user string) (release func(), err error)
	AwaitExchanges(ctx context.Context, bot, user string) error
}

// holdTimeout bounds how long an exchange waits to be marked in flight
// across replicas before it goes on without (logged).
const holdTimeout = 5 * time.Second

// watchReplicas subscribes the channel to the other replicas' appends.
func (c *Channel) watchReplicas() {
	if w, ok := c.log.(StreamWatcher); ok {
		w.WatchStreams(c.remoteGrew)
	}
	c.locks, _ = c.log.(ExchangeLocks)
}

// remoteGrew wakes the streams of user with bot open here, or every open
// stream for "", "": each reads what it has not sent from the store.
func (c *Channel) remoteGrew(bot, user string) {
	if bot != "" || user != "" {
		c.notify(bot, user)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, subs := range c.subs {
		for ch := range subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// holdAcross marks the exchange in flight on every replica; the returned
// function releases it (a no-op when the log keeps no exchange locks).
func (c *Channel) holdAcross(bot, user string) func() {
	if c.locks == nil {
		return func() {}
	}
	ctx, cancel := context.WithTimeout(context.Background(), holdTimeout)
	defer cancel()
	release, err := c.locks.HoldExchange(ctx, bot, user)
	if err != nil {
		// The exchange goes on: a delivery handled by another replica
		// meanwhile may show before it, as an agent reply that crossed it.
		c.lg.Warn("webchat: could not mark the exchange in flight across replicas", "bot", bot, "error", err)
		return func() {}
	}
	return release
}

// awaitAcross waits for the user's exchanges in flight on any replica.
func (c *Channel) awaitAcross(ctx context.Context, bot, user string) error {
	if c.locks == nil {
		return nil
	}
	if err := c.locks.AwaitExchanges(ctx, bot, user); err != nil {
		return fmt.Errorf("webchat: wait for the user's exchange on another replica: %w", err)
	}
	return nil
}
