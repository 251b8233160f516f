package freshdesk

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
)

// The handoff capabilities of issue 17 (docs/handoff.md) on Freshdesk:
// routing on the new ticket (tags, priority, group), user files attached
// to the requester's note (multipart attachments[]), agent files back as
// image/file messages, the ticket's responder as the agent who joined,
// ratings as private notes.

var _ sdk.RatingRecorder = (*Provider)(nil)

// freshdeskPriorities are Freshdesk's priorities: 1 Low, 2 Medium, 3 High,
// 4 Urgent.
var freshdeskPriorities = map[string]int{sdk.PriorityLow: 1, sdk.PriorityNormal: 2, sdk.PriorityHigh: 3, sdk.PriorityUrgent: 4}

// route sets the routing fields of a new ticket: the routing tags after
// the bot's, the priority (over the bot's priority), the group of the
// groups map (over group_id). Freshdesk tickets have no language field
// (a contact's language is the contact's): not mapped.
func (b *bot) route(in *newTicket, r sdk.Routing) {
	for _, t := range r.Tags {
		dup := false
		for _, have := range in.Tags {
			if strings.EqualFold(have, t) {
				dup = true
			}
		}
		if !dup {
			in.Tags = append(in.Tags, t)
		}
	}
	if p, ok := freshdeskPriorities[r.Priority]; ok {
		in.Priority = p
	}
	if id, ok := b.groups[r.Team]; ok && r.Team != "" {
		in.GroupID = id
	}
}

// fileText is the text of a user's file note: the message's text, else
// the file's name, else its URL.
func fileText(m sdk.Message) string {
	if s, _ := m.Content["text"].(string); strings.TrimSpace(s) != "" {
		return strings.TrimSpace(s)
	}
	if n := strings.TrimSpace(m.Attachment.Name); n != "" {
		return n
	}
	return m.Attachment.URL
}

// fileNote adds a user's file as the requester's public incoming note
// with the file attached (POST /tickets/{id}/notes as multipart, the file
// in attachments[]). A file that cannot be downloaded (too large, gone,
// slow) is a note with its link.
func (b *bot) fileNote(ctx context.Context, ticket, requesterID int64, m sdk.Message, text string) (int64, error) {
	f, err := handoff.Download(ctx, b.http, m.Attachment, b.files)
	if err != nil {
		c, err := b.addNote(ctx, ticket, newNote{Body: htmlText(handoff.LinkText(m.Attachment)), Private: false, Incoming: true, UserID: requesterID})
		return c.ID, err
	}
	form := handoff.NewForm().Field("body", htmlText(text)).Field("private", "false").Field("incoming", "true")
	if requesterID != 0 {
		form.Field("user_id", strconv.FormatInt(requesterID, 10))
	}
	body, ctype, err := form.File("attachments[]", f).Body()
	if err != nil {
		return 0, sdk.Permanent(fmt.Errorf("attachment form: %w", err))
	}
	var c Conversation
	u := b.base + "/api/v2/tickets/" + strconv.FormatInt(ticket, 10) + "/notes"
	if err := handoff.Post(ctx, b.http, "freshdesk", u, b.auth, body, ctype, &c); err != nil {
		return 0, err
	}
	return c.ID, nil
}

// fileEvents are an agent reply's attachments as image or file messages,
// under "conversation:<id>:<n>".
func fileEvents(session, ref string, c Conversation, author string) []sdk.Event {
	var out []sdk.Event
	for i, a := range c.Attachments {
		msg, ok := sdk.FileMessage(sdk.Attachment{URL: a.AttachmentURL, Name: a.Name, MIME: a.ContentType, Size: a.Size})
		if !ok {
			continue
		}
		msg.ID = fmt.Sprintf("freshdesk-conversation-%d:%d", c.ID, i+1)
		msg.Author = sdk.Author{Type: sdk.AuthorAgent, Name: author}
		if !c.CreatedAt.IsZero() {
			msg.Time = c.CreatedAt
		}
		out = append(out, sdk.Event{ID: fmt.Sprintf("conversation:%d:%d", c.ID, i+1), Type: sdk.EventAgentMessage, SessionID: session, Ref: ref, Message: msg})
	}
	return out
}

// joined is the ticket's responder (its assigned agent) as the agent who
// joined, with the name and avatar of GET /agents/{id} (read once per
// agent and process). Its id names the ticket and the agent: every webhook
// and read of the ticket give it again, and the host applies it once;
// another agent assigned is a new join. An agent that cannot be read
// joins nameless.
func (b *bot) joined(ctx context.Context, t Ticket, session string) []sdk.Event {
	if t.ResponderID == nil || *t.ResponderID <= 0 || session == "" {
		return nil
	}
	id := *t.ResponderID
	name, avatar := b.agentProfile(ctx, id)
	author := sdk.Author{Type: sdk.AuthorAgent, Name: name, ID: strconv.FormatInt(id, 10), AvatarURL: avatar}
	ref := strconv.FormatInt(t.ID, 10)
	return []sdk.Event{{ID: fmt.Sprintf("responder:%s:%d", ref, id), Type: sdk.EventAgentJoined, SessionID: session, Ref: ref,
		Message: sdk.Message{ContentType: "text", Content: map[string]any{}, Author: author}}}
}

// agentProfile is an agent's name and avatar URL, "" when unknown.
func (b *bot) agentProfile(ctx context.Context, id int64) (string, string) {
	b.mu.Lock()
	name, known := b.agents[id]
	avatar := b.avatars[id]
	b.mu.Unlock()
	if known {
		return name, avatar
	}
	var a agent
	err := b.api.Do(ctx, http.MethodGet, "agents/"+strconv.FormatInt(id, 10), nil, nil, &a)
	if err != nil {
		if k := sdk.KindOf(err); k == sdk.KindUnauthorized || k == sdk.KindNotFound || k == sdk.KindInvalid {
			b.mu.Lock()
			b.agents[id] = ""
			b.mu.Unlock()
		}
		return "", ""
	}
	name = strings.TrimSpace(a.Contact.Name)
	if av := a.Contact.Avatar; av != nil && (strings.HasPrefix(av.AttachmentURL, "https://") || strings.HasPrefix(av.AttachmentURL, "http://")) {
		avatar = av.AttachmentURL
	}
	b.mu.Lock()
	b.agents[id], b.avatars[id] = name, avatar
	b.mu.Unlock()
	return name, avatar
}

// RecordRating adds the user's rating as a private note (Freshdesk's own
// satisfaction surveys are answered by the customer through their link),
// once per rating.
func (p *Provider) RecordRating(ctx context.Context, req sdk.RatingRequest) error {
	b, err := p.bot(req.Bot)
	if err != nil {
		return err
	}
	id, err := ticketRef(req.Ref)
	if err != nil {
		return err
	}
	key := req.IdempotencyKey
	if key == "" {
		key = req.SessionID
	}
	_, err = b.once(ctx, req.SessionID, "csat:"+key, func(time.Time) (int64, bool, error) {
		return 0, false, nil // a second note of the same rating is harmless
	}, func() (int64, error) {
		c, err := b.addNote(ctx, id, newNote{Body: htmlText(handoff.RatingNote(req)), Private: true})
		return c.ID, err
	})
	if sdk.KindOf(err) == sdk.KindNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rating: %w", err)
	}
	return nil
}
