package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Time is a timestamp encoded the way Gorgias encodes them: ISO 8601 in UTC
// with microseconds and an explicit offset, "2024-02-14T21:30:50.201204+00:00".
type Time struct{ time.Time }

const timeLayout = "2006-01-02T15:04:05.000000+00:00"

// MarshalJSON encodes t in Gorgias's layout.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(timeLayout) + `"`), nil
}

// UnmarshalJSON accepts ISO 8601 with or without an offset, and null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := parseTime(s)
	if err != nil {
		return err
	}
	*t = Time{v}
	return nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02"} {
		if v, err := time.Parse(layout, s); err == nil {
			return v.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not an ISO 8601 datetime: %q", s)
}

func timePtr(t time.Time) *Time { return &Time{t.UTC()} }

// OptString is a string that Gorgias sends as null when it is empty.
type OptString string

// MarshalJSON encodes the empty string as null.
func (s OptString) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // Gorgias (Python) leaves <, > and & alone
	if err := enc.Encode(string(s)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON decodes null as the empty string.
func (s *OptString) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*s = ""
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = OptString(v)
	return nil
}

// User is a helpdesk user: an agent, or the owner of an API key.
type User struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	Firstname string `json:"firstname"`
	Lastname  string `json:"lastname"`
}

// Person is a message's sender or receiver, or a ticket's assignee: a user
// or a customer.
type Person struct {
	ID        int64          `json:"id"`
	Email     OptString      `json:"email"`
	Name      OptString      `json:"name"`
	Firstname string         `json:"firstname"`
	Lastname  string         `json:"lastname"`
	Meta      map[string]any `json:"meta"`
}

// CustomerChannel is one way to reach a customer.
type CustomerChannel struct {
	ID              int64  `json:"id"`
	Type            string `json:"type"`
	Address         string `json:"address"`
	Preferred       bool   `json:"preferred"`
	CreatedDatetime Time   `json:"created_datetime"`
	UpdatedDatetime Time   `json:"updated_datetime"`
	DeletedDatetime *Time  `json:"deleted_datetime"`
}

// Customer is a Gorgias customer (§1.5).
type Customer struct {
	ID              int64             `json:"id"`
	ExternalID      OptString         `json:"external_id"`
	Active          bool              `json:"active"`
	Email           OptString         `json:"email"`
	Name            OptString         `json:"name"`
	Firstname       string            `json:"firstname"`
	Lastname        string            `json:"lastname"`
	Language        OptString         `json:"language"`
	Timezone        OptString         `json:"timezone"`
	Note            OptString         `json:"note"`
	Data            any               `json:"data"`
	Meta            map[string]any    `json:"meta"`
	Integrations    map[string]any    `json:"integrations"`
	Customer        any               `json:"customer"`
	Channels        []CustomerChannel `json:"channels"`
	CreatedDatetime Time              `json:"created_datetime"`
	UpdatedDatetime Time              `json:"updated_datetime"`
}

// Tag is a ticket tag.
type Tag struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	URI  string `json:"uri"`
}

// Team is a ticket's assignee team.
type Team struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Ticket is a Gorgias ticket (§1.6). Lists leave Messages out.
type Ticket struct {
	ID                          int64          `json:"id"`
	URI                         string         `json:"uri"`
	ExternalID                  OptString      `json:"external_id"`
	Status                      string         `json:"status"`
	Priority                    string         `json:"priority"`
	Channel                     string         `json:"channel"`
	Via                         string         `json:"via"`
	FromAgent                   bool           `json:"from_agent"`
	Spam                        bool           `json:"spam"`
	Subject                     OptString      `json:"subject"`
	Language                    OptString      `json:"language"`
	Meta                        any            `json:"meta"`
	Customer                    *Customer      `json:"customer"`
	AssigneeUser                *Person        `json:"assignee_user"`
	AssigneeUserID              *int64         `json:"assignee_user_id"`
	AssigneeTeam                *Team          `json:"assignee_team"`
	AssigneeTeamID              *int64         `json:"assignee_team_id"`
	Tags                        []Tag          `json:"tags"`
	CustomFields                any            `json:"custom_fields"`
	Messages                    []Message      `json:"messages,omitempty"`
	IsUnread                    bool           `json:"is_unread"`
	ReplyOptions                map[string]any `json:"reply_options"`
	SatisfactionSurvey          any            `json:"satisfaction_survey"`
	CreatedDatetime             Time           `json:"created_datetime"`
	OpenedDatetime              *Time          `json:"opened_datetime"`
	LastMessageDatetime         *Time          `json:"last_message_datetime"`
	LastReceivedMessageDatetime *Time          `json:"last_received_message_datetime"`
	UpdatedDatetime             Time           `json:"updated_datetime"`
	ClosedDatetime              *Time          `json:"closed_datetime"`
	SnoozeDatetime              *Time          `json:"snooze_datetime"`
	TrashedDatetime             *Time          `json:"trashed_datetime"`
}

