package host

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Store is the durable state of the host: sessions, the transcript, the
// outbox and the deduplication records. host/sqlite implements it for one
// machine; host/postgres serves several replicas on one database
// (docs/replicas.md).
//
// Errors are *Error values where the caller can act on them (ENOTFOUND,
// ECONFLICT, EINVALID, EUNAVAILABLE); anything else is internal. Wherever a
// method takes a limit, ClampLimit applies. Times are kept to the
// millisecond.
type Store interface {
	// Tx runs fn in one write transaction: everything fn does commits
	// together or not at all, so a state change and the outbox items it
	// causes are never separated. fn's error is returned as is, after the
	// rollback. When the commit stored a new outbox item, Wake fires.
	//
	// fn must use only the Tx it is given for writes: calling Tx or an
	// Outbox method of the same Store from inside fn may wait for the
	// write transaction that fn itself holds.
	//
	// fn may run more than once: on PostgreSQL, a transaction that the
	// server rolls back as a deadlock victim (or for a serialization
	// failure) is run again, nothing of the earlier run committed. So fn
	// must have no effects outside the Tx — no metrics, logs of what was
	// done, channel sends or calls out — and must reset whatever it
	// collects for after the commit at its start.
	Tx(ctx context.Context, fn func(Tx) error) error

	// Session returns the session with id, or ENOTFOUND.
	Session(ctx context.Context, id string) (*Session, error)
	// OpenSession returns the open (starting or active) session of user
	// with bot, or ENOTFOUND.
	OpenSession(ctx context.Context, bot, userID string) (*Session, error)
	// FindSessionByRef returns the most recent session of bot whose
	// ProviderRef is ref, open or not, or ENOTFOUND.
	FindSessionByRef(ctx context.Context, bot, ref string) (*Session, error)
	// ListSessions returns sessions newest first, filtered and paginated
	// by f.
	ListSessions(ctx context.Context, f SessionFilter) ([]*Session, error)
	// Messages returns the messages of a session, oldest first.
	Messages(ctx context.Context, sessionID string) ([]*Message, error)
	// Transcript returns the last limit messages between user and bot,
	// in or out of sessions, oldest first.
	Transcript(ctx context.Context, bot, userID string, limit int) ([]*Message, error)
	// Glance is what the engine must know of a user before it handles the
	// user's event, in one read: the record of requestID ("" for none),
	// whether an expiry notice is pending, and the open session's ID.
	// The engine reads further only where the glance finds something.
	Glance(ctx context.Context, bot, userID, requestID string) (Glance, error)
	// RecalledRequest is Tx.RecalledRequest outside a transaction.
	RecalledRequest(ctx context.Context, bot, userID, id string) (*Request, error)
	// PendingNotice is Tx.PendingNotice outside a transaction: read again
	// under the user's lock once Glance saw a notice pending.
	PendingNotice(ctx context.Context, bot, userID string) (*Session, error)
	// DueExpiries returns up to limit open sessions whose ExpiresAt is at
	// or before now, the earliest first. It is an indexed query: there
	// are no per-session timers.
	DueExpiries(ctx context.Context, now time.Time, limit int) ([]*Session, error)
	// DueSyncs returns up to limit active sessions of bot with a provider
	// reference whose SyncedAt is at or before before, the least recently read
	// first: the sessions to read back from the platform next. An indexed
	// query, like DueExpiries.
	DueSyncs(ctx context.Context, bot string, before time.Time, limit int) ([]*Session, error)
	// PluginState returns the value stored at k, or ENOTFOUND.
	PluginState(ctx context.Context, k PluginStateKey) ([]byte, error)

	// Record stores what the bot path keeps of an event the bot answered
	// outside a session — its transcript messages and, for an event with
	// a request_id, the answer given — durably, like a Tx, but batched
	// with the records of concurrent events into a few multi-row
	// statements and their commit: the bot path's one write. It returns
	// false and writes nothing when x.Request was recorded already (an
	// earlier run of the request answered it; RecalledRequest has that
	// answer). Messages are validated and filled as Tx.AppendMessage
	// fills them; a message whose ID exists is kept as it was, so that
	// the derived ids of a repeated request never fail it.
	Record(ctx context.Context, x *Record) (bool, error)

	Outbox
	OutcomeStore

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Close releases the store. Pending work stays stored.
	Close() error
}

