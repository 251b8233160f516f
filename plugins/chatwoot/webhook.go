package chatwoot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/webhook"
)

// The webhook events the plugin acts on; Chatwoot's others are answered
// 200 and ignored.
const (
	eventMessageCreated = "message_created"
	eventStatusChanged  = "conversation_status_changed"
	// conversation_updated carries the conversation with meta.assignee:
	// an agent assigned is an agent joined.
	eventConversationUpdated = "conversation_updated"
	// conversation_typing_on/off: {event, user (User#webhook_data or a
	// contact's), conversation (webhook_data), is_private}
	// (WebhookListener#handle_typing_status).
	eventTypingOn  = "conversation_typing_on"
	eventTypingOff = "conversation_typing_off"
)

// The headers of a Chatwoot webhook delivery.
const (
	headerSignature = "X-Chatwoot-Signature"
	headerTimestamp = "X-Chatwoot-Timestamp"
	headerDelivery  = "X-Chatwoot-Delivery"
)

// HandleWebhook checks a delivery's signature (when the bot has a
// webhook_secret) and turns it into events: an agent's public reply in a
// livechat conversation, or the conversation resolved. Everything else
// (the user's own messages echoed back, private notes, activity messages,
// other conversations and events) is answered 200 with no event.
func (p *Provider) HandleWebhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	b, err := p.bot(req.Bot)
	if err != nil {
		return sdk.WebhookResult{}, err
	}
	if req.Method != http.MethodPost {
		return sdk.WebhookResult{}, sdk.Permanent(fmt.Errorf("chatwoot webhooks are POST requests, not %s", req.Method))
	}
	if b.cfg.WebhookSecret != "" {
		if err := verify(req.Header, req.Body, b.cfg.WebhookSecret, p.now(), b.tolerance); err != nil {
			p.log.Warn("webhook refused", "bot", req.Bot, "reason", err.Error(), "delivery", header(req.Header, headerDelivery))
			return sdk.WebhookResult{}, sdk.Unauthorized("chatwoot webhook: %v", err)
		}
	}
	events, err := parseWebhook(req.Body, scope{
		bot:      req.Bot,
		account:  accountOf(b),
		inbox:    b.knownInbox(),
		delivery: header(req.Header, headerDelivery),
		now:      p.now(),
	})
	if err != nil {
		return sdk.WebhookResult{}, sdk.Permanent(fmt.Errorf("chatwoot webhook: %w", err))
	}
	return sdk.WebhookResult{Events: events}, nil
}

func accountOf(b *bot) int64 {
	id, _ := positiveID(b.cfg.AccountID)
	return id
}

// header returns the first value of key, matched case-insensitively.
func header(h map[string][]string, key string) string { return webhook.Header(h, key) }

// verify checks a delivery signed the way Chatwoot signs (webhook.Chatwoot:
// X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
// with X-Chatwoot-Timestamp, within tolerance of now). The bare hex digest
// is accepted too, as is a comma-separated list of candidates (a secret
// being rotated).
func verify(h map[string][]string, body []byte, secret string, now time.Time, tolerance time.Duration) error {
	scheme := webhook.Chatwoot
	scheme.Tolerance = tolerance
	return scheme.Verify(secret, h, body, now)
}

// scope is what a delivery must belong to for the bot.
type scope struct {
	bot      string
	account  int64 // 0: any
	inbox    int64 // 0: not known yet, any
	delivery string
	now      time.Time // when the delivery arrived
}

// webhookBody is the part of Chatwoot's webhook payloads the plugin reads.
// message_created carries the message at the top level with its
// conversation nested; conversation_status_changed carries the
// conversation at the top level.
type webhookBody struct {
	Event             string         `json:"event"`
	ID                flexInt        `json:"id"`
	Content           flexString     `json:"content"`
	ContentType       flexString     `json:"content_type"`
	ContentAttributes flexObject     `json:"content_attributes"`
	MessageType       messageType    `json:"message_type"`
	Private           flexBool       `json:"private"`
	CreatedAt         flexTime       `json:"created_at"`
	Sender            *sender        `json:"sender"`
	Conversation      *conversationW `json:"conversation"`
	Account           *struct {
		ID flexInt `json:"id"`
	} `json:"account"`
	Attachments []attachment `json:"attachments"`

	// conversation_status_changed, conversation_updated
	Status           flexString `json:"status"`
	InboxID          flexInt    `json:"inbox_id"`
	CustomAttributes flexObject `json:"custom_attributes"`
	Meta             *struct {
		Assignee *agent `json:"assignee"`
	} `json:"meta"`

	// conversation_typing_on/off
	User      *sender  `json:"user"`
	IsPrivate flexBool `json:"is_private"`
}

