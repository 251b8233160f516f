package sdk

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Info describes a provider plugin. It is static: the host reads it once per
// process to fingerprint the plugin, and `--describe` prints it as JSON.
type Info struct {
	// Name is the provider name operators write in `provider = "..."`. It must
	// match the binary's suffix: livechat-provider-<name>.
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	// ProtocolVersions are filled in by Serve; plugin authors leave them empty.
	ProtocolVersions []int        `json:"protocol_versions"`
	Capabilities     []Capability `json:"capabilities,omitempty"`
	Schema           Schema       `json:"config_schema"`
	// Webhooks tell the operator how to point the platform at the host;
	// `livechatd webhook-url` prints them with the bot's URL and token.
	Webhooks []WebhookSetup `json:"webhooks,omitempty"`
	// RateLimit is the platform's documented API rate limit for one bot's
	// account, e.g. 40 calls per 20 s for Gorgias. The host keeps its
	// ReadSession calls within it, after the calls it makes for starts,
	// sends and ends; operators can override it per bot. Zero: the host's
	// default.
	RateLimit RateLimit `json:"rate_limit,omitzero"`
}

// RateLimit is a platform's API budget: Calls per Per.
type RateLimit struct {
	Calls int           `json:"calls"`
	Per   time.Duration `json:"per"`
}

// IsZero reports whether r says nothing.
func (r RateLimit) IsZero() bool { return r.Calls <= 0 || r.Per <= 0 }

func (r RateLimit) String() string {
	if r.IsZero() {
		return "none"
	}
	return fmt.Sprintf("%d/%s", r.Calls, r.Per)
}

// WebhookSetup is one webhook (an "HTTP integration") to create on the
// platform so that its events reach the host.
type WebhookSetup struct {
	// Name tells several webhooks apart, e.g. "messages", "status".
	Name string `json:"name"`
	// Method is GET or POST.
	Method string `json:"method"`
	// Query is appended to the host's webhook URL after ?token=...: query
	// parameters in the platform's template language, e.g.
	// "ticket_id={{ticket.id}}&text={{message.body_text}}".
	Query string `json:"query,omitempty"`
	// Headers to set on the platform's side.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is a request body template to paste, for POST.
	Body string `json:"body,omitempty"`
	// Triggers are the platform events to subscribe to.
	Triggers []string `json:"triggers,omitempty"`
	// Instructions say where in the platform this is entered.
	Instructions string `json:"instructions,omitempty"`
	// Optional integrations add a feature (an agent closing the ticket ends
	// the session, say); the others are needed.
	Optional bool `json:"optional,omitempty"`
}

// Capability is something the host may rely on a provider to do.
type Capability string

const (
	// CapWebhook: the platform calls the host's provider webhook URL.
	CapWebhook Capability = "webhook"
	// CapPush: the plugin pushes events through the Host it gets in Configure.
	CapPush Capability = "push"
	// CapCloseTicket: EndSession closes the ticket on the platform.
	CapCloseTicket Capability = "close_ticket"
	// CapReadSession: the provider implements SessionReader, so the host
	// catches up on agent replies and closings whose webhooks were lost.
	// Serve adds it when the provider implements the interface.
	CapReadSession Capability = "read_session"

	// The capabilities below say what a platform can tell the host or take
	// from it (docs/handoff.md). The host uses each only when the provider
	// lists it and degrades without it, as said for each.

	// CapAgentAssigned: the provider pushes or returns EventAgentJoined
	// when an agent is assigned or joins. Without it the user learns of the
	// agent from the first agent message.
	CapAgentAssigned Capability = "agent_assigned"
	// CapAgentTyping: the provider sends EventAgentTyping. Without it the
	// user sees no typing indicator.
	CapAgentTyping Capability = "agent_typing"
	// CapUserTyping: the provider takes the user's typing (TypingSender).
	// Serve adds it when the provider implements TypingSender. Without it
	// the host drops the user's typing events.
	CapUserTyping Capability = "user_typing"
	// CapRead: the platform shows the agent that the user read the
	// agent's messages (ReadMarker). Serve adds it when the provider
	// implements ReadMarker. Without it the host drops the user's read
	// receipts.
	CapRead Capability = "read"
	// CapAttachments: SendMessage attaches Message.Attachment (content
	// types image and file) to the conversation as a file. Without it the
	// host sends a text message with the link instead.
	CapAttachments Capability = "attachments"
	// CapRouting: StartSession maps StartRequest.Routing to the platform's
	// own fields (teams, priority, tags, language). Without it Routing is
	// still set, and the raw metadata is always there.
	CapRouting Capability = "routing"
	// CapQueuePosition: the provider sends EventQueuePosition. Without it
	// the user hears the bot's waiting.message at its interval.
	CapQueuePosition Capability = "queue_position"
	// CapCSAT: the provider records a user's satisfaction rating on the
	// platform (RatingRecorder). Serve adds it when the provider implements
	// RatingRecorder. Without it the rating is stored and counted by the
	// host only.
	CapCSAT Capability = "csat"
)

