package chatwoot

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
)

// The handoff capabilities of issue 17 (docs/handoff.md) on Chatwoot:
// routing at the start, user files as attachments, the user's typing and
// read receipts through the public API, ratings as private notes. Agent presence comes
// from webhooks (webhook.go).

var (
	_ sdk.TypingSender   = (*Provider)(nil)
	_ sdk.RatingRecorder = (*Provider)(nil)
	_ sdk.ReadMarker     = (*Provider)(nil)
)

// attrLanguage is the conversation's custom attribute for the user's
// language (Chatwoot conversations have no language field).
const attrLanguage = "livechat_language"

// routeNew adds to a conversation being created what routing Chatwoot
// takes at creation: the team (ConversationBuilder's team_id) and the
// language (a custom attribute).
func (b *bot) routeNew(in *newConversation, r sdk.Routing) {
	if id, ok := b.teams[r.Team]; ok && r.Team != "" {
		in.TeamID = id
	}
	if r.Language != "" {
		in.CustomAttributes[attrLanguage] = r.Language
	}
}

// route applies the rest of the routing to the session's conversation:
// the priority (toggle_priority: livechat's normal is Chatwoot's medium)
// and the tags as labels. Both set a value, so a retried start may apply
// them again.
func (p *Provider) route(ctx context.Context, b *bot, conv int64, r sdk.Routing) error {
	if r.Team != "" {
		if _, ok := b.teams[r.Team]; !ok {
			p.log.Debug("routing: no Chatwoot team for this team; set it in the bot's teams", "bot", b.name, "team", r.Team)
		}
	}
	if pr, ok := chatwootPriorities[r.Priority]; ok {
		if err := b.api.setPriority(ctx, conv, pr); err != nil {
			return err
		}
	}
	if len(r.Tags) > 0 {
		if err := b.api.setLabels(ctx, conv, r.Tags); err != nil {
			return err
		}
	}
	return nil
}

// postFile uploads a user's image or file into the conversation as an
// incoming message with the file attached (multipart attachments[]), keyed
// like every message the plugin posts. A file that cannot be downloaded
// (too large, gone, too slow) is posted as a link instead.
func (p *Provider) postFile(ctx context.Context, b *bot, conv int64, key string, m sdk.Message) (message, error) {
	msgs, err := b.api.messages(ctx, conv)
	if err != nil {
		return message{}, err
	}
	for _, old := range msgs {
		if attrString(old.ContentAttributes, keyAttr) == key {
			return old, nil
		}
	}
	f, err := handoff.Download(ctx, p.http, m.Attachment, b.files)
	if err != nil {
		p.log.Warn("user file sent as a link", "bot", b.name, "conversation", conv, "error", err.Error())
		return p.post(ctx, b, conv, key, newMessage{Content: handoff.LinkText(m.Attachment), MessageType: "incoming", ContentType: "text"}, false)
	}
	body, ctype, err := handoff.NewForm().
		Field("content", caption(m)).
		Field("message_type", "incoming").
		Field("private", "false").
		Field("echo_id", key).
		Field("content_attributes", `{"`+keyAttr+`":`+strconv.Quote(key)+`}`).
		File("attachments[]", f).
		Body()
	if err != nil {
		return message{}, sdk.Permanent(fmt.Errorf("attachment form: %w", err))
	}
	var out message
	u := fmt.Sprintf("%s/api/v1/accounts/%d/conversations/%d/messages", strings.TrimRight(b.cfg.BaseURL, "/"), accountOf(b), conv)
	err = handoff.Post(ctx, p.http, "chatwoot", u, platform.HeaderAuth("api_access_token", b.cfg.APIAccessToken), body, ctype, &out)
	if err != nil {
		return message{}, fmt.Errorf("post attachment: %w", err)
	}
	return out, nil
}

// caption is the text posted with a file: the message's own text when it
// has one, else nothing (the file speaks for itself).
func caption(m sdk.Message) string {
	if s, ok := m.Content["text"].(string); ok {
		return strings.TrimSpace(s)
	}
	return ""
}

// SendTyping shows the agents that the user is typing: the public API's
// toggle_typing on the conversation, as the contact (its inbox's
// identifier and the contact's source id name it).
func (p *Provider) SendTyping(ctx context.Context, req sdk.TypingRequest) error {
	b, conv, identifier, sourceID, err := p.asContact(ctx, req.Bot, req.Ref, "typing")
	if err != nil {
		return err
	}
	return b.public.toggleTyping(ctx, identifier, sourceID, conv, req.Typing)
}

// MarkRead tells the agents that the user has seen their messages: the
// public API's update_last_seen on the conversation, as the contact, which
// is what Chatwoot's own web widget does when the contact has the
// conversation in view (the widget's update_last_seen runs the same
// code). Chatwoot sets the conversation's contact_last_seen_at and marks
// the agents' messages created until then read.
func (p *Provider) MarkRead(ctx context.Context, req sdk.ReadReceipt) error {
	b, conv, identifier, sourceID, err := p.asContact(ctx, req.Bot, req.Ref, "read")
	if err != nil {
		return err
	}
	return b.public.updateLastSeen(ctx, identifier, sourceID, conv)
}

// asContact names the session's conversation in the public (client) API,
// where the contact acts: the bot, the conversation, the inbox's
// identifier and the contact's source id (cached per conversation; read
// from the conversation after a restart). what names the call in errors.
func (p *Provider) asContact(ctx context.Context, botName, ref, what string) (*bot, int64, string, string, error) {
	b, err := p.bot(botName)
	if err != nil {
		return nil, 0, "", "", err
	}
	conv, err := conversationID(ref)
	if err != nil {
		return nil, 0, "", "", err
	}
	if _, err := p.inbox(ctx, b); err != nil {
		return nil, 0, "", "", err
	}
	b.mu.Lock()
	identifier := b.identifier
	b.mu.Unlock()
	if identifier == "" {
		return nil, 0, "", "", sdk.Permanent(fmt.Errorf("%s: the inbox has no inbox_identifier (not an API inbox?)", what))
	}
	source, _ := b.sources.Load(conv)
	sourceID, _ := source.(string)
	if sourceID == "" {
		cv, err := b.api.conversation(ctx, conv)
		if err != nil {
			return nil, 0, "", "", err
		}
		if cv.ContactInbox == nil || cv.ContactInbox.SourceID == "" {
			return nil, 0, "", "", sdk.Permanent(fmt.Errorf("%s: conversation %d has no contact source id", what, conv))
		}
		sourceID = cv.ContactInbox.SourceID
		b.sources.Store(conv, sourceID)
	}
	return b, conv, identifier, sourceID, nil
}

// RecordRating leaves the user's rating as a private note in the
// conversation (a note does not reopen a resolved conversation; only an
// incoming message does), keyed so a retry writes it once.
func (p *Provider) RecordRating(ctx context.Context, req sdk.RatingRequest) error {
	b, err := p.bot(req.Bot)
	if err != nil {
		return err
	}
	conv, err := conversationID(req.Ref)
	if err != nil {
		return err
	}
	key := req.IdempotencyKey
	if key == "" {
		key = "csat:" + req.SessionID
	}
	_, err = p.post(ctx, b, conv, key, newMessage{Content: handoff.RatingNote(req), MessageType: "outgoing", Private: true, ContentType: "text"}, true)
	if platform.StatusOf(err) == http.StatusNotFound {
		p.log.Warn("conversation gone; rating not recorded on Chatwoot", "bot", req.Bot, "session", req.SessionID)
		return nil
	}
	return err
}
