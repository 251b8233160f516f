package sdk

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Reserved content types of the Message a SendMessage carries for the
// calls below. They travel through SendMessage so that a host or plugin
// host of an earlier protocol needs no new call: the SDK's server hands
// them to the optional interfaces, and a provider that implements neither
// never receives them (the host sends them only to providers listing
// CapUserTyping or CapCSAT).
const (
	// ContentTyping is the user's typing: content {"duration": <ms>},
	// 0 meaning stopped (CSML's typing shape).
	ContentTyping = "typing"
	// ContentRating is a satisfaction rating: content {"score": <n>,
	// "scale": <max>, "label": <the button's title>}.
	ContentRating = "csat_rating"
	// ContentRead is the user's read receipt: content {}, the user has seen
	// every message of the session so far.
	ContentRead = "read"
)

// TypingSender is implemented by providers whose platform shows the agent
// that the user is typing. SendTyping is called at most once per second per
// session (the host throttles), never retried, and never stored: a failure
// is logged and dropped. Serve adds CapUserTyping when a provider
// implements it.
type TypingSender interface {
	SendTyping(ctx context.Context, req TypingRequest) error
}

// TypingRequest says the user started (Typing) or stopped typing.
type TypingRequest struct {
	Bot       string
	SessionID string
	Ref       string
	User      User
	Typing    bool
}

// RatingRecorder is implemented by providers that record a user's
// satisfaction rating on the platform (a field, a survey answer, or an
// internal note agents see, never a public reply, and without reopening
// the ticket, which is closed by then). Serve adds CapCSAT when a provider
// implements it.
type RatingRecorder interface {
	RecordRating(ctx context.Context, req RatingRequest) error
}

// RatingRequest is one user's answer to the bot's csat question, after
// the session ended.
type RatingRequest struct {
	Bot       string
	SessionID string
	Ref       string
	User      User
	// Score is from 1 to Scale.
	Score int
	Scale int
	// Label is the title of the button the user chose, e.g. "Good".
	Label string
	// IdempotencyKey is the same on every retry of this rating.
	IdempotencyKey string
}

// ReadMarker is implemented by providers whose platform shows the agent
// that the user has read their messages. MarkRead says the user has now
// seen everything the agent sent so far. It is called at most once every
// few seconds per session (the host throttles), never retried, and never
// stored: a failure is logged and dropped. Serve adds CapRead when a
// provider implements it.
type ReadMarker interface {
	MarkRead(ctx context.Context, req ReadReceipt) error
}

// ReadReceipt says the user has read the session's messages up to now.
type ReadReceipt struct {
	Bot       string
	SessionID string
	Ref       string
	User      User
}

// ReadMessage is the Message that carries a ReadReceipt in SendMessage.
func ReadMessage() Message {
	return Message{ContentType: ContentRead, Content: map[string]any{}, Author: Author{Type: AuthorUser}}
}

// TypingMessage is the Message that carries a TypingRequest in SendMessage.
func TypingMessage(typing bool) Message {
	ms := 0
	if typing {
		ms = int(typingDuration / time.Millisecond)
	}
	return Message{ContentType: ContentTyping, Content: map[string]any{"duration": ms}, Author: Author{Type: AuthorUser}}
}

// typingDuration is how long one typing event says the user types for.
const typingDuration = 5 * time.Second

// RatingMessage is the Message that carries a RatingRequest in SendMessage.
func RatingMessage(score, scale int, label string) Message {
	return Message{ContentType: ContentRating, Content: map[string]any{"score": score, "scale": scale, "label": label},
		Author: Author{Type: AuthorUser}}
}

// number reads a JSON number or numeric string of content.
func number(content map[string]any, key string) (int, bool) {
	switch v := content[key].(type) {
	case float64:
		return int(v), true
	case int:
		return v, true
	case int64:
		return int(v), true
	case string:
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	return 0, false
}

// dispatchSend hands a SendMessage to the optional interface its reserved
// content type is for. handled is false for any other message.
func dispatchSend(ctx context.Context, p Provider, req SendRequest) (handled bool, err error) {
	switch req.Message.ContentType {
	case ContentTyping:
		ts, ok := p.(TypingSender)
		if !ok {
			return false, nil // the provider handles it in SendMessage
		}
		d, _ := number(req.Message.Content, "duration")
		return true, ts.SendTyping(ctx, TypingRequest{Bot: req.Bot, SessionID: req.SessionID, Ref: req.Ref, User: req.User, Typing: d > 0})
	case ContentRead:
		rm, ok := p.(ReadMarker)
		if !ok {
			return false, nil
		}
		return true, rm.MarkRead(ctx, ReadReceipt{Bot: req.Bot, SessionID: req.SessionID, Ref: req.Ref, User: req.User})
	case ContentRating:
		rr, ok := p.(RatingRecorder)
		if !ok {
			return false, nil
		}
		score, ok1 := number(req.Message.Content, "score")
		scale, ok2 := number(req.Message.Content, "scale")
		if !ok1 || !ok2 || score < 1 || score > scale {
			return true, Permanent(fmt.Errorf("rating: content needs a score from 1 to scale, got %v", req.Message.Content))
		}
		label, _ := req.Message.Content["label"].(string)
		return true, rr.RecordRating(ctx, RatingRequest{Bot: req.Bot, SessionID: req.SessionID, Ref: req.Ref, User: req.User,
			Score: score, Scale: scale, Label: label, IdempotencyKey: req.IdempotencyKey})
	}
	return false, nil
}