// Tx is one write transaction of a Store. Its methods use the context given
// to Store.Tx. A method that returns an *Error leaves the transaction
// usable: fn may, say, meet ECONFLICT from CreateSession, read the open
// session and go on.
type Tx interface {
	// CreateSession stores a new session. It fills an empty ID (NewID), an
	// empty State (starting), an empty ExpiredNotice (immediate), and sets
	// CreatedAt and UpdatedAt. It returns ECONFLICT when the user already
	// has an open session with the bot; the store enforces this with a
	// uniqueness constraint, so it holds under concurrent requests.
	CreateSession(s *Session) error
	// UpdateSession stores every mutable field of s (all but ID, Bot,
	// UserID, Provider and CreatedAt) and sets UpdatedAt, and EndedAt when
	// s is closed and EndedAt is zero. A closed session cannot change
	// state again (ECONFLICT); opening one while the user has another
	// open session is ECONFLICT too. ENOTFOUND when s.ID is unknown.
	UpdateSession(s *Session) error
	// OpenSession is Store.OpenSession inside the transaction.
	OpenSession(bot, userID string) (*Session, error)
	// Session is Store.Session inside the transaction.
	Session(id string) (*Session, error)
	// PendingNotice returns the most recent session of user with bot whose
	// NoticePending is set (an expiry the bot must hear about before the
	// user's next event), or ENOTFOUND.
	PendingNotice(bot, userID string) (*Session, error)

	// AppendMessage stores m, filling an empty ID (NewID) and a zero
	// CreatedAt. A SessionID must name a stored session.
	AppendMessage(m *Message) error

	// Enqueue stores a pending outbox item, filling ID, State, Attempts,
	// CreatedAt, UpdatedAt, and NextAttemptAt when zero (due now). When an
	// item with the same Key exists (even done or dead), Enqueue stores
	// nothing, sets *o to the stored item — so o.ID is the existing ID —
	// and returns nil.
	Enqueue(o *OutboxItem) error

	// MarkProcessed records that the event eventID of scope (say,
	// "webhook:gorgias/shop") has been handled. first is true only the
	// first time a (scope, eventID) pair is recorded.
	MarkProcessed(scope, eventID string) (first bool, err error)

	// RememberRequest records the answer given to a request, so that a
	// retry of the request gets the same answer. The first record of a
	// (bot, user, request id) wins: a second one stores nothing.
	RememberRequest(r *Request) error
	// RecalledRequest returns the record of request id of user with bot, or
	// ENOTFOUND.
	RecalledRequest(bot, userID, id string) (*Request, error)

	// SetPluginState stores value at k, replacing what was there. k must be
	// valid (PluginStateKey.Validate) and name a stored session of k.Bot
	// and k.Provider (else ENOTFOUND); value is at most
	// MaxPluginStateValue bytes, and the session's keys and values of
	// k.Provider at most MaxPluginStateSession bytes in all (else
	// EINVALID naming the field).
	SetPluginState(k PluginStateKey, value []byte) error
	// DeletePluginState removes the value at k; removing none is no error.
	DeletePluginState(k PluginStateKey) error

	OutcomeTx
}

// PluginStateKey names one value of a provider plugin's state (sdk.StateStore):
// small values a plugin keeps with the host, per session, durably, such as
// what a retried call already did on a platform without idempotency keys.
// Provider is set by the host, never by the plugin, so a plugin sees only
// its own state. The state of a session goes with its transcript (the
// retention job's transcripts rule).
type PluginStateKey struct {
	Provider  string
	Bot       string
	SessionID string
	Key       string
}

// Bounds of plugin state: it is for small records, not for content.
const (
	MaxPluginStateKey     = 256       // bytes of a key
	MaxPluginStateValue   = 16 << 10  // bytes of a value
	MaxPluginStateSession = 256 << 10 // bytes of the keys and values of one session of one provider
)

// Validate checks k's fields: EINVALID naming the first one that is empty
// or, for Key, longer than MaxPluginStateKey bytes or not UTF-8.
func (k PluginStateKey) Validate() error {
	for _, f := range []struct{ name, v string }{{"provider", k.Provider}, {"bot_id", k.Bot}, {"session_id", k.SessionID}, {"key", k.Key}} {
		if f.v == "" {
			return &Error{Code: EINVALID, Field: f.name, Message: "plugin state needs a " + f.name}
		}
	}
	if len(k.Key) > MaxPluginStateKey {
		return &Error{Code: EINVALID, Field: "key", Message: fmt.Sprintf("a plugin state key is at most %d bytes, this one is %d", MaxPluginStateKey, len(k.Key))}
	}
	if !utf8.ValidString(k.Key) {
		return &Error{Code: EINVALID, Field: "key", Message: "a plugin state key must be UTF-8"}
	}
	return nil
}