// KnownCapabilities are the capabilities this SDK defines, in the order
// `livechatd plugins` lists them.
var KnownCapabilities = []Capability{CapWebhook, CapPush, CapCloseTicket, CapReadSession,
	CapAgentAssigned, CapAgentTyping, CapUserTyping, CapRead, CapAttachments, CapRouting, CapQueuePosition, CapCSAT}

// Schema is the shape of a bot's `config {}` block for this provider.
type Schema struct {
	Attributes []Attribute `json:"attributes"`
	// ExactlyOneOf lists sets of attributes of which exactly one must be
	// set, e.g. {{"domain", "base_url"}}. Give them no Default.
	ExactlyOneOf [][]string `json:"exactly_one_of,omitempty"`
}

// Attribute returns the attribute called name, or false.
func (s Schema) Attribute(name string) (Attribute, bool) {
	for _, a := range s.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return Attribute{}, false
}

// Attribute is one key of the config block.
type Attribute struct {
	Name        string        `json:"name"`
	Type        AttributeType `json:"type"`
	Required    bool          `json:"required,omitempty"`
	Sensitive   bool          `json:"sensitive,omitempty"`
	Description string        `json:"description,omitempty"`
	// Default is used when the attribute is absent; nil for none. It must be
	// of the attribute's type (string for String and Duration, float64 or int
	// for Number, bool, []string, map[string]string).
	Default any `json:"default,omitempty"`

	// The rules below are checked by Schema.Validate, in the plugin, each
	// reported on this attribute's line. Enum, Pattern and URL apply to a
	// string value and to each element of a list of strings.

	// Enum lists the values allowed.
	Enum []string `json:"enum,omitempty"`
	// Pattern is a regular expression (RE2) the value must match; anchor it
	// (^...$) to match the whole value.
	Pattern string `json:"pattern,omitempty"`
	// URL: the value must be an absolute http or https URL.
	URL bool `json:"url,omitempty"`
	// ConflictsWith names attributes that must not be set with this one.
	ConflictsWith []string `json:"conflicts_with,omitempty"`
	// Deprecated, when not empty, makes setting the attribute a warning
	// with this text, which should name the replacement: `use "base_url"
	// instead`.
	Deprecated string `json:"deprecated,omitempty"`
}

// AttributeType is the type of a config attribute.
type AttributeType string

const (
	String       AttributeType = "string"
	Number       AttributeType = "number"
	Bool         AttributeType = "bool"
	ListOfString AttributeType = "list(string)"
	MapOfString  AttributeType = "map(string)"
	// Duration is a string such as "30s" or "2m", checked by the host.
	Duration AttributeType = "duration"
)

// Config is one bot's decoded config block: attribute name to value, with
// defaults applied. Values are JSON-shaped: string, float64, bool,
// []any of strings, map[string]any of strings.
type Config map[string]any

// Decode fills the struct pointed to by v from the config, matching JSON
// field tags, e.g. `json:"api_key"`. Duration attributes arrive as strings;
// use ParseDuration, or the String helper.
func (c Config) Decode(v any) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode config: %w", err)
	}
	return nil
}

// String returns the string value of name, or "".
func (c Config) String(name string) string {
	s, _ := c[name].(string)
	return s
}

// Bool returns the boolean value of name, or false.
func (c Config) Bool(name string) bool {
	b, _ := c[name].(bool)
	return b
}

