package gorgias

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
)

// The handoff capabilities of issue 17 (docs/handoff.md) on Gorgias:
// routing on the new ticket, user files uploaded and attached, agent
// files back as image/file messages, the assignee as the agent who
// joined, ratings as internal notes.

var _ sdk.RatingRecorder = (*Provider)(nil)

// gorgiasPriorities are a ticket's priorities for livechat's: Gorgias has
// critical where livechat has urgent.
var gorgiasPriorities = map[string]string{
	sdk.PriorityLow: "low", sdk.PriorityNormal: "normal", sdk.PriorityHigh: "high", sdk.PriorityUrgent: "critical",
}

// route sets the routing fields of a new ticket: the tags after the
// bot's own (without repeats), the team by the bot's teams map, the
// priority, and the language as Gorgias keeps it (ISO 639-1: "fr" of
// "fr-ca").
func (b *bot) route(in *newTicket, r sdk.Routing) {
	for _, t := range r.Tags {
		dup := false
		for _, have := range in.Tags {
			if strings.EqualFold(have.Name, t) {
				dup = true
			}
		}
		if !dup {
			in.Tags = append(in.Tags, tag{Name: t})
		}
	}
	if id, ok := b.teams[r.Team]; ok && r.Team != "" {
		in.AssigneeTeam = &idObject{ID: id}
	}
	in.Priority = gorgiasPriorities[r.Priority]
	if lang, _, _ := strings.Cut(r.Language, "-"); len(lang) == 2 {
		in.Language = lang
	}
}

// uploaded is one file of POST /api/upload's answer.
type uploaded struct {
	URL         string `json:"url"`
	Name        string `json:"name"`
	Size        id     `json:"size"`
	ContentType string `json:"content_type"`
}

// upload downloads a user's file (bounded) and uploads it to Gorgias
// (POST /api/upload?type=attachment, multipart field "file"), returning
// the attachment to put on a message.
func (b *bot) upload(ctx context.Context, a *sdk.Attachment) (newAttachment, error) {
	f, err := handoff.Download(ctx, b.http, a, b.files)
	if err != nil {
		return newAttachment{}, err
	}
	body, ctype, err := handoff.NewForm().File("file", f).Body()
	if err != nil {
		return newAttachment{}, sdk.Permanent(fmt.Errorf("attachment form: %w", err))
	}
	u, err := url.Parse(b.base)
	if err != nil {
		return newAttachment{}, sdk.Permanent(err)
	}
	u = u.JoinPath("upload")
	u.RawQuery = "type=attachment"
	// Gorgias answers a list of the files uploaded; some versions one
	// object.
	var raw any
	if err := handoff.Post(ctx, b.http, "gorgias", u.String(), platform.BasicAuth(b.client.email, b.apiKey), body, ctype, &raw); err != nil {
		return newAttachment{}, err
	}
	var got uploaded
	switch v := raw.(type) {
	case []any:
		if len(v) > 0 {
			got = uploadedOf(v[0])
		}
	case map[string]any:
		got = uploadedOf(v)
	}
	if got.URL == "" {
		return newAttachment{}, sdk.Retryable(errorf("upload: the answer has no url"), 0)
	}
	out := newAttachment{URL: got.URL, Name: first(got.Name, f.Name), Size: int64(got.Size), ContentType: first(got.ContentType, f.MIME)}
	if out.Size == 0 {
		out.Size = int64(len(f.Data))
	}
	return out, nil
}

func uploadedOf(v any) uploaded {
	m, _ := v.(map[string]any)
	u := uploaded{URL: scalar(m["url"]), Name: scalar(m["name"]), ContentType: scalar(m["content_type"])}
	if n, err := strconv.ParseInt(scalar(m["size"]), 10, 64); err == nil {
		u.Size = id(n)
	}
	return u
}