type conversationW struct {
	ID               flexInt    `json:"id"`
	InboxID          flexInt    `json:"inbox_id"`
	CustomAttributes flexObject `json:"custom_attributes"`
	Meta             *struct {
		Assignee *agent `json:"assignee"`
	} `json:"meta"`
}

type sender struct {
	ID   flexInt    `json:"id"`
	Name flexString `json:"name"`
	Type flexString `json:"type"`
}

type attachment struct {
	FileType flexString `json:"file_type"`
	DataURL  flexString `json:"data_url"`
	FileSize flexInt    `json:"file_size"`
}

// parseWebhook turns one delivery's body into events for the bot.
func parseWebhook(body []byte, sc scope) ([]sdk.Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("empty body")
	}
	var w webhookBody
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("not a Chatwoot webhook payload: %w", err)
	}
	switch w.Event {
	case eventMessageCreated:
		return agentMessages(w, sc), nil
	case eventStatusChanged:
		return resolved(w, sc), nil
	case eventConversationUpdated:
		return assigned(w, sc), nil
	case eventTypingOn, eventTypingOff:
		return typing(w, sc, w.Event == eventTypingOn), nil
	}
	return nil, nil
}

// assigned is the event of a conversation_updated of a livechat
// conversation with an agent assigned: the agent joined. Its id names the
// conversation and the agent, so any later update with the same assignee
// (labels, priority...) is the same event, and a read back of the
// conversation (ReadSession) finds it again under the same id; another
// agent assigned is a new one.
func assigned(w webhookBody, sc scope) []sdk.Event {
	if w.ID <= 0 || w.Meta == nil {
		return nil
	}
	session := livechat(sc, 0, int64(w.InboxID), w.CustomAttributes)
	if session == "" {
		return nil
	}
	if ev, ok := joined(w.Meta.Assignee, session, strconv.FormatInt(int64(w.ID), 10)); ok {
		return []sdk.Event{ev}
	}
	return nil
}

// joined is the agent-joined event of a conversation's assignee, when it
// is a user (not an agent bot or a team).
func joined(a *agent, session, ref string) (sdk.Event, bool) {
	if a == nil || a.ID <= 0 || (a.Type != "" && a.Type != "user") {
		return sdk.Event{}, false
	}
	author := sdk.Author{Type: sdk.AuthorAgent, Name: string(a.AvailableName), ID: strconv.FormatInt(int64(a.ID), 10)}
	if author.Name == "" {
		author.Name = string(a.Name)
	}
	if u := string(a.AvatarURL); strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		author.AvatarURL = u
	}
	return sdk.Event{ID: fmt.Sprintf("assignee:%s:%d", ref, int64(a.ID)), Type: sdk.EventAgentJoined, SessionID: session, Ref: ref,
		Message: sdk.Message{ContentType: "text", Content: map[string]any{}, Author: author}}, true
}

// typing is the event of a conversation_typing_on/off: an agent (a user,
// not the contact) typing a public reply (not a private note) in a
// livechat conversation. Chatwoot gives a typing event no id: the
// delivery's (X-Chatwoot-Delivery, from the versions that sign), else one
// made of the conversation, the state and the time it arrived, so each is
// applied once (typing is never stored).
func typing(w webhookBody, sc scope, on bool) []sdk.Event {
	if w.Conversation == nil || w.User == nil || w.User.Type != "user" || bool(w.IsPrivate) {
		return nil
	}
	conv := w.Conversation
	session := livechat(sc, 0, int64(conv.InboxID), conv.CustomAttributes)
	if session == "" || conv.ID <= 0 {
		return nil
	}
	ref := strconv.FormatInt(int64(conv.ID), 10)
	author := sdk.Author{Type: sdk.AuthorAgent, Name: string(w.User.Name), ID: strconv.FormatInt(int64(w.User.ID), 10)}
	if conv.Meta != nil && conv.Meta.Assignee != nil && conv.Meta.Assignee.ID == w.User.ID {
		if ev, ok := joined(conv.Meta.Assignee, session, ref); ok {
			author = ev.Message.Author // the assignee's push data has the avatar
		}
	}
	id := sc.delivery
	if id == "" {
		id = fmt.Sprintf("%d", sc.now.UnixNano())
	}
	state := "off"
	if on {
		state = "on"
	}
	return []sdk.Event{{ID: fmt.Sprintf("typing:%s:%s:%s", ref, state, id), Type: sdk.EventAgentTyping, SessionID: session, Ref: ref,
		Typing: on, Message: sdk.Message{ContentType: "typing", Content: map[string]any{}, Author: author}}}
}

