package engine

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/livechatd/livechatd/host"
)

// The reserved payloads of DESIGN.md §2.
const (
	PayloadStart   = "LIVECHAT_SESSION_START"
	PayloadEnd     = "LIVECHAT_SESSION_END"
	PayloadExpired = "LIVECHAT_SESSION_EXPIRED"
	PayloadFailed  = "LIVECHAT_SESSION_FAILED"
)

// Event is a channel event in the CSML request shape.
type Event struct {
	RequestID string         `json:"request_id,omitempty"`
	Client    Client         `json:"client"`
	Metadata  map[string]any `json:"metadata,omitempty"`
	Payload   Payload        `json:"payload"`
}

// Client identifies the user, the channel and the bot.
type Client struct {
	BotID     string `json:"bot_id,omitempty"`
	ChannelID string `json:"channel_id,omitempty"`
	UserID    string `json:"user_id"`
}

// Payload is a CSML payload: a content type and its content object.
type Payload struct {
	ContentType string         `json:"content_type"`
	Content     map[string]any `json:"content"`
}

// mediaTypes carry their value in content.url.
var mediaTypes = map[string]bool{"image": true, "file": true, "audio": true, "video": true, "url": true}

// Validate checks an incoming event and names the offending field.
func (e *Event) Validate() error {
	if strings.TrimSpace(e.Client.UserID) == "" {
		return &host.Error{Code: host.EINVALID, Field: "client.user_id", Message: "client.user_id is required"}
	}
	if len(e.Client.UserID) > 256 {
		return &host.Error{Code: host.EINVALID, Field: "client.user_id", Message: "client.user_id is longer than 256 characters"}
	}
	if len(e.RequestID) > 256 {
		return &host.Error{Code: host.EINVALID, Field: "request_id", Message: "request_id is longer than 256 characters"}
	}
	return e.Payload.validate("payload")
}

func (p Payload) validate(field string) error {
	want := ""
	switch {
	case p.ContentType == "":
		return &host.Error{Code: host.EINVALID, Field: field + ".content_type", Message: field + ".content_type is required"}
	case p.ContentType == "text":
		want = "text"
	case p.ContentType == "payload":
		want = "payload"
	case mediaTypes[p.ContentType]:
		want = "url"
	case p.ContentType == "flow_trigger":
		want = "flow_id"
	default:
		return &host.Error{Code: host.EINVALID, Field: field + ".content_type",
			Message: fmt.Sprintf("unknown content_type %q: use text, payload, image, file, audio, video, url or flow_trigger", p.ContentType)}
	}
	if s, ok := p.Content[want].(string); !ok || s == "" {
		return &host.Error{Code: host.EINVALID, Field: field + ".content." + want,
			Message: fmt.Sprintf("content_type %q needs a string content.%s", p.ContentType, want)}
	}
	return nil
}

// Value is the event's value: the text, payload, URL or flow id.
func (p Payload) Value() string {
	for _, k := range []string{"text", "payload", "url", "flow_id"} {
		if s, ok := p.Content[k].(string); ok {
			return s
		}
	}
	return ""
}

// is reports whether the payload is the reserved payload name, sent as a
// button payload or typed as text.
func (p Payload) is(name string) bool {
	return (p.ContentType == "payload" || p.ContentType == "text") && strings.TrimSpace(p.Value()) == name
}

func (p Payload) raw() json.RawMessage {
	b, _ := json.Marshal(p)
	return b
}

func textPayload(text string) Payload {
	return Payload{ContentType: "text", Content: map[string]any{"text": text}}
}

func payloadEvent(name string) Payload {
	return Payload{ContentType: "payload", Content: map[string]any{"payload": name}}
}

// signOff is the agent's sign-off as a question with the quit button.
func signOff(title, button string) Payload {
	return Payload{ContentType: "question", Content: map[string]any{
		"title": title,
		"buttons": []any{map[string]any{
			"content_type": "button",
			"content":      map[string]any{"title": button, "payload": PayloadEnd},
		}},
	}}
}

// Reply is the answer to a channel event: {"messages": [...]}, plus the
// session when the host intercepted the event.
type Reply struct {
	Messages []OutMessage `json:"messages"`
	Livechat *Livechat    `json:"livechat,omitempty"`
	// Extra holds the other top-level keys of a bot's reply (request_id,
	// conversation_end...), passed through.
	Extra map[string]json.RawMessage `json:"-"`
}

// MarshalJSON writes the bot's extra keys beside messages and livechat.
func (r Reply) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(r.Extra)+2)
	for k, v := range r.Extra {
		out[k] = v
	}
	msgs := r.Messages
	if msgs == nil {
		msgs = []OutMessage{}
	}
	out["messages"] = msgs
	if r.Livechat != nil {
		out["livechat"] = r.Livechat
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads a reply written by MarshalJSON, or a bot's answer.
func (r *Reply) UnmarshalJSON(b []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*r = Reply{}
	if raw, ok := all["messages"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &r.Messages); err != nil {
			return fmt.Errorf("messages: %w", err)
		}
	}
	if raw, ok := all["livechat"]; ok && string(raw) != "null" {
		r.Livechat = &Livechat{}
		if err := json.Unmarshal(raw, r.Livechat); err != nil {
			return fmt.Errorf("livechat: %w", err)
		}
	}
	delete(all, "messages")
	delete(all, "livechat")
	if len(all) > 0 {
		r.Extra = all
	}
	return nil
}

// OutMessage is one message to the user. Bot messages keep every key the
// bot sent (conversation_id, direction...); Payload is always there.
type OutMessage struct {
	Payload json.RawMessage            `json:"payload"`
	Author  *Author                    `json:"author,omitempty"`
	Extra   map[string]json.RawMessage `json:"-"`
}

// MarshalJSON writes the extra keys beside payload and author.
func (m OutMessage) MarshalJSON() ([]byte, error) {
	out := make(map[string]any, len(m.Extra)+2)
	for k, v := range m.Extra {
		out[k] = v
	}
	out["payload"] = m.Payload
	if m.Author != nil {
		out["author"] = m.Author
	}
	return json.Marshal(out)
}

// UnmarshalJSON keeps the extra keys.
func (m *OutMessage) UnmarshalJSON(b []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	m.Payload = all["payload"]
	delete(all, "payload")
	if a, ok := all["author"]; ok {
		m.Author = &Author{}
		if err := json.Unmarshal(a, m.Author); err != nil {
			return err
		}
		delete(all, "author")
	}
	if len(all) > 0 {
		m.Extra = all
	}
	return nil
}

// Author of a message delivered to the channel.
type Author struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
}

// Livechat tells the channel about the session that intercepted an event.
type Livechat struct {
	SessionID string `json:"session_id"`
	State     string `json:"state"`
}

func hostMessage(p Payload) OutMessage {
	return OutMessage{Payload: p.raw(), Author: &Author{Type: string(host.AuthorSystem)}}
}

// parseBotReply reads a bot's answer: {"messages": [{"payload": ...}], ...}.
// A "livechat" key is the host's own and is dropped.
func parseBotReply(b []byte) (Reply, error) {
	var r Reply
	if err := json.Unmarshal(b, &r); err != nil {
		return Reply{}, fmt.Errorf("bot reply is not a JSON object with messages: %w", err)
	}
	r.Livechat = nil
	return r, nil
}
