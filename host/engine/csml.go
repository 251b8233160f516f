package engine

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/livechatd/livechatd/host"
)

// The reserved payloads of docs/lifecycle.md.
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

	// MetadataVerified is the channel's word that it authenticated the
	// user and that Metadata (email, phone, names) is theirs. The host
	// honours it only in an event Signed by a channel_url bot's channel
	// (HandleEvent clears it otherwise, so the bot never hears an
	// unhonoured claim); providers then hear sdk.User.Verified.
	MetadataVerified bool `json:"metadata_verified,omitempty"`
	// Signed is set by the HTTP layer, never from JSON: the event came
	// with a valid X-Livechat-Signature over its exact body, made with the
	// bot's channel_secret.
	Signed bool `json:"-"`
}

// vouch clears a claim of verified metadata the host does not honour: one
// not signed by the channel, or from the webchat, whose users are
// anonymous.
func (e *Event) vouch(b *Bot) {
	e.MetadataVerified = e.MetadataVerified && e.Signed && !b.Webchat && !b.InsecureEvents
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

// Bounds of an event, checked by Validate. They keep what one event can
// cost everywhere it goes afterwards — the store, the transcript, the
// webchat stream, the plugin call (protobuf refuses messages nested beyond
// its recursion limit, and a message refused there can never be sent) —
// well under the HTTP body limit's worst case.
const (
	// MaxDepth is how deeply objects and arrays may nest in the content or
	// the metadata; the content or metadata object itself is level 1.
	MaxDepth = 32
	// MaxTextBytes bounds content.text and every other string value.
	MaxTextBytes = 16 << 10
	// MaxURLBytes bounds content.url.
	MaxURLBytes = 8 << 10
	// MaxKeys bounds the keys and array items of the content, and of the
	// metadata, each counted over the whole tree.
	MaxKeys = 256
	// MaxKeyBytes bounds one object key.
	MaxKeyBytes = 256
	// MaxMetadataBytes bounds the metadata: its keys and values together.
	MaxMetadataBytes = 16 << 10
	// maxIDBytes bounds the ids: user, channel, bot and request.
	maxIDBytes = 256
)

// Validate checks an incoming event against its shape and its bounds and
// names the offending field.
func (e *Event) Validate() error {
	if strings.TrimSpace(e.Client.UserID) == "" {
		return &host.Error{Code: host.EINVALID, Field: "client.user_id", Message: "client.user_id is required"}
	}
	for _, id := range []struct{ field, value string }{
		{"client.user_id", e.Client.UserID},
		{"request_id", e.RequestID},
		{"client.channel_id", e.Client.ChannelID},
		{"client.bot_id", e.Client.BotID},
	} {
		if len(id.value) > maxIDBytes {
			return &host.Error{Code: host.EINVALID, Field: id.field, Message: fmt.Sprintf("%s is longer than %d bytes", id.field, maxIDBytes)}
		}
		if !utf8.ValidString(id.value) {
			return &host.Error{Code: host.EINVALID, Field: id.field, Message: id.field + " is not valid UTF-8"}
		}
	}
	if err := e.Payload.validate("payload"); err != nil {
		return err
	}
	if e.Metadata != nil {
		b := bounds{limit: MaxMetadataBytes}
		if err := b.object(path{root: "metadata"}, e.Metadata, 1); err != nil {
			return err
		}
		if _, err := routingOf(e.Metadata); err != nil {
			return err
		}
	}
	return nil
}

// bounds walks a JSON tree (what encoding/json decodes into any) and
// refuses it past MaxDepth, MaxKeys, string and key sizes, or limit bytes
// in all (0: no total). The walk stops at the first problem, so its cost
// and its recursion are bounded by the limits, not by the input.
type bounds struct {
	limit int // total bytes of keys and values; 0 for none
	keys  int
	bytes int
	// strLimit returns the limit for the string at p, key the last key.
	strLimit func(key string) int
}

func (b *bounds) object(p path, m map[string]any, depth int) error {
	if depth > MaxDepth {
		return p.errorf("%s is nested deeper than %d levels", p.root, MaxDepth)
	}
	for k, v := range m {
		b.keys++
		b.bytes += len(k)
		if b.keys > MaxKeys {
			return p.errorf("%s has more than %d keys and items", p.root, MaxKeys)
		}
		kp := p.key(k)
		if len(k) > MaxKeyBytes {
			return kp.errorf("a key of %s is longer than %d bytes", p.root, MaxKeyBytes)
		}
		if !utf8.ValidString(k) {
			return kp.errorf("a key of %s is not valid UTF-8", p.root)
		}
		if err := b.value(kp, k, v, depth); err != nil {
			return err
		}
	}
	return b.total(p)
}

func (b *bounds) value(p path, key string, v any, depth int) error {
	switch v := v.(type) {
	case map[string]any:
		return b.object(p, v, depth+1)
	case []any:
		if depth+1 > MaxDepth {
			return p.errorf("%s is nested deeper than %d levels", p.root, MaxDepth)
		}
		for i, item := range v {
			b.keys++
			if b.keys > MaxKeys {
				return p.errorf("%s has more than %d keys and items", p.root, MaxKeys)
			}
			if err := b.value(p.index(i), key, item, depth+1); err != nil {
				return err
			}
		}
	case string:
		limit := MaxTextBytes
		if b.strLimit != nil {
			limit = b.strLimit(key)
		}
		if len(v) > limit {
			return p.errorf("%s is longer than %d bytes", p, limit)
		}
		if !utf8.ValidString(v) {
			return p.errorf("%s is not valid UTF-8", p)
		}
		b.bytes += len(v)
	default:
		b.bytes += 8 // a number, a bool or null
	}
	return b.total(p)
}

func (b *bounds) total(p path) error {
	if b.limit > 0 && b.bytes > b.limit {
		return (path{root: p.root}).errorf("%s is larger than %d bytes", p.root, b.limit)
	}
	return nil
}

// path names a field inside a JSON tree for errors, readably even when the
// tree is hostile: at most maxPathSegments segments, keys cut at 32 bytes.
type path struct {
	root string
	segs []string
	more bool // segments were left out
}

const maxPathSegments = 8

func (p path) with(seg string) path {
	if len(p.segs) >= maxPathSegments {
		return path{root: p.root, segs: p.segs, more: true}
	}
	segs := make([]string, len(p.segs), len(p.segs)+1)
	copy(segs, p.segs)
	return path{root: p.root, segs: append(segs, seg)}
}

func (p path) key(k string) path {
	if len(k) > 32 {
		cut := 32
		for cut > 0 && !utf8.RuneStart(k[cut]) {
			cut--
		}
		k = k[:cut] + "…"
	}
	return p.with("." + k)
}

func (p path) index(i int) path { return p.with(fmt.Sprintf("[%d]", i)) }

func (p path) String() string {
	s := p.root + strings.Join(p.segs, "")
	if p.more {
		s += "…"
	}
	return s
}

func (p path) errorf(format string, args ...any) error {
	return &host.Error{Code: host.EINVALID, Field: p.String(), Message: fmt.Sprintf(format, args...)}
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
	case p.ContentType == ContentTyping:
		return validateTyping(field, p)
	case p.ContentType == ContentRead:
		return nil // content {} or none: the user read everything so far
	default:
		return &host.Error{Code: host.EINVALID, Field: field + ".content_type",
			Message: fmt.Sprintf("unknown content_type %q: use text, payload, image, file, audio, video, url, flow_trigger, typing or read", p.ContentType)}
	}
	if s, ok := p.Content[want].(string); !ok || s == "" {
		return &host.Error{Code: host.EINVALID, Field: field + ".content." + want,
			Message: fmt.Sprintf("content_type %q needs a string content.%s", p.ContentType, want)}
	}
	b := bounds{strLimit: func(key string) int {
		if key == "url" {
			return MaxURLBytes
		}
		return MaxTextBytes
	}}
	return b.object(path{root: field + ".content"}, p.Content, 1)
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
	Type      string `json:"type"`
	Name      string `json:"name,omitempty"`
	AvatarURL string `json:"avatar_url,omitempty"`
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