// Duration parses the duration value of name; zero when absent.
func (c Config) Duration(name string) (time.Duration, error) {
	s := c.String(name)
	if s == "" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// Severity of a Diagnostic.
type Severity int

const (
	SeverityError Severity = iota + 1
	SeverityWarning
)

func (s Severity) String() string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return "unknown"
}

// Diagnostic is a problem with a bot's config. Attribute names the config key
// it is about, so the host can point at the line in the operator's file.
type Diagnostic struct {
	Severity  Severity `json:"severity"`
	Summary   string   `json:"summary"`
	Detail    string   `json:"detail,omitempty"`
	Attribute string   `json:"attribute,omitempty"`
}

func (d Diagnostic) Error() string {
	msg := d.Summary
	if d.Attribute != "" {
		msg = d.Attribute + ": " + msg
	}
	if d.Detail != "" {
		msg += ": " + d.Detail
	}
	return msg
}

// Errorf returns an error diagnostic about attribute.
func Errorf(attribute, format string, args ...any) Diagnostic {
	return Diagnostic{Severity: SeverityError, Attribute: attribute, Summary: fmt.Sprintf(format, args...)}
}

// Diagnostics is a list of diagnostics.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Err returns the diagnostics as one error when any is an error, else nil.
func (ds Diagnostics) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	return diagnosticsError(ds)
}

type diagnosticsError Diagnostics

func (e diagnosticsError) Error() string {
	var msg string
	for i, d := range e {
		if d.Severity != SeverityError {
			continue
		}
		if i > 0 && msg != "" {
			msg += "; "
		}
		msg += d.Error()
	}
	return msg
}

// User is the end user on the chat side.
type User struct {
	ID        string `json:"id"`
	ChannelID string `json:"channel_id,omitempty"`
	// Metadata is whatever the channel knows of the user: firstname,
	// lastname, email, and any other key.
	Metadata map[string]any `json:"metadata,omitempty"`
	// Verified says the channel vouches for the identity in Metadata: it
	// authenticated the user (a login, a signed-in customer account) and
	// marked the event as verified. livechatd sets it only for an event of
	// a channel_url bot that carries "metadata_verified": true and a valid
	// channel signature; webchat users are anonymous and never verified.
	//
	// When Verified is false, Metadata is only what the user typed, and
	// anyone can type someone else's email. A provider then must not attach
	// the session to an existing platform customer (contact, requester)
	// found by an email, phone number or id taken from Metadata, and must
	// not update that customer's data. It finds or creates a customer of
	// its own keyed by the channel's user id (e.g. the external id
	// "livechat:<bot>:<user id>" and a synthetic no-reply address nobody
	// receives mail at), and may show the claimed details to the agent in
	// the ticket or a note marked as unverified. When true, matching the
	// platform's customers by email and updating their data is fine.
	Verified bool `json:"verified,omitempty"`
}

// AuthorType says who wrote a message.
type AuthorType string

const (
	AuthorUser   AuthorType = "user"
	AuthorBot    AuthorType = "bot"
	AuthorAgent  AuthorType = "agent"
	AuthorSystem AuthorType = "system"
)

// Author of a message.
type Author struct {
	Type AuthorType `json:"type"`
	Name string     `json:"name,omitempty"`
	// ID is the platform's id of the author, when known.
	ID string `json:"id,omitempty"`
	// AvatarURL is a picture of the author (an agent's avatar), when the
	// platform has one: an absolute http or https URL.
	AvatarURL string `json:"avatar_url,omitempty"`
}

// Attachment is a file sent with a message: a user's image or file (the
// host fills it for content types image and file) or an agent's attachment
// (a provider fills it, with ContentType image or file).
type Attachment struct {
	// URL is where the file can be downloaded: an absolute http or https
	// URL. A user's URL may need no authentication for a limited time only;
	// a provider that attaches files should download it at once.
	URL string `json:"url"`
	// Name is the file name, when known.
	Name string `json:"name,omitempty"`
	// MIME is the media type, e.g. image/png, when known.
	MIME string `json:"mime,omitempty"`
	// Size is the size in bytes; 0 when unknown.
	Size int64 `json:"size,omitempty"`
}

