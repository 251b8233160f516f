package freshdesk

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/webhook"
)

// Hook is the body the automation rule sends (WebhookBody, rendered).
type Hook struct {
	TicketID int64
	Status   string
}

// maxHookBody bounds a webhook body: the rule's is some 50 bytes.
const maxHookBody = 64 << 10

// ParseWebhook reads the rule's body: {"ticket_id": <id>, "status": "..."}.
// The id may come as a number or, if an operator quoted the placeholder, a
// string.
func ParseWebhook(body []byte) (Hook, error) {
	if len(body) > maxHookBody {
		return Hook{}, fmt.Errorf("body of %d bytes: the rule's body is a few dozen", len(body))
	}
	var raw struct {
		TicketID json.RawMessage `json:"ticket_id"`
		Status   any             `json:"status"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return Hook{}, fmt.Errorf("body is not the rule's JSON: %w", err)
	}
	id := strings.Trim(strings.TrimSpace(string(raw.TicketID)), `"`)
	if id == "" {
		return Hook{}, fmt.Errorf("field ticket_id is missing: paste the body the README gives")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	if err != nil || n <= 0 {
		return Hook{}, fmt.Errorf("field ticket_id %q is not a ticket id", truncate(id, 40))
	}
	h := Hook{TicketID: n}
	switch s := raw.Status.(type) {
	case string:
		h.Status = s
	case float64:
		h.Status = strconv.FormatFloat(s, 'f', -1, 64)
	}
	return h, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// authentic says the request carries the bot's webhook secret: in
// SecretHeader, or as the password of the rule's "Requires authentication"
// (HTTP Basic). Freshdesk signs nothing.
func authentic(req sdk.WebhookRequest, secret string) bool {
	if got := req.HeaderValue(SecretHeader); got != "" {
		return webhook.TokenEqual(got, secret)
	}
	auth := req.HeaderValue("Authorization")
	enc, ok := strings.CutPrefix(auth, "Basic ")
	if !ok {
		return false
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return false
	}
	_, pass, ok := strings.Cut(string(dec), ":")
	return ok && webhook.TokenEqual(pass, secret)
}

// HandleWebhook takes the automation rule's call: it checks the secret,
// then reads the ticket and its conversations and answers the agents'
// public replies since the last read as agent_message events (ids:
// Freshdesk's conversation ids) and a resolved or closed ticket as
// session_closed. The user's own notes, which the rule may echo, private
// and public notes and tickets that are not livechat's give no events.
// When Freshdesk cannot be read now the call fails retryable: the host
// keeps the webhook and hands it over again.
func (p *Provider) HandleWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.WebhookResult{}, err
	}
	if !authentic(req, b.cfg.WebhookSecret) {
		return sdk.WebhookResult{}, sdk.Unauthorized("freshdesk webhook: no valid %s header (or Basic auth password): set it to the bot's webhook_secret in the rule", SecretHeader)
	}
	if req.Method != http.MethodPost && req.Method != http.MethodPut {
		return sdk.WebhookResult{}, sdk.Permanent(fmt.Errorf("freshdesk webhook: method %s: the rule's request type must be POST", req.Method))
	}
	h, err := ParseWebhook(req.Body)
	if err != nil {
		return sdk.WebhookResult{}, sdk.Permanent(fmt.Errorf("freshdesk webhook: %w", err))
	}
	t, err := b.ticket(ctx, h.TicketID)
	if sdk.KindOf(err) == sdk.KindNotFound {
		return sdk.WebhookResult{}, nil // deleted since, or another helpdesk's
	}
	if err != nil {
		return sdk.WebhookResult{}, fmt.Errorf("freshdesk webhook: read ticket %d: %w", h.TicketID, err)
	}
	session := sessionOf(t)
	if session == "" {
		return sdk.WebhookResult{}, nil // not a livechat ticket
	}
	from := b.page(t.ID)
	convs, last, err := b.conversations(ctx, t.ID, from)
	if err != nil {
		return sdk.WebhookResult{}, fmt.Errorf("freshdesk webhook: read ticket %d's conversations: %w", t.ID, err)
	}
	b.setPage(t.ID, last)
	events := append(b.joined(ctx, t, session), agentEvents(t, session, convs, 0, b.agentNames(ctx, convs, 0))...)
	if closed(t) {
		events = append(events, closedEvent(t, session))
	}
	return sdk.WebhookResult{Events: events}, nil
}

func (b *bot) page(ticket int64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.pages[ticket], 1)
}

func (b *bot) setPage(ticket int64, page int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pages[ticket] = page
}

func closed(t Ticket) bool { return t.Status == statusResolved || t.Status == statusClosed }

// agentReply says a conversation is an agent's public reply: the user
// sees it. Incoming conversations are the user's (our notes, emails);
// notes, public or private, stay in Freshdesk.
func agentReply(c Conversation) bool {
	return c.Source == convReply && !c.Incoming && !c.Private
}

// agentEvents are the agent replies among convs with an id above after,
// in Freshdesk's order. An event's id is the conversation's: the webhook
// and a read give a reply the same one.
func agentEvents(t Ticket, session string, convs []Conversation, after int64, names map[int64]string) []sdk.Event {
	var events []sdk.Event
	ref := strconv.FormatInt(t.ID, 10)
	for _, c := range convs {
		if c.ID <= after || !agentReply(c) {
			continue
		}
		text := strings.TrimSpace(c.BodyText)
		files := fileEvents(session, ref, c, names[c.UserID])
		if text == "" {
			events = append(events, files...)
			continue
		}
		msg := sdk.Text(text)
		msg.Author = sdk.Author{Type: sdk.AuthorAgent, Name: names[c.UserID]}
		msg.ID = "freshdesk-conversation-" + strconv.FormatInt(c.ID, 10)
		if !c.CreatedAt.IsZero() {
			msg.Time = c.CreatedAt
		}
		events = append(events, sdk.Event{ID: "conversation:" + strconv.FormatInt(c.ID, 10), Type: sdk.EventAgentMessage,
			SessionID: session, Ref: ref, Message: msg})
		events = append(events, files...)
	}
	return events
}

func closedEvent(t Ticket, session string) sdk.Event {
	ref := strconv.FormatInt(t.ID, 10)
	return sdk.Event{ID: "closed:" + ref, Type: sdk.EventSessionClosed, SessionID: session, Ref: ref}
}
