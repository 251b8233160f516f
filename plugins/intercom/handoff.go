package intercom

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
)

// The handoff capabilities of issue 17 (docs/handoff.md) on Intercom:
// routing at the start (tags, team assignment), user files sent with the
// contact's reply (attachment_files), agent files back as image/file
// messages, the assigned admin as the agent who joined, ratings as notes.

var _ sdk.RatingRecorder = (*Provider)(nil)

// keyRouted marks a session whose routing was applied.
const keyRouted = "routed"

// route applies the routing once per session: each tag created or found
// by name (POST /tags) and attached to the conversation (POST
// /conversations/{id}/tags), and the conversation assigned to the team of
// the bot's teams map (an assignment part, type team). Intercom takes no
// priority through the API (a conversation's priority is read-only in
// 2.14) and has no conversation language: not mapped.
func (b *bot) route(ctx context.Context, session, conv string, r sdk.Routing) error {
	team, hasTeam := b.teams[r.Team]
	hasTeam = hasTeam && r.Team != ""
	if len(r.Tags) == 0 && !hasTeam {
		return nil
	}
	done, err := b.get(ctx, session, keyRouted)
	if err != nil || done != "" {
		return err
	}
	for _, name := range r.Tags {
		var tag struct {
			ID string `json:"id"`
		}
		if err := b.api.Do(ctx, http.MethodPost, "tags", nil, map[string]string{"name": name}, &tag); err != nil {
			return fmt.Errorf("tag %q: %w", name, err)
		}
		if err := b.api.Do(ctx, http.MethodPost, "conversations/"+conv+"/tags", nil, map[string]string{"id": tag.ID, "admin_id": b.cfg.AdminID}, nil); err != nil {
			return fmt.Errorf("tag the conversation %q: %w", name, err)
		}
	}
	if hasTeam {
		in := map[string]string{"message_type": "assignment", "type": "team", "admin_id": b.cfg.AdminID, "assignee_id": team}
		if err := b.api.Do(ctx, http.MethodPost, "conversations/"+conv+"/parts", nil, in, nil); err != nil {
			return fmt.Errorf("assign team %s: %w", team, err)
		}
	}
	return b.set(ctx, session, keyRouted, "done")
}

// attachmentFile is one of a reply's attachment_files.
type attachmentFile struct {
	ContentType string `json:"content_type"`
	Data        string `json:"data"` // base64
	Name        string `json:"name"`
}

// attachmentFiles downloads a user's file (bounded) as a reply's
// attachment_files.
func (b *bot) attachmentFiles(ctx context.Context, a *sdk.Attachment) ([]attachmentFile, error) {
	f, err := handoff.Download(ctx, b.http, a, b.files)
	if err != nil {
		return nil, err
	}
	return []attachmentFile{{ContentType: f.MIME, Data: base64.StdEncoding.EncodeToString(f.Data), Name: f.Name}}, nil
}

// replyWith posts body, with files, as the contact's reply.
func (b *bot) replyWith(ctx context.Context, conv, contactID, body string, files []attachmentFile) (Conversation, error) {
	if len(files) == 0 {
		return b.reply(ctx, conv, contactID, body)
	}
	in := map[string]any{"message_type": "comment", "type": "user", "intercom_user_id": contactID, "body": body, "attachment_files": files}
	var out Conversation
	err := b.api.Do(ctx, http.MethodPost, "conversations/"+conv+"/reply", nil, in, &out)
	return out, err
}

// fileText is the text of a user's file reply: the message's text, else
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

// fileEvents are an admin part's files as image or file messages, under
// "part:<id>:<n>".
func fileEvents(conv string, pt Part) []sdk.Event {
	if !agentAuthors[pt.Author.Type] || !agentParts[pt.PartType] {
		return nil
	}
	var out []sdk.Event
	for i, a := range pt.Attachments {
		msg, ok := sdk.FileMessage(sdk.Attachment{URL: a.URL, Name: a.Name, MIME: a.ContentType, Size: a.Filesize})
		if !ok {
			continue
		}
		msg.ID = fmt.Sprintf("%s:%d", pt.ID, i+1)
		msg.Author = sdk.Author{Type: sdk.AuthorAgent, Name: pt.Author.Name, ID: pt.Author.ID}
		out = append(out, sdk.Event{ID: fmt.Sprintf("part:%s:%d", pt.ID, i+1), Type: sdk.EventAgentMessage, Ref: conv, Message: msg})
	}
	return out
}

// joined is the conversation's assigned admin as the agent who joined,
// with the name and avatar of GET /admins/{id} (once per admin and
// process), under "assignee:<conversation>:<admin>": the webhook and every
// read give it again, and the host applies it once; another admin is a
// new join. An admin that cannot be read joins nameless.
func (b *bot) joined(ctx context.Context, cv Conversation) []sdk.Event {
	id := strings.Trim(strings.TrimSpace(string(cv.AdminAssigneeID)), `"`)
	if id == "" || id == "null" || id == "0" || !numeric.MatchString(id) {
		return nil
	}
	b.mu.Lock()
	prof, known := b.admins[id]
	b.mu.Unlock()
	if !known {
		var a struct {
			Name   string `json:"name"`
			Avatar any    `json:"avatar"`
		}
		err := b.api.Do(ctx, http.MethodGet, "admins/"+id, nil, nil, &a)
		switch {
		case err == nil:
			prof[0] = strings.TrimSpace(a.Name)
			// avatar is a URL (2.14), or an object with image_url
			// (older versions).
			switch v := a.Avatar.(type) {
			case string:
				prof[1] = v
			case map[string]any:
				prof[1], _ = v["image_url"].(string)
			}
			if !strings.HasPrefix(prof[1], "https://") && !strings.HasPrefix(prof[1], "http://") {
				prof[1] = ""
			}
			b.mu.Lock()
			b.admins[id] = prof
			b.mu.Unlock()
		case sdk.KindOf(err) == sdk.KindNotFound || sdk.KindOf(err) == sdk.KindUnauthorized:
			b.mu.Lock()
			b.admins[id] = prof
			b.mu.Unlock()
		}
	}
	author := sdk.Author{Type: sdk.AuthorAgent, Name: prof[0], ID: id, AvatarURL: prof[1]}
	return []sdk.Event{{ID: "assignee:" + cv.ID + ":" + id, Type: sdk.EventAgentJoined, Ref: cv.ID,
		Message: sdk.Message{ContentType: "text", Content: map[string]any{}, Author: author}}}
}

// RecordRating adds the user's rating as an admin's note (which only
// teammates see, and which does not reopen the closed conversation),
// once per rating.
func (p *Provider) RecordRating(ctx context.Context, req sdk.RatingRequest) error {
	b, err := p.bot(req.Bot)
	if err != nil {
		return err
	}
	conv, err := conversationID(req.Ref)
	if err != nil {
		return err
	}
	key := "csat:" + req.IdempotencyKey
	done, err := b.get(ctx, req.SessionID, key)
	if err != nil || done != "" {
		return err
	}
	err = b.note(ctx, conv, handoff.RatingNote(req))
	if sdk.KindOf(err) == sdk.KindNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rating: %w", err)
	}
	return b.set(ctx, req.SessionID, key, "noted")
}