// Message is a TicketMessage (§1.7).
type Message struct {
	ID                int64     `json:"id"`
	URI               string    `json:"uri"`
	TicketID          int64     `json:"ticket_id"`
	MessageID         OptString `json:"message_id"`
	ExternalID        OptString `json:"external_id"`
	Public            bool      `json:"public"`
	Channel           string    `json:"channel"`
	Via               string    `json:"via"`
	FromAgent         bool      `json:"from_agent"`
	Sender            *Person   `json:"sender"`
	Receiver          *Person   `json:"receiver"`
	Source            any       `json:"source"`
	Subject           string    `json:"subject"`
	BodyText          OptString `json:"body_text"`
	BodyHTML          OptString `json:"body_html"`
	StrippedText      OptString `json:"stripped_text"`
	StrippedHTML      OptString `json:"stripped_html"`
	StrippedSignature OptString `json:"stripped_signature"`
	Attachments       []any     `json:"attachments"`
	Actions           any       `json:"actions"`
	Headers           any       `json:"headers"`
	Meta              any       `json:"meta"`
	Macros            []any     `json:"macros"`
	Intents           []any     `json:"intents"`
	Sentiments        []any     `json:"sentiments"`
	IntegrationID     *int64    `json:"integration_id"`
	RuleID            *int64    `json:"rule_id"`
	IsRetriable       bool      `json:"is_retriable"`
	LastSendingError  any       `json:"last_sending_error"`
	CreatedDatetime   Time      `json:"created_datetime"`
	SentDatetime      *Time     `json:"sent_datetime"`
	FailedDatetime    *Time     `json:"failed_datetime"`
	OpenedDatetime    *Time     `json:"opened_datetime"`
}

// Integration is an HTTP integration (§1.9), Gorgias's kind of webhook.
type Integration struct {
	ID                  int64      `json:"id"`
	Name                string     `json:"name"`
	Type                string     `json:"type"`
	Description         OptString  `json:"description"`
	DeactivatedDatetime *Time      `json:"deactivated_datetime"`
	URI                 string     `json:"uri"`
	HTTP                HTTPConfig `json:"http"`
	CreatedDatetime     Time       `json:"created_datetime"`
	UpdatedDatetime     Time       `json:"updated_datetime"`
}

// Active reports whether the integration still fires.
func (in Integration) Active() bool { return in.DeactivatedDatetime == nil }

// HTTPConfig is what an HTTP integration sends. URL, Headers' values, Form's
// values and Body are templates (see the package doc).
type HTTPConfig struct {
	ID      int64             `json:"id"`
	URL     string            `json:"url"`
	Method  string            `json:"method"`
	Headers map[string]string `json:"headers"`
	// Form is the body as key → template (encoded as JSON or as a form
	// according to RequestContentType). Over the API it is "form": {...}.
	Form map[string]string `json:"-"`
	// Body is a raw body template, such as a whole JSON document with
	// placeholders (the UI's "Request body (JSON)"); it wins over Form.
	// Over the API it is "form": "<string>" (or "body": "<string>").
	Body                string          `json:"-"`
	RequestContentType  string          `json:"request_content_type"`
	ResponseContentType string          `json:"response_content_type"`
	Triggers            map[string]bool `json:"triggers"`
}

type httpConfigJSON struct {
	ID                  int64             `json:"id"`
	URL                 string            `json:"url"`
	Method              string            `json:"method"`
	Headers             map[string]string `json:"headers"`
	Form                any               `json:"form"`
	Body                *string           `json:"body,omitempty"`
	RequestContentType  string            `json:"request_content_type"`
	ResponseContentType string            `json:"response_content_type"`
	Triggers            map[string]bool   `json:"triggers"`
}

