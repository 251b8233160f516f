package zendesk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/sdk"
)

// hook is the body of a webhook subscribed to Zendesk ticket events (the
// "Ticket events" payload: type, id, time, subject, detail, event).
type hook struct {
	Type      string `json:"type"`
	ID        string `json:"id"` // the event's uuid
	AccountID flexID `json:"account_id"`
	Subject   string `json:"subject"` // zen:ticket:<id>
	Time      string `json:"time"`
	Detail    struct {
		ID          flexID `json:"id"`
		ExternalID  string `json:"external_id"`
		RequesterID flexID `json:"requester_id"`
		Status      string `json:"status"`
	} `json:"detail"`
	Event struct {
		Comment  *hookComment `json:"comment"`
		Current  string       `json:"current"`
		Previous string       `json:"previous"`
	} `json:"event"`
}

type hookComment struct {
	ID       flexID   `json:"id"`
	Body     string   `json:"body"`
	IsPublic flexBool `json:"is_public"`
	Author   struct {
		ID      flexID   `json:"id"`
		IsStaff flexBool `json:"is_staff"`
		Name    string   `json:"name"`
	} `json:"author"`
}

// errNotJSON is a body that is not a ticket event.
var errNotJSON = errors.New("not a zendesk ticket event")

// parseWebhook reads a webhook body (already verified) into the events it
// means for bot: an agent's public comment is an agent_message, a ticket
// solved or closed is session_closed; anything else — the requester's own
// comments (the plugin's echoes), private notes, other tickets, other bots'
// sessions, other event types — is no event.
func parseWebhook(bot string, body []byte) ([]sdk.Event, error) {
	var h hook
	if err := json.Unmarshal(body, &h); err != nil {
		return nil, fmt.Errorf("%w: %v", errNotJSON, err)
	}
	if !strings.HasPrefix(h.Type, "zen:event-type:ticket.") {
		return nil, nil
	}
	owner, session, ok := parseExternalID(h.Detail.ExternalID)
	if !ok || owner != bot {
		return nil, nil
	}
	id := int64(h.Detail.ID)
	if id <= 0 {
		id = ticketFromSubject(h.Subject)
	}
	if id <= 0 {
		return nil, nil
	}
	ref := strconv.FormatInt(id, 10)
	switch h.Type {
	case EventCommentAdded:
		c := h.Event.Comment
		if c == nil || c.ID <= 0 {
			return nil, nil
		}
		if !bool(c.IsPublic) || !bool(c.Author.IsStaff) || c.Author.ID == h.Detail.RequesterID || strings.TrimSpace(c.Body) == "" {
			return nil, nil // not an agent's reply, or nothing to say (an attachment alone)
		}
		return []sdk.Event{agentEvent(session, ref, int64(c.ID), c.Body, c.Author.Name)}, nil
	case EventStatusChanged:
		if solved(h.Event.Current) {
			return []sdk.Event{closedEvent(session, ref)}, nil
		}
	}
	return nil, nil
}

// ticketFromSubject reads "zen:ticket:<id>".
func ticketFromSubject(s string) int64 {
	rest, ok := strings.CutPrefix(s, "zen:ticket:")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func solved(status string) bool {
	s := strings.ToLower(status)
	return s == "solved" || s == "closed"
}

// agentEvent is an agent's comment as an event. Its ID is Zendesk's
// comment id, the same whether a webhook or a read back finds it; the text
// goes through unchanged (a sign-off macro's LIVECHAT_SESSION_END
// included).
func agentEvent(session, ref string, id int64, body, author string) sdk.Event {
	msg := sdk.Text(body)
	msg.Author = sdk.Author{Type: sdk.AuthorAgent, Name: author}
	return sdk.Event{ID: "comment:" + strconv.FormatInt(id, 10), Type: sdk.EventAgentMessage, SessionID: session, Ref: ref, Message: msg}
}

// closedEvent is the ticket solved (or closed): the session ends.
func closedEvent(session, ref string) sdk.Event {
	return sdk.Event{ID: "solved:" + ref, Type: sdk.EventSessionClosed, SessionID: session, Ref: ref}
}

// HandleWebhook checks X-Zendesk-Webhook-Signature over the timestamp and
// the exact body, then turns the ticket event into events. The host has
// checked the URL's token and drops events it has seen (Zendesk may send
// an event more than once).
func (p *Provider) HandleWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.WebhookResult{}, err
	}
	if err := b.scheme.Verify(b.secret, req.Header, req.Body, p.now()); err != nil {
		return sdk.WebhookResult{}, sdk.Unauthorized("zendesk webhook: %v", err)
	}
	var kind struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(req.Body, &kind) == nil && kind.Type == EventAgentAssignmentChanged {
		events, err := p.assignment(ctx, b, req.Body)
		return sdk.WebhookResult{Events: events}, err
	}
	events, err := parseWebhook(req.Bot, req.Body)
	if err != nil {
		return sdk.WebhookResult{}, sdk.Permanent(fmt.Errorf("zendesk webhook body: %w", err))
	}
	return sdk.WebhookResult{Events: events}, nil
}