// Message is a chat message in the CSML payload shape: a content type and a
// content object ({"text": "hi"}, {"url": "..."}, a question with buttons...).
type Message struct {
	ID          string         `json:"id,omitempty"`
	ContentType string         `json:"content_type"`
	Content     map[string]any `json:"content"`
	Author      Author         `json:"author"`
	Time        time.Time      `json:"time,omitzero"`
	// Attachment is set for content types image and file.
	Attachment *Attachment `json:"attachment,omitempty"`
}

// Text returns a text message.
func Text(text string) Message {
	return Message{ContentType: "text", Content: map[string]any{"text": text}}
}

// FileMessage is an agent's attachment as the user gets it: content type
// image for an image/* MIME type and file otherwise, content {url, name,
// mime, size} with the keys that are known, and Attachment set (a
// negative size counts as unknown). ok is false when a.URL is not an
// absolute http or https URL, which the user's channel could not open.
func FileMessage(a Attachment) (m Message, ok bool) {
	u, err := url.Parse(a.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Message{}, false
	}
	a.Size = max(a.Size, 0)
	kind := "file"
	if strings.HasPrefix(strings.ToLower(a.MIME), "image/") {
		kind = "image"
	}
	content := map[string]any{"url": a.URL}
	if a.Name != "" {
		content["name"] = a.Name
	}
	if a.MIME != "" {
		content["mime"] = a.MIME
	}
	if a.Size > 0 {
		content["size"] = a.Size
	}
	return Message{ContentType: kind, Content: content, Attachment: &a}, true
}

