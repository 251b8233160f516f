package zendesk

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/sdk"
)

// maxReadPages bounds one read: a ticket holds at most 5000 comments
// (Zendesk answers 422 past them), 50 pages of 100, so a read always
// reaches the cursor; usually it takes one page.
const maxReadPages = 50

// ReadSession reads the session's ticket back: the agents' public comments
// with an id above the cursor (a Zendesk comment id), oldest first, with the
// ids HandleWebhook gives them, and whether the ticket is solved or closed.
// Zendesk webhooks are lost while livechatd is down, refused, or after
// Zendesk's own retries; this is how their replies still reach the user.
//
// Two calls: GET /tickets/{id}.json for the status, then GET
// /tickets/{id}/comments.json (newest first, 100 a page, authors
// sideloaded; one more page per 100 new comments). The status is read
// first, so a reply written before the agent solved the ticket is in the
// comments read after it, in the same answer as the Closed that ends the
// session.
func (p *Provider) ReadSession(ctx context.Context, req sdk.ReadRequest) (sdk.ReadResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	id, err := ticketID(req.Ref)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	var after int64
	if c := strings.TrimSpace(req.Cursor); c != "" {
		if after, err = strconv.ParseInt(c, 10, 64); err != nil || after < 0 {
			return sdk.ReadResult{}, sdk.Permanent(fmt.Errorf("cursor %q: not a zendesk comment id", req.Cursor))
		}
	}
	t, err := b.ticket(ctx, id)
	if err != nil {
		return sdk.ReadResult{}, fmt.Errorf("read ticket %d: %w", id, err)
	}
	owner, session, ok := parseExternalID(t.ExternalID)
	if !ok || owner != req.Bot || (req.SessionID != "" && session != req.SessionID) {
		return sdk.ReadResult{}, sdk.Permanent(fmt.Errorf("ticket %d (external_id %q) is not livechat session %q of bot %q", id, t.ExternalID, req.SessionID, req.Bot))
	}
	b.rememberRequester(req.Ref, t.RequesterID)
	cs, users, complete, err := b.newestComments(ctx, id, after, maxReadPages)
	if err != nil {
		return sdk.ReadResult{}, fmt.Errorf("read the comments of ticket %d: %w", id, err)
	}
	slices.Reverse(cs) // oldest first
	cursor := after
	var events []sdk.Event
	for _, c := range cs {
		if a, ok := users[c.AuthorID]; ok && isAgentComment(c, a, t.RequesterID) {
			events = append(events, agentEvent(session, req.Ref, c.ID, c.Body, a.Name))
			events = append(events, fileEvents(session, req.Ref, c.ID, c.Attachments, a.Name)...)
		}
		cursor = max(cursor, c.ID)
	}
	res := sdk.ReadResult{Events: events, Closed: complete && solved(t.Status)}
	if cursor != after || req.Cursor == "" {
		res.Cursor = strconv.FormatInt(cursor, 10)
	}
	return res, nil
}

// isAgentComment is what the webhook forwards: a public comment with text
// by staff (an agent or admin) who is not the requester.
func isAgentComment(c comment, author user, requester int64) bool {
	return c.isPublic() && c.AuthorID != requester && (author.Role == "agent" || author.Role == "admin") && strings.TrimSpace(c.Body) != ""
}
