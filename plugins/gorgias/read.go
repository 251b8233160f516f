package gorgias

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/sdk"
)

var _ sdk.SessionReader = (*Provider)(nil)

// maxMessagePages bounds the paging of a ticket's messages in one read
// (100 a page).
const maxMessagePages = 20

// ReadSession reads the session's ticket back, for the host to catch up
// with agent replies and closings whose webhooks were lost (Gorgias does
// not promise to deliver every one, and disables an integration that
// keeps failing).
//
// It costs one call: GET /api/tickets/{id} carries the ticket's status
// and its messages. Only when the ticket says it has a message newer than
// any it embeds does the read page through GET /api/messages?ticket_id=…
// (100 a page, oldest first) instead.
//
// The events are the agent's public messages after the cursor, in the
// ticket's order, built exactly as HandleWebhook builds them from the
// fetched message — same ids ("gorgias-message-<id>", one per attachment
// beside it), same text (the sign-off token kept), same author and time —
// so the host applies each once, whichever way it came first. Our own
// customer messages and internal notes (the expiry and user-left notes
// included) are left out, as the webhook leaves them out.
//
// The cursor is the id of the last message of the ticket read so far
// (whoever wrote it). A read with an older cursor, or none, returns
// events the host has seen and drops. A ticket the platform no longer
// knows (deleted, merged, or a sandbox that started afresh) is NotFound:
// the host fails the session, as for a send (docs/provider-contract.md).
func (p *Provider) ReadSession(ctx context.Context, req sdk.ReadRequest) (sdk.ReadResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	ticketID, err := parseRef(req.Ref)
	if err != nil {
		return sdk.ReadResult{}, fmt.Errorf("read: %w", err)
	}
	after, err := parseCursor(req.Cursor)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	t, err := b.client.ticket(ctx, ticketID)
	if err != nil {
		return sdk.ReadResult{}, fmt.Errorf("read: %w", err)
	}
	session := string(t.ExternalID)
	switch {
	case session == "":
		session = req.SessionID
	case req.SessionID != "" && session != req.SessionID:
		return sdk.ReadResult{}, sdk.Permanent(errorf("read: ticket %d is session %q's, not %q", ticketID, session, req.SessionID))
	}
	msgs := t.Messages
	if embedsLess(t) {
		if msgs, err = b.allMessages(ctx, ticketID); err != nil {
			return sdk.ReadResult{}, fmt.Errorf("read: %w", err)
		}
	}
	res := sdk.ReadResult{Closed: strings.EqualFold(string(t.Status), "closed"), Cursor: req.Cursor}
	// The assignee is the agent who joined, under the webhook's id: a lost
	// assignment is caught up, a seen one dropped as a replay.
	if ev, ok := joined(t, session); ok {
		res.Events = append(res.Events, ev)
	}
	for _, m := range since(msgs, after) {
		h := &hook{ticketID: t.ID.String(), externalID: session, messageID: m.ID.String()}
		res.Events = append(res.Events, h.withMessage(m)...)
		res.Cursor = m.ID.String()
	}
	return res, nil
}

// parseCursor reads a cursor of ReadSession: "" or a message id.
func parseCursor(c string) (id, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(c, 10, 64)
	if err != nil || n <= 0 {
		return 0, sdk.Permanent(errorf("read: cursor %.40q is not one this plugin returned (a Gorgias message id)", c))
	}
	return id(n), nil
}

// embedsLess reports whether the ticket has a message newer than those it
// embeds: then they are not all of them.
func embedsLess(t ticket) bool {
	last := parseTime(string(t.LastMessageDatetime))
	if last.IsZero() {
		return false
	}
	for _, m := range t.Messages {
		if !parseTime(string(m.CreatedDatetime)).Before(last) {
			return false
		}
	}
	return true
}

// allMessages pages through the ticket's messages, oldest first.
func (b *bot) allMessages(ctx context.Context, ticketID int64) ([]message, error) {
	var out []message
	cursor := ""
	for range maxMessagePages {
		page, next, err := b.client.messagePage(ctx, ticketID, cursor)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" || len(page) == 0 {
			return out, nil
		}
		cursor = next
	}
	return out, nil // the newest beyond the bound wait for the next read
}

// since is the messages after the one with id after, in the ticket's
// order; when that one is gone, those with a greater id (Gorgias's ids
// grow with time).
func since(msgs []message, after id) []message {
	if after == 0 {
		return msgs
	}
	for i, m := range msgs {
		if m.ID == after {
			return msgs[i+1:]
		}
	}
	var out []message
	for _, m := range msgs {
		if m.ID > after {
			out = append(out, m)
		}
	}
	return out
}