// PlainText is the message's text as a support agent should read it: the
// text of a text message, the URL of a media message, the payload of a
// button click, the title of a question.
func (m Message) PlainText() string {
	for _, key := range []string{"text", "url", "payload", "title"} {
		if s, ok := m.Content[key].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// StartRequest asks the provider to open a ticket or conversation.
type StartRequest struct {
	Bot       string
	SessionID string
	User      User
	// Transcript is the conversation with the bot before the handoff, oldest
	// first.
	Transcript []Message
	// Messages are user messages already waiting for the platform, oldest first.
	Messages []Message
	// IdempotencyKey is the same on every retry of this start: a provider must
	// not open a second ticket for it.
	IdempotencyKey string
	// Routing is where the conversation should go, normalized from the
	// user's metadata (User.Metadata keeps the raw keys). A provider with
	// CapRouting maps it to the platform's fields.
	Routing Routing
}

// Priorities of Routing.Priority, lowest first.
const (
	PriorityLow    = "low"
	PriorityNormal = "normal"
	PriorityHigh   = "high"
	PriorityUrgent = "urgent"
)

// Routing is the normalized form of the metadata keys team, priority, tags
// and language (docs/handoff.md): every field is trimmed and lower-cased,
// empty when the channel did not give it.
type Routing struct {
	// Team names the team or group that should take the conversation.
	Team string `json:"team,omitempty"`
	// Priority is one of PriorityLow, PriorityNormal, PriorityHigh and
	// PriorityUrgent.
	Priority string `json:"priority,omitempty"`
	// Tags are labels for the conversation, without duplicates, in the
	// order given.
	Tags []string `json:"tags,omitempty"`
	// Language is a BCP 47 tag such as "fr" or "pt-br".
	Language string `json:"language,omitempty"`
}

// IsZero reports whether r says nothing.
func (r Routing) IsZero() bool {
	return r.Team == "" && r.Priority == "" && len(r.Tags) == 0 && r.Language == ""
}

// StartResult is the platform's reference for the session.
type StartResult struct {
	Ref string
}

// SendRequest forwards one user message.
type SendRequest struct {
	Bot       string
	SessionID string
	Ref       string
	User      User
	Message   Message
	// IdempotencyKey is the same on every retry of this message.
	IdempotencyKey string
}

// SendResult is what the platform answered for a sent message.
type SendResult struct {
	PlatformMessageID string
}

// EndReason says why a session ended.
type EndReason string

const (
	EndUser    EndReason = "user"
	EndAgent   EndReason = "agent"
	EndExpired EndReason = "expired"
	EndAdmin   EndReason = "admin"
	// EndMaxWait: no agent wrote within the bot's waiting max_wait.
	EndMaxWait EndReason = "max_wait"
)

// EndRequest asks the provider to close the ticket.
type EndRequest struct {
	Bot            string
	SessionID      string
	Ref            string
	User           User
	Reason         EndReason
	IdempotencyKey string
}

// WebhookRequest is one HTTP request the platform sent to the host.
type WebhookRequest struct {
	Bot    string
	Method string
	Path   string
	Query  map[string][]string
	Header map[string][]string
	Body   []byte
}

// QueryValue returns the first value of the query parameter key, or "".
func (r WebhookRequest) QueryValue(key string) string {
	if vs := r.Query[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// HeaderValue returns the first value of the header key (canonical form,
// e.g. "X-Chatwoot-Signature"), or "".
func (r WebhookRequest) HeaderValue(key string) string {
	if vs := r.Header[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// WebhookResult is the events found in a webhook and the HTTP answer to give
// the platform. A zero Status means 200.
type WebhookResult struct {
	Events []Event
	Status int
	Header map[string][]string
	Body   []byte
}

// EventType is the kind of a platform event.
type EventType string

const (
	// EventAgentMessage: an agent wrote to the user.
	EventAgentMessage EventType = "agent_message"
	// EventSessionClosed: the platform closed the session (an agent resolved
	// or closed the ticket).
	EventSessionClosed EventType = "session_closed"
	// EventAgentJoined: an agent was assigned to or joined the
	// conversation; Message.Author names the agent (Name, AvatarURL).
	// Needs CapAgentAssigned.
	EventAgentJoined EventType = "agent_joined"
	// EventAgentTyping: an agent started (Typing) or stopped typing;
	// Message.Author names the agent. Never stored. Needs CapAgentTyping.
	EventAgentTyping EventType = "agent_typing"
	// EventQueuePosition: the user's place in the queue (QueuePosition, 1
	// is next) and/or the expected wait (ExpectedWait), whichever the
	// platform knows. Needs CapQueuePosition.
	EventQueuePosition EventType = "queue_position"
)

// Event is something that happened on the platform. SessionID or Ref (or
// both) name the session.
type Event struct {
	// ID is required: the SDK refuses an event without one, in PushEvents
	// and in a WebhookResult, before it leaves the plugin. The host drops an
	// event whose ID it has already seen in the same session, and remembers
	// an ID for retention.processed_events (30 days by default) from when it
	// first saw it, so a platform's redelivered webhook, a retried push or a
	// read back of the session is applied once.
	//
	// IDs must be unique within a conversation (session) and stable across
	// deliveries of the same event: use the platform's message or event id.
	// Never derive one from the content: an agent who sends the same text
	// twice sends two messages, which need two different IDs. One platform
	// message that becomes several events (text and attachments) needs one ID
	// per event, e.g. "<message id>:1".
	ID        string
	Type      EventType
	SessionID string
	Ref       string
	Message   Message
	// QueuePosition and ExpectedWait are for EventQueuePosition: zero
	// when unknown.
	QueuePosition int
	ExpectedWait  time.Duration
	// Typing is for EventAgentTyping: true when the agent started typing.
	Typing bool
}

// ReadRequest asks for what happened on a session's platform side since
// Cursor.
type ReadRequest struct {
	Bot       string
	SessionID string
	Ref       string
	User      User
	// Cursor is the Cursor of the last ReadResult of this session, or ""
	// on the first read, which covers the whole session.
	Cursor string
}

// ReadResult is what a provider found on the platform since the cursor.
type ReadResult struct {
	// Events are the agent messages written since the cursor, in the
	// platform's order, each with the same ID the webhook gives it (the
	// host applies an event once, whichever way it arrives) and naming the
	// session by SessionID or Ref. Messages the platform echoes of the
	// user's own, notes agents keep to themselves and messages of an
	// earlier conversation are left out, as in HandleWebhook.
	Events []Event
	// Closed says the session is closed on the platform (an agent resolved
	// or closed it): the host ends it, after applying Events.
	Closed bool
	// Cursor is passed back on the next read; "" keeps the one sent. Use
	// something that makes the next read cheap: the last message's id or
	// time. A read with an old cursor must be safe (the host may repeat
	// one after a crash): events it finds again are dropped as replays.
	Cursor string
}
