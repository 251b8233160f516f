package engine

import (
	"context"
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
		}
	}
}

// ExpireDue expires every open session idle past its session_timeout, as of
// the engine's clock, and returns how many it expired. The provider closes
// the ticket; the bot hears LIVECHAT_SESSION_EXPIRED now ("immediate") or
// before the user's next event ("next_message").
func (e *Engine) ExpireDue(ctx context.Context) (int, error) {
	n := 0
	for {
		due, err := e.store.DueExpiries(ctx, e.now(), 100)
		if err != nil {
			return n, err
		}
		if len(due) == 0 {
			return n, nil
		}
		for _, s := range due {
			ok, err := e.expire(ctx, s.ID)
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
	}
}

func (e *Engine) expire(ctx context.Context, id string) (bool, error) {
	var expired *host.Session
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		s, err := tx.Session(id)
		if err != nil {
			return err
		}
		if !s.State.IsOpen() || s.ExpiresAt.After(e.now()) {
			return nil // a message came in meanwhile
		}
		s.State, s.EndReason = host.SessionExpired, host.EndExpired
		s.NoticePending = s.ExpiredNotice == host.ExpiredNoticeNextMessage
		if err := tx.UpdateSession(s); err != nil {
			return err
		}
		expired = s
		if err := e.enqueue(tx, s, kindEnd, "end:"+s.ID, providerQueue(s.ID), endWork{Reason: sdk.EndExpired}); err != nil {
			return err
		}
		if s.ExpiredNotice == host.ExpiredNoticeImmediate {
			return e.enqueue(tx, s, kindNotice, "notice-expired:"+s.ID, botQueue(s.Bot, s.UserID), noticeWork{Payload: PayloadExpired})
		}
		return nil
	})
	if err != nil || expired == nil {
		return false, err
	}
	e.opts.Metrics.sessionClosed(expired.Bot, string(host.EndExpired))
	e.log.Info("session expired", "bot", expired.Bot, "session", expired.ID, "notice", expired.ExpiredNotice)
	return true, nil
}
