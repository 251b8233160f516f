package zendesk

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
)

// The handoff capabilities of issue 17 (docs/handoff.md) on Zendesk
// Support: routing on the new ticket (tags, priority, group), user files
// uploaded and attached to the requester's comment, agent files back as
// image/file messages (read back), the assignee as the agent who joined,
// ratings as private comments.

var _ sdk.RatingRecorder = (*Provider)(nil)

// route sets the routing fields of a new ticket: the routing tags after
// the bot's (Zendesk tags have no spaces: "_" instead), the priority
// (Zendesk's are livechat's: low, normal, high, urgent) and the group of
// the bot's groups map. Zendesk tickets have no language field: the
// language is left to the summary comment (the raw metadata).
func (b *bot) route(t *ticket, r sdk.Routing) {
	tags := append([]string(nil), t.Tags...)
	for _, tag := range r.Tags {
		tag = strings.Join(strings.Fields(tag), "_")
		dup := false
		for _, have := range tags {
			if strings.EqualFold(have, tag) {
				dup = true
			}
		}
		if !dup && tag != "" {
			tags = append(tags, tag)
		}
	}
	t.Tags = tags
	switch r.Priority {
	case sdk.PriorityLow, sdk.PriorityNormal, sdk.PriorityHigh, sdk.PriorityUrgent:
		t.Priority = r.Priority
	}
	if id, ok := b.groups[r.Team]; ok && r.Team != "" {
		t.GroupID = id
	}
}

// upload downloads a user's file (bounded) and uploads it: POST
// /api/v2/uploads.json?filename=<name> with the file as the body, whose
// answer's upload.token a comment attaches.
func (b *bot) upload(ctx context.Context, a *sdk.Attachment) (string, error) {
	f, err := handoff.Download(ctx, b.http, a, b.files)
	if err != nil {
		return "", err
	}
	u := b.base + "/api/v2/uploads.json?" + url.Values{"filename": {f.Name}}.Encode()
	var out struct {
		Upload struct {
			Token string `json:"token"`
		} `json:"upload"`
	}
	ctype := f.MIME
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	if err := handoff.Post(ctx, b.http, "zendesk", u, b.auth, f.Data, ctype, &out); err != nil {
		return "", err
	}
	if out.Upload.Token == "" {
		return "", sdk.Retryable(fmt.Errorf("zendesk: POST /api/v2/uploads.json: the answer has no upload token"), 0)
	}
	return out.Upload.Token, nil
}

// fileComment is the comment of a user's image or file: its name (or the
// message's text) with the file attached, or the link when the file could
// not be taken.
func (p *Provider) fileComment(ctx context.Context, b *bot, m sdk.Message) (string, []string) {
	caption, _ := m.Content["text"].(string)
	name := strings.TrimSpace(m.Attachment.Name)
	token, err := b.upload(ctx, m.Attachment)
	if err != nil {
		return handoff.LinkText(m.Attachment), nil
	}
	text := strings.TrimSpace(caption)
	if text == "" {
		text = name
	}
	if text == "" {
		text = m.Attachment.URL
	}
	return text, []string{token}
}

// fileEvents are an agent comment's attachments as image or file
// messages, each under "comment:<id>:<n>".
func fileEvents(session, ref string, id int64, as []zdAttachment, author string) []sdk.Event {
	var out []sdk.Event
	for i, a := range as {
		msg, ok := sdk.FileMessage(sdk.Attachment{URL: a.ContentURL, Name: a.FileName, MIME: a.ContentType, Size: a.Size})
		if !ok {
			continue
		}
		msg.Author = sdk.Author{Type: sdk.AuthorAgent, Name: author}
		out = append(out, sdk.Event{ID: fmt.Sprintf("comment:%d:%d", id, i+1), Type: sdk.EventAgentMessage, SessionID: session, Ref: ref, Message: msg})
	}
	return out
}

