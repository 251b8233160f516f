package intercom

import (
	"context"
	"fmt"
	"strings"

	"github.com/livechatd/livechatd/sdk"
)

// ReadSession reads the conversation back, one GET /conversations/{id}:
// the admins' messages among the parts after the cursor (a part id), with
// the ids the webhook gives them, and whether the conversation is closed.
// It catches up on notifications Intercom did not deliver (an endpoint
// down, a notification dropped after throttling).
//
// Intercom returns at most 500 parts of a conversation; a livechat session
// stays far below that.
func (p *Provider) ReadSession(ctx context.Context, req sdk.ReadRequest) (sdk.ReadResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	conv, err := conversationID(req.Ref)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	after := strings.TrimSpace(req.Cursor)
	if after != "" && !numeric.MatchString(after) {
		return sdk.ReadResult{}, sdk.Permanent(fmt.Errorf("cursor %q: not an Intercom part id", req.Cursor))
	}
	cv, err := b.conversation(ctx, conv)
	if err != nil {
		return sdk.ReadResult{}, fmt.Errorf("read session %s: %w", req.SessionID, err)
	}
	res := sdk.ReadResult{Closed: cv.State == "closed"}
	// The assigned admin is the agent who joined, under the webhook's id.
	for _, e := range b.joined(ctx, cv) {
		e.SessionID = req.SessionID
		res.Events = append(res.Events, e)
	}
	cursor := after
	for _, pt := range partsOf(cv) {
		if !partAfter(pt.ID, after) {
			continue
		}
		for _, e := range partEvents(cv.ID, pt) {
			e.SessionID = req.SessionID
			res.Events = append(res.Events, e)
		}
		if partAfter(pt.ID, cursor) {
			cursor = pt.ID
		}
	}
	if cursor != after {
		res.Cursor = cursor
	}
	return res, nil
}