// Glance is Store.Glance's answer.
type Glance struct {
	Request       *Request // the request's record; nil when unknown or not asked
	NoticePending bool     // a session of the user has NoticePending set
	OpenSession   string   // the ID of the user's open session, or ""
}

// Record is the bot path's write: the messages of one exchange with the
// bot, and the request's record when the event had a request_id.
type Record struct {
	Messages []*Message
	Request  *Request // nil without a request_id
}

// Request is the record of a channel event that carried a request_id: its
// id is scoped to (Bot, UserID) and bound to the body that first used it.
type Request struct {
	Bot      string
	UserID   string
	ID       string
	BodyHash string          // hex SHA-256 of the event as received
	Response json.RawMessage // the answer given
}

// Outbox is what the outbox worker needs from the store.
//
// Claiming is per queue: only the head of a queue (its lowest-ID pending
// item) can be claimed, and only once its NextAttemptAt has come. A claimed
// item carries a lease and a claim token (OutboxItem.Claim); until the
// worker calls Complete, Retry, Dead or Release, or the lease runs out, it is
// not handed out again — so a crash mid-work only delays the item. Those
// four calls act only with the item's current token: a worker whose lease
// ran out and whose item was claimed again gets ECONFLICT and changes
// nothing. A slow worker may still see its item done twice (hence the
// idempotency keys).
type Outbox interface {
	// ClaimDue claims up to limit due queue heads, the earliest due first,
	// leasing each from now. Items of different queues can be worked on in
	// parallel.
	ClaimDue(ctx context.Context, now time.Time, limit int) ([]*OutboxItem, error)
	// Complete marks a claimed item done, which makes the next item of its
	// queue the head. Completing a done item again with the same claim is
	// a no-op.
	Complete(ctx context.Context, it *OutboxItem) error
	// Retry records a failed attempt: Attempts+1, LastError, and the item
	// is released until nextAttemptAt. It keeps its place at the head of
	// its queue. ECONFLICT when the item is no longer pending or claimed by
	// it.Claim.
	Retry(ctx context.Context, it *OutboxItem, nextAttemptAt time.Time, lastErr string) error
	// Dead records a last failed attempt and gives up on the item, which
	// unblocks its queue. ECONFLICT as for Retry.
	Dead(ctx context.Context, it *OutboxItem, lastErr string) error
	// Release hands a claimed item back without counting an attempt: it
	// becomes claimable at at. For work that did not run (shutdown, a
	// plugin that is down). ECONFLICT as for Retry.
	Release(ctx context.Context, it *OutboxItem, at time.Time) error
	// Pending reports whether queue has pending items.
	Pending(ctx context.Context, queue string) (bool, error)
	// NextDue returns when the earliest queue head becomes claimable
	// (possibly in the past); ok is false when nothing is pending. The
	// worker sleeps until then or until Wake fires.
	NextDue(ctx context.Context) (at time.Time, ok bool, err error)
	// Wake returns a channel that receives a value after a commit stored a
	// new outbox item. Signals coalesce: at most one is buffered, and each
	// is received once, so one dispatcher should wait on it. Complete,
	// Retry and Dead do not signal: their caller claims again before it
	// sleeps.
	Wake() <-chan struct{}
	// ReleaseClaims makes the claimed items of this worker claimable again
	// at once; the host calls it when it starts, as claims left by a
	// crashed run would otherwise hold their items until the leases ran
	// out. On SQLite (one process) that is every claim; on PostgreSQL only
	// those of this replica (its name, postgres.Options.Replica), never
	// another live replica's.
	ReleaseClaims(ctx context.Context) error

	// DeadLetters returns up to limit dead items, the most recent first.
	DeadLetters(ctx context.Context, limit int) ([]*OutboxItem, error)
	// OutboxStats counts items by state.
	OutboxStats(ctx context.Context) (OutboxStats, error)
}

// SessionFilter selects sessions for ListSessions. Empty fields match all.
type SessionFilter struct {
	Bot    string
	UserID string
	State  SessionState

	// Limit is the page size, see ClampLimit.
	Limit int
	// Before is a cursor: the ID of the last session of the previous page.
	// The page holds the sessions that come after it, newest first.
	Before string
}