// sendFile adds a user's image or file to the ticket as a customer message
// with the file attached; its text is the file's name (or the message's
// text). A file that cannot be taken (too large, gone, too slow) becomes
// a link in the text instead.
func (p *Provider) sendFile(ctx context.Context, b *bot, ticketID int64, req sdk.SendRequest) (message, error) {
	a := req.Message.Attachment
	name := first(strings.TrimSpace(a.Name), path.Base(a.URL))
	caption, _ := req.Message.Content["text"].(string)
	in := customerMessage(party{}, messageExternalID(req.Message, req.IdempotencyKey), bodies{})
	att, err := b.upload(ctx, a)
	if err != nil {
		b.log.Warn("user file sent as a link", "bot", b.name, "ticket", ticketID, "error", err.Error())
		t := handoff.LinkText(a)
		in.BodyText, in.BodyHTML = t, htmlText(t)
	} else {
		t := first(strings.TrimSpace(caption), name)
		in.BodyText, in.BodyHTML = t, htmlText(t)
		in.Attachments = []newAttachment{att}
	}
	return b.post(ctx, ticketID, in)
}

// joined is the agent-joined event of a ticket's assignee. Its id names
// the ticket and the agent: the webhook and a read of the ticket give the
// same, and another agent assigned is a new one. Gorgias's assignee has
// no avatar the plugin relies on.
func joined(t ticket, session string) (sdk.Event, bool) {
	a := t.AssigneeUser
	if a == nil || a.ID == 0 || session == "" {
		return sdk.Event{}, false
	}
	author := sdk.Author{Type: sdk.AuthorAgent, Name: a.displayName(), ID: a.ID.String()}
	return sdk.Event{ID: fmt.Sprintf("gorgias-assignee-%s-%s", t.ID, a.ID), Type: sdk.EventAgentJoined, SessionID: session, Ref: t.ID.String(),
		Message: sdk.Message{ContentType: "text", Content: map[string]any{}, Author: author}}, true
}

// isAssignment tells a ticket-assignment-updated request.
func (h *hook) isAssignment() bool {
	return strings.Contains(strings.ToLower(h.eventType), "assignment")
}

// assignment reads the ticket of a ticket-assignment-updated request and
// returns its assignee as the agent who joined.
func (p *Provider) assignment(ctx context.Context, botName string, h *hook) ([]sdk.Event, error) {
	if !digits.MatchString(h.ticketID) {
		return nil, sdk.Permanent(errorf("webhook: an assignment needs the ticket_id"))
	}
	b, err := p.bot(botName)
	if err != nil {
		return nil, err
	}
	t, err := b.client.ticket(ctx, parseDigits(h.ticketID))
	switch {
	case sdk.KindOf(err) == sdk.KindNotFound:
		return nil, nil
	case err != nil:
		return nil, errorf("webhook: fetch ticket %s: %w", h.ticketID, err)
	}
	session := string(t.ExternalID)
	if session == "" || (h.externalID != "" && session != h.externalID) {
		return nil, nil
	}
	if ev, ok := joined(t, session); ok {
		return []sdk.Event{ev}, nil
	}
	return nil, nil
}

// RecordRating adds the user's rating to the ticket as an internal note
// (which does not reopen a closed ticket; a customer message would), keyed
// by external_id so a retry writes it once.
func (p *Provider) RecordRating(ctx context.Context, req sdk.RatingRequest) error {
	b, err := p.bot(req.Bot)
	if err != nil {
		return err
	}
	ticketID, err := parseRef(req.Ref)
	if err != nil {
		return err
	}
	note := handoff.RatingNote(req)
	f := false
	_, err = b.post(ctx, ticketID, newMessage{
		Channel: "internal-note", Via: "api", FromAgent: true, Public: &f,
		Sender:   &party{Email: b.client.email},
		BodyText: note, BodyHTML: htmlText(note),
		ExternalID: "livechat-csat-" + req.SessionID,
	})
	if sdk.KindOf(err) == sdk.KindNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rating: %w", err)
	}
	return nil
}