// livechat returns the session a conversation is for, or "" when it is
// none of this bot's livechats.
func livechat(sc scope, account, inbox int64, attrs map[string]any) string {
	if sc.account != 0 && account != 0 && account != sc.account {
		return ""
	}
	if sc.inbox != 0 && inbox != 0 && inbox != sc.inbox {
		return ""
	}
	if bot := attrString(attrs, attrBot); bot != "" && bot != sc.bot {
		return ""
	}
	return attrString(attrs, attrSession)
}

// agentMessages are the events of a message_created: none unless it is an
// agent's public reply (outgoing, not private) in a livechat conversation.
func agentMessages(w webhookBody, sc scope) []sdk.Event {
	if w.Conversation == nil {
		return nil
	}
	var account int64
	if w.Account != nil {
		account = int64(w.Account.ID)
	}
	conv := w.Conversation
	session := livechat(sc, account, int64(conv.InboxID), conv.CustomAttributes)
	if session == "" || conv.ID <= 0 {
		return nil
	}
	return messageEvents(chatMessage{
		ID: w.ID, Content: w.Content, ContentType: w.ContentType, ContentAttributes: w.ContentAttributes,
		MessageType: w.MessageType, Private: w.Private, CreatedAt: w.CreatedAt, Sender: w.Sender, Attachments: w.Attachments,
	}, session, strconv.FormatInt(int64(conv.ID), 10), sc.delivery)
}

// chatMessage is a Chatwoot message as both paths see it: a webhook's
// Message#webhook_data and the messages API's rendering carry the same
// fields (message_type by name or number, created_at as an ISO time or
// unix seconds, the sender's id and name).
type chatMessage struct {
	ID                flexInt      `json:"id"`
	Content           flexString   `json:"content"`
	ContentType       flexString   `json:"content_type"`
	ContentAttributes flexObject   `json:"content_attributes"`
	MessageType       messageType  `json:"message_type"`
	Private           flexBool     `json:"private"`
	CreatedAt         flexTime     `json:"created_at"`
	Sender            *sender      `json:"sender"`
	Attachments       []attachment `json:"attachments"`
}

// messageEvents are the events of one message of session's conversation
// ref, whichever way it arrived (webhook or ReadSession): the same ids and
// the same messages, so the host applies it once. Only an agent's public
// reply (outgoing, not private) makes events: the user's own messages
// echoed (incoming), notes, activity and template messages (greetings,
// surveys) make none. delivery names the event when the message has no
// id (never from Chatwoot).
func messageEvents(w chatMessage, session, ref, delivery string) []sdk.Event {
	if w.MessageType != "outgoing" || bool(w.Private) {
		return nil
	}
	// The message id names the event: one message delivered twice (a
	// redelivery, two webhooks of the account, a webhook and a read) is
	// one event.
	id := delivery
	if w.ID > 0 {
		id = fmt.Sprintf("message:%d", int64(w.ID))
	}
	if id == "" {
		// Neither a message id nor a delivery id: nothing to deliver it
		// once by. Chatwoot always sends both; this is not Chatwoot.
		return nil
	}
	// sender.name: an agent's User#webhook_data has no available_name,
	// and the API's push_event_data has both; the name is in both.
	author := sdk.Author{Type: sdk.AuthorAgent}
	if w.Sender != nil {
		author.Name = string(w.Sender.Name)
		if w.Sender.ID > 0 {
			author.ID = strconv.FormatInt(int64(w.Sender.ID), 10)
		}
	}
	var msgs []sdk.Message
	if text := strings.TrimSpace(string(w.Content)); text != "" {
		msgs = append(msgs, content(string(w.Content), string(w.ContentType), w.ContentAttributes))
	}
	for _, a := range w.Attachments {
		if a.DataURL == "" {
			continue
		}
		msgs = append(msgs, fileMessage(a))
	}
	// Whole seconds: the API renders created_at as unix seconds, the
	// webhook with milliseconds; the same message has one time.
	at := time.Time(w.CreatedAt).Truncate(time.Second)
	events := make([]sdk.Event, 0, len(msgs))
	for i, m := range msgs {
		m.Author = author
		m.Time = at
		evID := id
		if i > 0 {
			evID = fmt.Sprintf("%s:%d", id, i)
		}
		if w.ID > 0 {
			m.ID = strconv.FormatInt(int64(w.ID), 10)
			if i > 0 {
				m.ID = fmt.Sprintf("%s:%d", m.ID, i)
			}
		}
		events = append(events, sdk.Event{ID: evID, Type: sdk.EventAgentMessage, SessionID: session, Ref: ref, Message: m})
	}
	return events
}

