package host

import (
	"encoding/json"
	"time"
)

// Direction is which way a message went, seen from the user.
type Direction string

const (
	DirectionIn  Direction = "in"  // from the user
	DirectionOut Direction = "out" // to the user
)

// Valid reports whether d is one of the known directions.
func (d Direction) Valid() bool { return d == DirectionIn || d == DirectionOut }

// Author is who wrote a message.
type Author string

const (
	AuthorUser   Author = "user"
	AuthorBot    Author = "bot"
	AuthorAgent  Author = "agent"
	AuthorSystem Author = "system" // the host's own messages (start, unavailable…)
)

// Valid reports whether a is one of the known authors.
func (a Author) Valid() bool {
	switch a {
	case AuthorUser, AuthorBot, AuthorAgent, AuthorSystem:
		return true
	}
	return false
}

// Message is one entry of a user's conversation with a bot, kept as the
// transcript for a later handoff and as the audit trail of sessions.
type Message struct {
	ID         string
	Bot        string
	UserID     string
	SessionID  string // empty for bot exchanges outside a session
	Direction  Direction
	Author     Author
	AuthorName string // the agent's display name, when known

	// Late marks an agent message that arrived after its session closed:
	// kept for the audit trail, never delivered, left out of transcripts.
	Late bool

	// Payload is the CSML payload object exactly as received or sent:
	// {"content_type": ..., "content": {...}}.
	Payload json.RawMessage

	CreatedAt time.Time
}

// Validate checks the fields a store relies on. It returns an *Error with
// code EINVALID and the offending field.
func (m *Message) Validate() error {
	switch {
	case m.ID == "":
		return &Error{Code: EINVALID, Field: "id", Message: "message id required"}
	case m.Bot == "":
		return &Error{Code: EINVALID, Field: "bot", Message: "bot required"}
	case m.UserID == "":
		return &Error{Code: EINVALID, Field: "user_id", Message: "user id required"}
	case !m.Direction.Valid():
		return &Error{Code: EINVALID, Field: "direction", Message: "unknown direction " + quote(string(m.Direction))}
	case !m.Author.Valid():
		return &Error{Code: EINVALID, Field: "author", Message: "unknown author " + quote(string(m.Author))}
	case !isJSONObject(m.Payload):
		return &Error{Code: EINVALID, Field: "payload", Message: "payload must be a JSON object"}
	}
	return nil
}

func isJSONObject(b json.RawMessage) bool {
	var v map[string]json.RawMessage
	return json.Unmarshal(b, &v) == nil && v != nil
}
