package intercom

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"regexp"
	"strings"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/webhook"
)

// Notification is Intercom's webhook body.
type Notification struct {
	Type      string `json:"type"` // notification_event
	ID        string `json:"id"`   // notif_…
	Topic     string `json:"topic"`
	AppID     string `json:"app_id"`
	CreatedAt int64  `json:"created_at"`
	Data      struct {
		Type string          `json:"type"` // notification_event_data
		Item json.RawMessage `json:"item"`
	} `json:"data"`
}

// ParseNotification parses a webhook body into the conversation it is
// about, or nil when its topic is none the plugin acts on (ping, the
// user's own replies, notes…).
func ParseNotification(body []byte) (Notification, *Conversation, error) {
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return n, nil, fmt.Errorf("body: %w", err)
	}
	if n.Type != "notification_event" {
		return n, nil, fmt.Errorf("type: %.40q is not notification_event", n.Type)
	}
	if n.Topic != TopicAdminReplied && n.Topic != TopicAdminClosed && n.Topic != TopicAdminAssigned {
		return n, nil, nil
	}
	var cv Conversation
	if err := json.Unmarshal(n.Data.Item, &cv); err != nil {
		return n, nil, fmt.Errorf("data.item: %w", err)
	}
	if !numeric.MatchString(cv.ID) {
		return n, nil, fmt.Errorf("data.item.id: %.40q is not a conversation id", cv.ID)
	}
	return n, &cv, nil
}

// HandleWebhook checks X-Hub-Signature, then turns an admin's reply into
// agent_message events and an admin's close into session_closed. The
// user's own replies (conversation.user.replied, should the app subscribe
// to it), notes and every other topic are answered 200 with no events.
func (p *Provider) HandleWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.WebhookResult{}, err
	}
	if err := webhook.Intercom.Verify(b.cfg.ClientSecret, req.Header, req.Body, p.opts.Now()); err != nil {
		return sdk.WebhookResult{}, sdk.Unauthorized("intercom webhook: %v", err)
	}
	n, cv, err := ParseNotification(req.Body)
	if err != nil {
		return sdk.WebhookResult{}, sdk.Permanent(fmt.Errorf("intercom webhook: %w", err))
	}
	if b.cfg.AppID != "" && n.AppID != b.cfg.AppID {
		return sdk.WebhookResult{}, sdk.Unauthorized("intercom webhook: app_id %.40q is not the bot's app_id", n.AppID)
	}
	if cv == nil {
		return sdk.WebhookResult{}, nil
	}
	events := conversationEvents(*cv)
	if n.Topic == TopicAdminAssigned {
		events = append(events, b.joined(ctx, *cv)...)
	}
	session := sessionOf(*cv)
	if n.Topic == TopicAdminClosed {
		// The close part names the event; a notification without it
		// (Intercom sends the parts that triggered it) uses its own id.
		id := n.ID
		for _, pt := range partsOf(*cv) {
			if pt.PartType == "close" {
				id = "close:" + pt.ID
			}
		}
		events = append(events, sdk.Event{ID: id, Type: sdk.EventSessionClosed, Ref: cv.ID})
	}
	for i := range events {
		events[i].SessionID = session
	}
	return sdk.WebhookResult{Events: events}, nil
}

// sessionLine is the first line of a livechat conversation's first
// message (see summary).
var sessionLine = regexp.MustCompile(`^Live chat with .*\(livechat session ([A-Za-z0-9_-]{1,128})\)$`)

// sessionOf is the livechat session a conversation's first message names,
// or "". It names the session of a reply an agent sends before livechatd
// has heard back from StartSession (and so has no Ref for it yet); the
// host still checks the Ref against the session's once it has one.
func sessionOf(cv Conversation) string {
	first, _, _ := strings.Cut(htmlText(cv.Source.Body), "\n")
	if m := sessionLine.FindStringSubmatch(strings.TrimSpace(first)); m != nil {
		return m[1]
	}
	return ""
}

func partsOf(cv Conversation) []Part {
	if cv.Parts == nil {
		return nil
	}
	return cv.Parts.Parts
}

// conversationEvents are the agent messages among the conversation's
// parts, the same for a webhook and a read.
func conversationEvents(cv Conversation) []sdk.Event {
	var out []sdk.Event
	for _, pt := range partsOf(cv) {
		out = append(out, partEvents(cv.ID, pt)...)
	}
	return out
}

// partEvents are a part's agent message and its files.
func partEvents(conv string, pt Part) []sdk.Event {
	var out []sdk.Event
	if e, ok := agentEvent(conv, pt); ok {
		out = append(out, e)
	}
	return append(out, fileEvents(conv, pt)...)
}

// agentParts are the part types in which an admin writes to the user: a
// reply, and the text an admin may add when assigning, closing or
// reopening. Notes (note, note_and_reopen) never reach the user.
var agentParts = map[string]bool{"comment": true, "assignment": true, "close": true, "open": true}

// agentAuthors write to the user for the workspace: teammates, and
// Intercom's bots (Fin, workflows), whose replies Intercom also sends as
// conversation.admin.replied.
var agentAuthors = map[string]bool{"admin": true, "bot": true}

// agentEvent is an admin's (or Intercom bot's) message to the user as an
// event, its ID Intercom's part id.
func agentEvent(conv string, pt Part) (sdk.Event, bool) {
	if !agentAuthors[pt.Author.Type] || !agentParts[pt.PartType] {
		return sdk.Event{}, false
	}
	text := htmlText(pt.Body)
	if text == "" {
		return sdk.Event{}, false
	}
	msg := sdk.Text(text)
	msg.ID = pt.ID
	msg.Author = sdk.Author{Type: sdk.AuthorAgent, Name: pt.Author.Name, ID: pt.Author.ID}
	return sdk.Event{ID: "part:" + pt.ID, Type: sdk.EventAgentMessage, Ref: conv, Message: msg}, true
}

var (
	blockEnd = regexp.MustCompile(`(?i)<br\s*/?>|</(p|div|li|h[1-6]|pre|blockquote)>`)
	listItem = regexp.MustCompile(`(?i)<li[^>]*>`)
	anyTag   = regexp.MustCompile(`<[^>]*>`)
	blanks   = regexp.MustCompile(`\n{3,}`)
)

// htmlText is the text of a part's HTML body as the user should read it:
// paragraphs and line breaks as new lines, list items as "- ", tags
// removed, entities decoded.
func htmlText(s string) string {
	if !strings.Contains(s, "<") && !strings.Contains(s, "&") {
		return strings.TrimSpace(s)
	}
	s = blockEnd.ReplaceAllString(s, "\n")
	s = listItem.ReplaceAllString(s, "- ")
	s = anyTag.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	s = strings.ReplaceAll(s, "\u00a0", " ")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.TrimSpace(blanks.ReplaceAllString(strings.Join(lines, "\n"), "\n\n"))
}
