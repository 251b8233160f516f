package engine

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/sdk"
)

// rate takes the answer to a csat question (LIVECHAT_CSAT:<score>:<session
// id>): the first answer of a closed session of the same user is stored in
// the session's outcome, counted, and — for a provider with the csat
// capability — queued for the platform behind the session's other calls.
// The bot never hears it and nothing opens; a repeated, late or foreign
// answer changes nothing. The user reads csat.thanks.
func (e *Engine) rate(ctx context.Context, in *intake) (Reply, error) {
	b, ev := in.bot, in.ev
	score, sessionID, _ := parseRating(ev.Payload)
	if b.CSAT == nil || score < 1 || score > b.CSAT.Scale {
		e.opts.Metrics.event(b.Name, "csat_refused")
		return Reply{Messages: []OutMessage{}}, nil
	}
	var replay *Reply
	var reply Reply
	var rated *host.Outcome
	err := e.store.Tx(ctx, func(tx host.Tx) error {
		rated, reply = nil, Reply{Messages: []OutMessage{}}
		if err := in.claim(tx, &replay); err != nil {
			return err
		}
		s, err := tx.Session(sessionID)
		switch {
		case host.ErrorCode(err) == host.ENOTFOUND:
			return in.remember(tx, reply)
		case err != nil:
			return err
		case s.Bot != b.Name || s.UserID != ev.Client.UserID || s.State.IsOpen():
			return in.remember(tx, reply)
		}
		o, err := tx.Outcome(s.ID)
		switch {
		case host.ErrorCode(err) == host.ENOTFOUND:
			return in.remember(tx, reply)
		case err != nil:
			return err
		}
		if o.CSATScore == 0 {
			o.CSATScore, o.CSATScale = score, b.CSAT.Scale
			if err := tx.PutOutcome(o); err != nil {
				return err
			}
			rated = o
			if _, ok := e.capable(b, sdk.CapCSAT); ok {
				m := sdk.RatingMessage(score, b.CSAT.Scale, b.CSAT.label(score))
				w := sendWork{MessageID: "csat:" + s.ID, User: userOfSession(s), Payload: Payload{ContentType: m.ContentType, Content: m.Content}}
				if err := e.enqueue(tx, s, kindSend, "csat:"+s.ID, providerQueue(s.ID), w); err != nil {
					return err
				}
			}
		}
		if b.CSAT.Thanks != "" {
			reply.Messages = []OutMessage{hostMessage(textPayload(b.CSAT.Thanks))}
		}
		return in.remember(tx, reply)
	})
	if errors.Is(err, errReplayed) {
		return *replay, err
	}
	if err != nil {
		return Reply{}, err
	}
	if rated != nil {
		e.opts.Metrics.rated(rated)
		e.opts.Metrics.event(b.Name, "csat")
	} else {
		e.opts.Metrics.event(b.Name, "csat_ignored")
	}
	return reply, nil
}

// closedHours answers a START outside the bot's hours: no live session.
// The user reads messages.closed (or, with offline_ticket, messages.offline
// once a ticket is queued with the transcript) and a session_ended event
// with reason closed_hours; the bot hears LIVECHAT_SESSION_CLOSED_HOURS
// and its answer follows.
func (e *Engine) closedHours(ctx context.Context, in *intake) (Reply, error) {
	b := in.bot
	now := e.now()
	text := b.Messages.Closed
	if b.Hours.OfflineTicket {
		var err error
		if text, err = e.offlineTicket(ctx, in, now); err != nil {
			return Reply{}, err
		}
	} else {
		// Counted in the outcomes, under an id of its own: no session.
		id := in.id("closed-hours")
		err := e.store.Tx(ctx, func(tx host.Tx) error {
			return tx.PutOutcome(&host.Outcome{SessionID: id, Bot: b.Name, Provider: b.Provider, StartedAt: now, EndedAt: now, EndReason: ReasonClosedHours})
		})
		if err != nil {
			return Reply{}, err
		}
	}
	if text != "" {
		in.prefix = append(in.prefix, hostMessage(textPayload(text)))
	}
	in.prefix = append(in.prefix, sessionEnded(ReasonClosedHours))
	e.opts.Metrics.closedHours(b.Name, b.Provider)
	in.ev.Payload = payloadEvent(PayloadClosedHours)
	return e.forward(ctx, in, "closed_hours", nil)
}

// offlineTicket opens a ticket with the transcript for a START outside
// hours, without a live session: the session is stored closed (state
// ended, reason closed_hours, as its outcome) and its start queued,
// so agent replies are kept, not delivered. It returns what the user
// reads: messages.offline with {opens}, when the bot opens next.
func (e *Engine) offlineTicket(ctx context.Context, in *intake, now time.Time) (string, error) {
	b, ev := in.bot, in.ev
	routing, err := routingOf(ev.Metadata)
	if err != nil {
		return "", err
	}
	var transcript []*host.Message
	if b.TranscriptSize > 0 {
		if transcript, err = e.store.Transcript(ctx, b.Name, ev.Client.UserID, b.TranscriptSize); err != nil {
			return "", err
		}
	}
	sess := &host.Session{ID: in.id("session"), Bot: b.Name, UserID: ev.Client.UserID, ChannelID: ev.Client.ChannelID,
		Provider: b.Provider, State: host.SessionEnded, EndReason: host.EndClosedHours, Metadata: ev.Metadata, ExpiredNotice: b.ExpiredNotice}
	start := startWork{User: userOf(ev), Transcript: transcriptMessages(transcript), Routing: routing, Offline: true}
	err = e.store.Tx(ctx, func(tx host.Tx) error {
		if err := tx.CreateSession(sess); err != nil {
			if host.ErrorCode(err) == host.ECONFLICT {
				return nil // this request's ticket is queued already
			}
			return err
		}
		if err := e.enqueue(tx, sess, kindStart, "start:"+sess.ID, providerQueue(sess.ID), start); err != nil {
			return err
		}
		return tx.PutOutcome(&host.Outcome{SessionID: sess.ID, Bot: b.Name, Provider: b.Provider, StartedAt: now, EndedAt: now, EndReason: ReasonClosedHours})
	})
	if err != nil {
		return "", err
	}
	e.log.Info("offline ticket queued outside hours", "bot", b.Name, "session", sess.ID)
	opens := ""
	if at, ok := b.Hours.NextOpen(now); ok {
		opens = at.Format("Mon 2 Jan 15:04 MST")
	}
	return strings.ReplaceAll(b.Messages.Offline, "{opens}", opens), nil
}
