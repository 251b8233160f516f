package chatwoot

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/sdk"
)

var _ sdk.SessionReader = (*Provider)(nil)

// maxReadPages bounds one read: past it, the read returns what it has and
// the host's next read goes on from the cursor.
const maxReadPages = 10

// ReadSession reads the session's conversation back: the agents' public
// replies with an id above the cursor (a Chatwoot message id), and
// whether the conversation is resolved. Chatwoot sends an account webhook
// once and never retries it, so this is how a reply whose webhook
// livechatd missed still reaches the user. Events are those HandleWebhook
// makes of the same messages (same ids), in Chatwoot's order.
//
// Two calls: GET /conversations/{id} for the status, then GET
// /conversations/{id}/messages?after=<cursor> (one more per 100 new
// messages). The status is read first: a reply written before the agent
// resolved is then in the messages read after it, in the same answer as
// the Closed that ends the session.
func (p *Provider) ReadSession(ctx context.Context, req sdk.ReadRequest) (sdk.ReadResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	conv, err := conversationID(req.Ref)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	var after int64
	if c := strings.TrimSpace(req.Cursor); c != "" {
		if after, err = strconv.ParseInt(c, 10, 64); err != nil || after < 0 {
			return sdk.ReadResult{}, sdk.Permanent(fmt.Errorf("cursor %q: not a chatwoot message id", req.Cursor))
		}
	}
	cv, err := b.api.conversation(ctx, conv)
	if err != nil {
		return sdk.ReadResult{}, fmt.Errorf("read session %s: %w", req.SessionID, err)
	}
	if s := attrString(cv.CustomAttributes, attrSession); s != "" && req.SessionID != "" && s != req.SessionID {
		return sdk.ReadResult{}, sdk.Permanent(fmt.Errorf("conversation %d belongs to livechat session %q, not %q", conv, s, req.SessionID))
	}
	ref := strconv.FormatInt(conv, 10)
	cursor := after
	var events []sdk.Event
	// The assignee is an agent joined, with the webhook's id: a lost
	// conversation_updated is caught up, a seen one dropped as a replay.
	if ev, ok := joined(cv.Meta.Assignee, req.SessionID, ref); ok {
		events = append(events, ev)
	}
	complete := false
	for range maxReadPages {
		page, err := b.api.messagesAfter(ctx, conv, cursor)
		if err != nil {
			return sdk.ReadResult{}, fmt.Errorf("read session %s: %w", req.SessionID, err)
		}
		for _, m := range page {
			if int64(m.ID) <= cursor {
				continue // not after the cursor: a Chatwoot that ignores `after`
			}
			events = append(events, messageEvents(m, req.SessionID, ref, "")...)
		}
		last := cursor
		for _, m := range page {
			last = max(last, int64(m.ID))
		}
		if len(page) < pageAfter || last == cursor {
			cursor, complete = last, true
			break
		}
		cursor = last
	}
	res := sdk.ReadResult{Events: events, Closed: complete && cv.Status == "resolved"}
	if cursor != after || req.Cursor == "" {
		res.Cursor = strconv.FormatInt(cursor, 10)
	}
	return res, nil
}