// content is an agent's message as a chat message: a question with buttons
// for Chatwoot's input_select, text otherwise.
func content(text, contentType string, attrs map[string]any) sdk.Message {
	if contentType == "input_select" {
		var buttons []any
		items, _ := attrs["items"].([]any)
		for _, it := range items {
			item, _ := it.(map[string]any)
			title, _ := item["title"].(string)
			value, _ := item["value"].(string)
			if title == "" {
				continue
			}
			if value == "" {
				value = title
			}
			buttons = append(buttons, map[string]any{"content_type": "button", "content": map[string]any{"title": title, "payload": value}})
		}
		if len(buttons) > 0 {
			return sdk.Message{ContentType: "question", Content: map[string]any{"title": text, "buttons": buttons}}
		}
	}
	return sdk.Text(text)
}

// resolved is the event of a conversation_status_changed: the session
// closed when a livechat conversation is resolved.
func resolved(w webhookBody, sc scope) []sdk.Event {
	if w.Status != "resolved" || w.ID <= 0 {
		return nil
	}
	session := livechat(sc, 0, int64(w.InboxID), w.CustomAttributes)
	if session == "" {
		return nil
	}
	ref := strconv.FormatInt(int64(w.ID), 10)
	// A session ends once: every later "resolved" of its conversation is
	// the same event for the host.
	return []sdk.Event{{ID: "resolved:" + ref, Type: sdk.EventSessionClosed, SessionID: session, Ref: ref}}
}

// Lenient JSON types: Chatwoot renders ids as numbers, message types as
// names in webhooks and numbers in the API, times as ISO strings or unix
// numbers, and a field of the wrong type must not cost a delivery.

type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	switch x := v.(type) {
	case float64:
		if x >= -9.2e18 && x <= 9.2e18 {
			*f = flexInt(x)
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			*f = flexInt(n)
		}
	}
	return nil
}

type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	switch x := v.(type) {
	case string:
		*f = flexString(x)
	case float64:
		*f = flexString(strconv.FormatFloat(x, 'f', -1, 64))
	case bool:
		*f = flexString(strconv.FormatBool(x))
	}
	return nil
}

type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	switch x := v.(type) {
	case bool:
		*f = flexBool(x)
	case string:
		*f = flexBool(x == "true" || x == "1")
	case float64:
		*f = flexBool(x != 0)
	}
	return nil
}

// flexObject is a JSON object, or nothing; Chatwoot sometimes stores
// attributes as a JSON-encoded string.
type flexObject map[string]any

func (f *flexObject) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	switch x := v.(type) {
	case map[string]any:
		*f = x
	case string:
		var m map[string]any
		if json.Unmarshal([]byte(x), &m) == nil {
			*f = m
		}
	}
	return nil
}

type flexTime time.Time

func (f *flexTime) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	switch x := v.(type) {
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05 MST", "2006-01-02T15:04:05.000Z07:00"} {
			if t, err := time.Parse(layout, x); err == nil {
				*f = flexTime(t.UTC())
				return nil
			}
		}
	case float64:
		if x > 0 && x < 1e11 {
			sec := int64(x)
			*f = flexTime(time.Unix(sec, int64((x-float64(sec))*1e9)).UTC())
		}
	}
	return nil
}

// messageType is a message's type by name: incoming, outgoing, activity
// or template (the API's 0, 1, 2, 3).
type messageType string

func (m *messageType) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	switch x := v.(type) {
	case string:
		*m = messageType(strings.ToLower(strings.TrimSpace(x)))
	case float64:
		names := []string{"incoming", "outgoing", "activity", "template"}
		if x >= 0 && int(x) < len(names) && x == float64(int(x)) {
			*m = messageType(names[int(x)])
		}
	}
	return nil
}

// fileMessage is an agent's attachment as the user gets it: an image
// message for Chatwoot's file_type image, a file message for any other
// (audio, video, file), with content.url, the name (the data_url's last
// segment) and the size, and the same in Attachment.
func fileMessage(a attachment) sdk.Message {
	kind := "file"
	if a.FileType == "image" {
		kind = "image"
	}
	att := &sdk.Attachment{URL: string(a.DataURL), Size: max(int64(a.FileSize), 0)}
	if u, err := url.Parse(att.URL); err == nil {
		if name, err := url.PathUnescape(path.Base(u.Path)); err == nil && name != "." && name != "/" {
			att.Name = name
		}
	}
	content := map[string]any{"url": att.URL}
	if att.Name != "" {
		content["name"] = att.Name
	}
	if att.Size > 0 {
		content["size"] = att.Size
	}
	return sdk.Message{ContentType: kind, Content: content, Attachment: att}
}
