package host

import "time"

// SessionState is where a livechat session is in its lifecycle (docs/lifecycle.md).
type SessionState string

const (
	SessionStarting SessionState = "starting" // created; the provider is opening the ticket
	SessionActive   SessionState = "active"   // the provider has the ticket; messages flow
	SessionEnded    SessionState = "ended"    // closed by the user, an agent or an admin
	SessionExpired  SessionState = "expired"  // no message either way for session_timeout
	SessionFailed   SessionState = "failed"   // the provider could not be reached in time
)

// IsOpen reports whether the state is starting or active. At most one open
// session exists per (bot, user).
func (s SessionState) IsOpen() bool {
	return s == SessionStarting || s == SessionActive
}

// Valid reports whether s is one of the known states.
func (s SessionState) Valid() bool {
	switch s {
	case SessionStarting, SessionActive, SessionEnded, SessionExpired, SessionFailed:
		return true
	}
	return false
}

// EndReason says why a session closed. It is empty while the session is open.
type EndReason string

const (
	EndUser    EndReason = "user"    // the user sent LIVECHAT_SESSION_END
	EndAgent   EndReason = "agent"   // the agent closed the ticket on the platform
	EndExpired EndReason = "expired" // session_timeout elapsed
	EndAdmin   EndReason = "admin"   // ended through the admin API
	EndFailed  EndReason = "failed"  // the start never succeeded
	// EndMaxWait: no agent wrote within the bot's waiting.max_wait.
	EndMaxWait EndReason = "max_wait"
	// EndClosedHours: a START outside the bot's hours opened an offline
	// ticket; the session was never live.
	EndClosedHours EndReason = "closed_hours"
)

// Valid reports whether r is one of the known reasons (not the empty one).
func (r EndReason) Valid() bool {
	switch r {
	case EndUser, EndAgent, EndExpired, EndAdmin, EndFailed, EndMaxWait, EndClosedHours:
		return true
	}
	return false
}

// ExpiredNotice is when the bot hears that a session expired.
type ExpiredNotice string

const (
	// ExpiredNoticeImmediate sends LIVECHAT_SESSION_EXPIRED to the bot at
	// expiry and delivers its reply through the channel.
	ExpiredNoticeImmediate ExpiredNotice = "immediate"
	// ExpiredNoticeNextMessage sends it just before the user's next event.
	ExpiredNoticeNextMessage ExpiredNotice = "next_message"
)

// Valid reports whether n is one of the known modes.
func (n ExpiredNotice) Valid() bool {
	return n == ExpiredNoticeImmediate || n == ExpiredNoticeNextMessage
}

// Session is one livechat handoff of one user of one bot to a provider.
type Session struct {
	ID          string
	Bot         string
	UserID      string
	ChannelID   string
	Provider    string // the plugin name, e.g. "gorgias"
	ProviderRef string // the platform's reference (ticket id); empty until started

	State     SessionState
	EndReason EndReason // empty while open

	// Metadata is the user's metadata from the channel event (name, email,
	// anything else), handed to the provider as customer data.
	Metadata map[string]any

	// ExpiredNotice is the bot's mode when the session was created;
	// NoticePending is set when the session expired in next_message mode and
	// the bot has not been told yet.
	ExpiredNotice ExpiredNotice
	NoticePending bool

	// SyncCursor is the provider's cursor of the last time the host read
	// the session's platform side back (reconciliation), and SyncedAt when
	// that was; zero when never.
	SyncCursor string
	SyncedAt   time.Time

	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time // open sessions past this are due for expiry
	EndedAt   time.Time // zero while open
}

// Validate checks the fields a store relies on. It returns an *Error with
// code EINVALID and the offending field.
func (s *Session) Validate() error {
	switch {
	case s.ID == "":
		return &Error{Code: EINVALID, Field: "id", Message: "session id required"}
	case s.Bot == "":
		return &Error{Code: EINVALID, Field: "bot", Message: "bot required"}
	case s.UserID == "":
		return &Error{Code: EINVALID, Field: "user_id", Message: "user id required"}
	case s.Provider == "":
		return &Error{Code: EINVALID, Field: "provider", Message: "provider required"}
	case !s.State.Valid():
		return &Error{Code: EINVALID, Field: "state", Message: "unknown session state " + quote(string(s.State))}
	case s.State.IsOpen() && s.EndReason != "":
		return &Error{Code: EINVALID, Field: "end_reason", Message: "an open session has no end reason"}
	case !s.State.IsOpen() && !s.EndReason.Valid():
		return &Error{Code: EINVALID, Field: "end_reason", Message: "unknown end reason " + quote(string(s.EndReason))}
	case !s.ExpiredNotice.Valid():
		return &Error{Code: EINVALID, Field: "expired_notice", Message: "unknown expired notice " + quote(string(s.ExpiredNotice))}
	case s.State.IsOpen() && s.ExpiresAt.IsZero():
		// An open session that never expires would break the product's
		// promise that the bot always takes over again.
		return &Error{Code: EINVALID, Field: "expires_at", Message: "an open session needs an expiry time"}
	}
	return nil
}

func quote(s string) string { return `"` + s + `"` }