// assignment is an agent_assignment_changed event: the new assignee
// (read with GET /users/{id}.json: name and photo) joined. The event id
// names the ticket and the agent.
func (p *Provider) assignment(ctx context.Context, b *bot, body []byte) ([]sdk.Event, error) {
	var h struct {
		Type    string `json:"type"`
		Subject string `json:"subject"`
		Detail  struct {
			ID         flexID `json:"id"`
			ExternalID string `json:"external_id"`
			AssigneeID flexID `json:"assignee_id"`
		} `json:"detail"`
		Event struct {
			Current json.RawMessage `json:"current"`
		} `json:"event"`
	}
	if err := json.Unmarshal(body, &h); err != nil {
		return nil, sdk.Permanent(fmt.Errorf("zendesk webhook body: %w: %v", errNotJSON, err))
	}
	owner, session, ok := parseExternalID(h.Detail.ExternalID)
	if !ok || owner != b.name {
		return nil, nil
	}
	id := int64(h.Detail.ID)
	if id <= 0 {
		id = ticketFromSubject(h.Subject)
	}
	// The new assignee: event.current (an id, or an object with one),
	// else the ticket's assignee_id.
	var assignee flexID
	if err := json.Unmarshal(h.Event.Current, &assignee); err != nil || assignee <= 0 {
		var obj struct {
			ID flexID `json:"id"`
		}
		if json.Unmarshal(h.Event.Current, &obj) == nil {
			assignee = obj.ID
		}
	}
	if assignee <= 0 {
		assignee = h.Detail.AssigneeID
	}
	if id <= 0 || assignee <= 0 {
		return nil, nil // unassigned
	}
	return p.joined(ctx, b, session, strconv.FormatInt(id, 10), int64(assignee))
}

// joined is the agent-joined event of agent id on ticket ref.
func (p *Provider) joined(ctx context.Context, b *bot, session, ref string, agent int64) ([]sdk.Event, error) {
	var out struct {
		User user `json:"user"`
	}
	if err := b.api.Do(ctx, http.MethodGet, "users/"+strconv.FormatInt(agent, 10)+".json", nil, nil, &out); err != nil {
		if sdk.KindOf(err) == sdk.KindNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("read the assignee %d: %w", agent, err)
	}
	author := sdk.Author{Type: sdk.AuthorAgent, Name: out.User.Name, ID: strconv.FormatInt(agent, 10)}
	if ph := out.User.Photo; ph != nil && (strings.HasPrefix(ph.ContentURL, "https://") || strings.HasPrefix(ph.ContentURL, "http://")) {
		author.AvatarURL = ph.ContentURL
	}
	return []sdk.Event{{ID: fmt.Sprintf("assignee:%s:%d", ref, agent), Type: sdk.EventAgentJoined, SessionID: session, Ref: ref,
		Message: sdk.Message{ContentType: "text", Content: map[string]any{}, Author: author}}}, nil
}

// RecordRating adds the user's rating as a private comment (Zendesk's own
// satisfaction rating can be given only by the requester, with their own
// credentials), keyed in the update's audit metadata like a send, so a
// retry finds it instead of writing it again. A solved ticket takes it and
// stays solved; a closed one refuses any update (422).
func (p *Provider) RecordRating(ctx context.Context, req sdk.RatingRequest) error {
	b, err := p.bot(req.Bot)
	if err != nil {
		return err
	}
	id, err := ticketID(req.Ref)
	if err != nil {
		return err
	}
	key := req.IdempotencyKey
	if key == "" {
		key = "csat:" + req.SessionID
	}
	if cid, err := b.findPosted(ctx, id, key); err != nil || cid != 0 {
		return err
	}
	_, err = b.updateTicket(ctx, id, ticket{Comment: &comment{Body: handoff.RatingNote(req), Public: ptr(false)}, Metadata: map[string]string{metaKey: key}})
	if sdk.KindOf(err) == sdk.KindNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record the rating on ticket %d: %w", id, err)
	}
	return nil
}
