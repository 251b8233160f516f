package freshdesk

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/sdk"
)

// cursor is where a read left off: the conversations page the last
// conversation read is on, and its id.
type cursor struct {
	page int
	last int64
}

func (c cursor) String() string { return strconv.Itoa(c.page) + ":" + strconv.FormatInt(c.last, 10) }

func parseCursor(s string) (cursor, error) {
	if strings.TrimSpace(s) == "" {
		return cursor{page: 1}, nil
	}
	p, l, ok := strings.Cut(s, ":")
	page, err1 := strconv.Atoi(p)
	last, err2 := strconv.ParseInt(l, 10, 64)
	if !ok || err1 != nil || err2 != nil || page < 1 || last < 0 {
		return cursor{}, sdk.Permanent(fmt.Errorf("cursor %q: not <page>:<conversation id>", s))
	}
	return cursor{page: page, last: last}, nil
}

// ReadSession reads the session's ticket back: the agents' replies after
// the cursor, with the ids HandleWebhook gives them, and whether the ticket
// is resolved or closed. Freshdesk retries a failed webhook only minutes
// later and drops webhooks over the account's rate limit; this is how those
// replies still reach the user.
//
// Two calls: GET /tickets/{id} for the status (first, so a reply written
// before the close is in the conversations read after it), then GET
// /tickets/{id}/conversations from the cursor's page (one more per 100
// conversations).
func (p *Provider) ReadSession(ctx context.Context, req sdk.ReadRequest) (sdk.ReadResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	id, err := ticketRef(req.Ref)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	cur, err := parseCursor(req.Cursor)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	t, err := b.ticket(ctx, id)
	if sdk.KindOf(err) == sdk.KindNotFound {
		return sdk.ReadResult{Closed: true}, nil // deleted: nothing more will come
	}
	if err != nil {
		return sdk.ReadResult{}, fmt.Errorf("read session %s: ticket %d: %w", req.SessionID, id, err)
	}
	session := sessionOf(t)
	if session != "" && req.SessionID != "" && session != req.SessionID {
		return sdk.ReadResult{}, sdk.Permanent(fmt.Errorf("ticket %d belongs to livechat session %q, not %q", id, session, req.SessionID))
	}
	if session == "" {
		session = req.SessionID
	}
	convs, page, err := b.conversations(ctx, id, cur.page)
	if err != nil {
		return sdk.ReadResult{}, fmt.Errorf("read session %s: conversations of ticket %d: %w", req.SessionID, id, err)
	}
	next := cursor{page: page, last: cur.last}
	for _, c := range convs {
		next.last = max(next.last, c.ID)
	}
	res := sdk.ReadResult{Events: append(b.joined(ctx, t, session), agentEvents(t, session, convs, cur.last, b.agentNames(ctx, convs, cur.last))...), Closed: closed(t)}
	if next != cur || req.Cursor == "" {
		res.Cursor = next.String()
	}
	return res, nil
}
