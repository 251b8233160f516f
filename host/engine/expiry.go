package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/sdk"
)

func (e *Engine) expireLoop() {
	t := time.NewTicker(e.opts.ExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			if _, err := e.ExpireDue(context.Background()); err != nil {
				e.log.Error("expire sessions", "error", err)
			}
			if _, err := e.WaitDue(context.Background()); err != nil {
				e.log.Error("waiting feedback", "error", err)
			}
		}
	}
}

// expiryBatch is how many sessions one transaction expires.
const expiryBatch = 500

// ExpireDue expires every open session idle past its session_timeout, as of
// the engine's clock, and returns how many it expired. The provider closes
// the ticket; the bot hears LIVECHAT_SESSION_EXPIRED now ("immediate") or
// before the user's next event ("next_message"). Sessions are expired in
// batches, each batch one transaction with the work it causes. On a store
// whose transactions claim expiries (ExpiryClaimer: PostgreSQL), each
// batch is claimed inside its transaction, so that replicas split the due
// sessions and each is expired once.
func (e *Engine) ExpireDue(ctx context.Context) (int, error) {
	if e.claimsExpiries() {
		return e.expireClaimed(ctx)
	}
	n := 0
	for {
		due, err := e.store.DueExpiries(ctx, e.now(), expiryBatch)
		if err != nil {
			return n, err
		}
		if len(due) == 0 {
			return n, nil
		}
		expired, err := e.expire(ctx, due)
		n += expired
		if err != nil {
			return n, err
		}
		if expired == 0 {
			// Every due session was touched meanwhile (a message came
			// in): nothing more is due now.
			return n, nil
		}
	}
}

// ExpiryClaimer is a Tx that claims due expiries (host/postgres): it
// returns due open sessions locked for the transaction, skipping those
// another transaction holds, so that replicas on one database split the
// due sessions instead of waiting for each other. A store whose
// transactions do so says ClaimsExpiries.
type ExpiryClaimer interface {
	ClaimDueExpiries(now time.Time, limit int) ([]*host.Session, error)
}

// claimsExpiries reports whether the store's transactions are
// ExpiryClaimers.
func (e *Engine) claimsExpiries() bool {
	c, ok := e.store.(interface{ ClaimsExpiries() bool })
	return ok && c.ClaimsExpiries()
}

// expireClaimed is ExpireDue on a store that claims due expiries: each
// batch is claimed and expired in one transaction.
func (e *Engine) expireClaimed(ctx context.Context) (int, error) {
	n := 0
	for {
		claimed := 0
		expired, err := e.expireTx(ctx, func(tx host.Tx, now time.Time) ([]*host.Session, error) {
			c, ok := tx.(ExpiryClaimer)
			if !ok {
				return nil, fmt.Errorf("expire: the store says it claims expiries, its transaction %T does not", tx)
			}
			due, err := c.ClaimDueExpiries(now, expiryBatch)
			claimed = len(due)
			return due, err
		})
		n += expired
		if err != nil || claimed == 0 {
			return n, err
		}
	}
}

// expire expires the sessions of due that are still open and idle, in one
// transaction, and returns how many it expired.
func (e *Engine) expire(ctx context.Context, due []*host.Session) (int, error) {
	return e.expireTx(ctx, func(tx host.Tx, _ time.Time) ([]*host.Session, error) {
		out := make([]*host.Session, 0, len(due))
		for _, d := range due {
			s, err := tx.Session(d.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	})
}

// expireTx expires, in one transaction, the sessions that read returns
// (read inside it) that are still open and idle, and returns how many it
// expired.
func (e *Engine) expireTx(ctx context.Context, read func(tx host.Tx, now time.Time) ([]*host.Session, error)) (int, error) {
	var expired []*host.Session
	var outcomes []*host.Outcome
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		expired, outcomes = expired[:0], outcomes[:0]
		now := e.now()
		due, err := read(tx, now)
		if err != nil {
			return err
		}
		for _, s := range due {
			if !s.State.IsOpen() || s.ExpiresAt.After(now) {
				continue // a message came in meanwhile
			}
			s.State, s.EndReason = host.SessionExpired, host.EndExpired
			s.NoticePending = s.ExpiredNotice == host.ExpiredNoticeNextMessage
			if err := tx.UpdateSession(s); err != nil {
				return err
			}
			if err := e.enqueue(tx, s, kindEnd, "end:"+s.ID, providerQueue(s.ID), endWork{Reason: sdk.EndExpired}); err != nil {
				return err
			}
			o, err := e.closeOutcome(tx, s, string(host.EndExpired))
			if err != nil {
				return err
			}
			outcomes = append(outcomes, o)
			if b, err := e.Bot(s.Bot); err == nil {
				d := Delivery{Client: clientOf(s), SessionID: s.ID, Messages: endedMessages(b, string(host.EndExpired))}
				if err := e.enqueue(tx, s, kindDelivery, "ended:"+s.ID, channelQueue(s.Bot, s.UserID), d); err != nil {
					return err
				}
			}
			if s.ExpiredNotice == host.ExpiredNoticeImmediate {
				if err := e.enqueue(tx, s, kindNotice, "notice-expired:"+s.ID, botQueue(s.Bot, s.UserID), noticeWork{Payload: PayloadExpired}); err != nil {
					return err
				}
			}
			expired = append(expired, s)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for i, s := range expired {
		e.opts.Metrics.sessionClosed(s.Bot, string(host.EndExpired))
		e.opts.Metrics.outcomeClosed(outcomes[i])
		e.log.Debug("session expired", "bot", s.Bot, "session", s.ID, "notice", s.ExpiredNotice)
	}
	if len(expired) > 0 {
		e.log.Info("sessions expired", "count", len(expired))
	}
	return len(expired), nil
}