// MarshalJSON writes Form or Body as "form".
func (c HTTPConfig) MarshalJSON() ([]byte, error) {
	j := httpConfigJSON{ID: c.ID, URL: c.URL, Method: c.Method, Headers: c.Headers,
		RequestContentType: c.RequestContentType, ResponseContentType: c.ResponseContentType, Triggers: c.Triggers}
	switch {
	case c.Body != "":
		j.Form = c.Body
	case c.Form != nil:
		j.Form = c.Form
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads "form" as an object (Form) or a string (Body).
func (c *HTTPConfig) UnmarshalJSON(b []byte) error {
	var j httpConfigJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*c = HTTPConfig{ID: j.ID, URL: j.URL, Method: j.Method, Headers: j.Headers,
		RequestContentType: j.RequestContentType, ResponseContentType: j.ResponseContentType, Triggers: j.Triggers}
	switch f := j.Form.(type) {
	case nil:
	case string:
		c.Body = f
	case map[string]any:
		c.Form = map[string]string{}
		for k, v := range f {
			c.Form[k] = templateValue(v)
		}
	default:
		return fmt.Errorf("form: want an object or a string, got %T", j.Form)
	}
	if j.Body != nil {
		c.Body = *j.Body
	}
	return nil
}

// templateValue turns a form value decoded from JSON into its template text.
func templateValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Trigger names (§1.9). Underscored spellings are accepted everywhere.
const (
	TriggerTicketCreated           = "ticket-created"
	TriggerTicketUpdated           = "ticket-updated"
	TriggerTicketMessageCreated    = "ticket-message-created"
	TriggerTicketStatusUpdated     = "ticket-status-updated"
	TriggerTicketAssignmentUpdated = "ticket-assignment-updated"
)

func normalizeTrigger(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", "-"))
}

// Event is something that happened on a ticket; active integrations
// subscribed to its Type receive it.
type Event struct {
	ID         int64  `json:"id"`
	Type       string `json:"type"`
	ObjectType string `json:"object_type"`
	ObjectID   int64  `json:"object_id"`
	TicketID   int64  `json:"ticket_id"`
	UserID     *int64 `json:"user_id"`
	Context    string `json:"context"`
	Created    Time   `json:"created_datetime"`
}

// Delivery is one request the sandbox made to an integration's URL.
type Delivery struct {
	IntegrationID int64               `json:"integration_id"`
	EventID       int64               `json:"event_id"`
	EventType     string              `json:"event_type"`
	Attempt       int                 `json:"attempt"`    // 1 for the first try of this dispatch
	Redelivery    bool                `json:"redelivery"` // forced by Redeliver
	Method        string              `json:"method"`
	URL           string              `json:"url"`
	Header        map[string][]string `json:"header"`
	Body          string              `json:"body"`
	Status        int                 `json:"status"`      // 0 when no answer
	Error         string              `json:"error"`       // transport error, if any
	Time          time.Time           `json:"time"`        // from Options.Now
	Deactivated   bool                `json:"deactivated"` // this failure deactivated the integration
}

// OK reports whether the receiver accepted the delivery (2xx).
func (d Delivery) OK() bool { return d.Status >= 200 && d.Status < 300 }

// Request is one call the REST API received.
type Request struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query"`
	Body   string `json:"body"`
	Status int    `json:"status"` // 0: no answer (a reset, or a client that gave up during a delay)
	Email  string `json:"email"`  // the authenticated account, if any
}

// MacroAction is one action of a macro (§1.10): setResponseText
// {body_text, body_html}, setStatus {status}, addTags {tags: "a, b"}.
type MacroAction struct {
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
}

// Macro is a named list of actions an agent applies to a ticket.
type Macro struct {
	ID      int64         `json:"id"`
	Name    string        `json:"name"`
	Actions []MacroAction `json:"actions"`
}

// Sign-off macros configured by default.
const (
	MacroSignOff         = "Sign off"
	MacroSignOffAndClose = "Sign off and close"
	SignOffText          = "Thanks for chatting with us today! LIVECHAT_SESSION_END"
)

// DefaultMacros are the macros of a sandbox whose Options.Macros is nil.
func DefaultMacros() []Macro {
	return []Macro{
		{Name: MacroSignOff, Actions: []MacroAction{
			{Name: "setResponseText", Arguments: map[string]any{"body_text": SignOffText}},
		}},
		{Name: MacroSignOffAndClose, Actions: []MacroAction{
			{Name: "setResponseText", Arguments: map[string]any{"body_text": SignOffText}},
			{Name: "setStatus", Arguments: map[string]any{"status": "closed"}},
		}},
	}
}

// cloneJSON deep-copies a value decoded from JSON (maps, slices, scalars).
func cloneJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = cloneJSON(x)
		}
		return out
	case []any:
		if v == nil {
			return v
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = cloneJSON(x)
		}
		return out
	default:
		return v
	}
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return cloneJSON(m).(map[string]any)
}

func cloneSlice(s []any) []any {
	if s == nil {
		return nil
	}
	return cloneJSON(s).([]any)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