// Limits of the methods that return lists.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ClampLimit returns the number of rows a limit asks for: DefaultLimit for 0
// or less, at most MaxLimit.
func ClampLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultLimit
	case limit > MaxLimit:
		return MaxLimit
	}
	return limit
}

// Outcomes (issue 17): what the host keeps of every handoff for its
// waiting feedback and its outcome metrics. A store implements them with
// OutcomeStore; the engine's Store must.

// OutcomeStore keeps one Outcome per session. Outcomes are not part of a
// session's transcript: retention leaves them, so the figures of
// GET /v1/stats cover any range.
type OutcomeStore interface {
	// DueWaits returns up to limit outcomes whose WaitDueAt is at or
	// before now, the earliest first: the sessions whose waiting feedback
	// (a "still waiting" message, or the end at max_wait) is due. An
	// indexed query, like DueExpiries: there are no per-session timers.
	DueWaits(ctx context.Context, now time.Time, limit int) ([]*Outcome, error)
	// OutcomeStats aggregates the outcomes of the sessions started in
	// [f.From, f.To), of f.Bot when set.
	OutcomeStats(ctx context.Context, f OutcomeFilter) (*OutcomeStats, error)
}

// OutcomeTx is OutcomeStore's part of a transaction.
type OutcomeTx interface {
	// Outcome returns the outcome of session id, or ENOTFOUND.
	Outcome(sessionID string) (*Outcome, error)
	// PutOutcome stores o, replacing the session's outcome if there is
	// one. SessionID, Bot, Provider and StartedAt are required (EINVALID
	// naming the field).
	PutOutcome(o *Outcome) error
}

// Outcome is one handoff's outcome. The times are kept to the millisecond.
type Outcome struct {
	SessionID string
	Bot       string
	Provider  string
	StartedAt time.Time
	// FirstAgentAt is when an agent first wrote; zero until then.
	FirstAgentAt time.Time
	// EndedAt and EndReason are zero while the session is open. EndReason
	// is finer than the session's: user, agent, expired, max_wait, admin,
	// failed, closed_hours.
	EndedAt   time.Time
	EndReason string
	// CSATScore is the user's rating, 1 to CSATScale; 0 when none.
	CSATScore int
	CSATScale int
	// WaitDueAt is when the session's waiting feedback is next due; zero
	// when none is (an agent joined or wrote, the session ended, or the
	// bot has no waiting block). WaitNotices counts the "still waiting"
	// messages sent.
	WaitDueAt   time.Time
	WaitNotices int
}

// Validate checks the fields a store relies on.
func (o *Outcome) Validate() error {
	for _, f := range []struct{ name, v string }{{"session_id", o.SessionID}, {"bot", o.Bot}, {"provider", o.Provider}} {
		if f.v == "" {
			return &Error{Code: EINVALID, Field: f.name, Message: "an outcome needs a " + f.name}
		}
	}
	if o.StartedAt.IsZero() {
		return &Error{Code: EINVALID, Field: "started_at", Message: "an outcome needs a start time"}
	}
	if o.CSATScore < 0 || o.CSATScore > o.CSATScale {
		return &Error{Code: EINVALID, Field: "csat_score", Message: fmt.Sprintf("csat score %d is not within 1..%d", o.CSATScore, o.CSATScale)}
	}
	return nil
}

// OutcomeFilter selects outcomes for OutcomeStats.
type OutcomeFilter struct {
	Bot      string // "" for every bot
	From, To time.Time
	// Buckets are the upper bounds of the duration histograms, ascending.
	Buckets []time.Duration
}

// OutcomeStats are the figures of a set of outcomes.
type OutcomeStats struct {
	// Sessions counts the handoffs asked for, Open those still open.
	Sessions int
	Open     int
	// EndReasons counts the closed ones by Outcome.EndReason.
	EndReasons map[string]int
	// FirstAgent is the time from start to the first agent message, over
	// the sessions an agent answered; Length is start to end, over the
	// closed sessions.
	FirstAgent DurationStats
	Length     DurationStats
	// CSAT counts ratings by score.
	CSAT map[int]int
}

// DurationStats is a histogram of durations.
type DurationStats struct {
	Count int
	Sum   time.Duration
	Max   time.Duration
	// Buckets[i] counts the durations at most OutcomeFilter.Buckets[i]
	// (cumulative, as Prometheus' buckets).
	Buckets []int
}
