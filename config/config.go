// Package config loads livechatd's HCL configuration file (README.md, Configuration).
//
// Loading has two phases. Load parses and checks everything the host itself
// understands: listen address, storage, plugin pins, bots. Each bot's
// `config {}` block belongs to its provider, whose schema is known only once
// the plugin has been launched, so it is kept undecoded until the host calls
// Bot.DecodeConfig with that schema.
//
// The `retention {}` block bounds what the store keeps (see Retention):
// every key is optional and defaults to DefaultRetention's value. Durations,
// there and in bots, are Go durations ("90s", "30m", "36h") or whole days
// ("7d", "1d12h").
//
// Every problem is an hcl.Diagnostic with a position; Format prints them as
// `file:line:col: message`, one a line, and Load reports all of them at once.
// Expressions may call env("NAME") or env("NAME", "default"). Secrets are
// held in Secret values, which never print their content.
package config

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Defaults for what the file leaves out. Relative paths are relative to the
// configuration file's directory.
const (
	DefaultListen         = "127.0.0.1:8080"
	DefaultPluginDir      = "./bin/plugins"
	DefaultLogLevel       = "info"
	DefaultSQLitePath     = "./data/livechat.db"
	DefaultSessionTimeout = 30 * time.Minute
	DefaultStartTimeout   = 2 * time.Minute
	DefaultTranscriptSize = 20

	// MaxSessionTimeout bounds session_timeout: a week without a word is
	// no longer a conversation.
	MaxSessionTimeout = 168 * time.Hour
	// MaxTranscriptSize bounds transcript_size, which the host keeps per user.
	MaxTranscriptSize = 1000
	// MaxEventTolerance bounds event_tolerance: a captured signed event can
	// be replayed for that long.
	MaxEventTolerance = time.Hour

	// MaxRetention bounds the ages of the retention block: ten years.
	MaxRetention = 3650 * 24 * time.Hour
	// MinRetentionInterval and MaxRetentionInterval bound retention's
	// interval: a pass costs at least a few queries, and a day between
	// passes lets a busy day's rows pile up.
	MinRetentionInterval = time.Second
	MaxRetentionInterval = 24 * time.Hour
	// MaxRetentionBatch bounds retention's batch: one batch is one write
	// transaction, which every other write waits behind.
	MaxRetentionBatch = 10000
)

// Storage drivers, the label of a storage block.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// SQLite synchronous modes: "normal" survives a crash of the process, "full"
// a power loss too.
const (
	SyncNormal = "normal"
	SyncFull   = "full"
)

// ChannelWebchat is the value of `channel` selecting the built-in webchat.
const ChannelWebchat = "webchat"

// File is a loaded and checked configuration file.
type File struct {
	// Filename is the path the file was loaded from, as given; diagnostics
	// name it.
	Filename string
	// Listen is the host:port the HTTP server listens on.
	Listen string
	// PublicURL is the base URL the platforms reach the host at, without a
	// trailing slash; webhook URLs are printed from it.
	PublicURL string
	// PluginDir is where provider binaries are loaded from.
	PluginDir string
	// LogLevel is one of trace, debug, info, warn, error.
	LogLevel string
	// AdminToken guards the admin API; empty when not set.
	AdminToken Secret
	// RequireChecksums makes sha256 pins mandatory for every plugin.
	RequireChecksums bool
	Storage          Storage
	// Plugins are the sha256 pins, in file order.
	Plugins []Plugin
	// Bots in file order; names are unique.
	Bots []Bot
	// Retention is the retention block, or DefaultRetention.
	Retention Retention
	// Limits is the limits block, or DefaultLimits.
	Limits Limits
}

// Retention is the `retention {}` block: how long the host keeps what it no
// longer needs, and how it deletes it. Each age is counted from when a row
// was last needed: an outbox item's from when it was done or given up, a
// session's messages from when it closed, anything else from when it was
// written. Pending work and the messages of open sessions are never deleted.
type Retention struct {
	// DoneWork (done_work) is how long completed outbox items are kept.
	// Their payloads hold whole transcripts; their keys make a repeated
	// enqueue of the same work a no-op while they are kept.
	DoneWork time.Duration
	// DeadLetters (dead_letters) is how long outbox items given up on stay
	// visible in GET /v1/deadletters.
	DeadLetters time.Duration
	// ProcessedEvents (processed_events) is how long the ids of provider
	// webhook events are remembered: a replay older than this is handled
	// again.
	ProcessedEvents time.Duration
	// Requests (requests) is how long the answer to a channel request_id is
	// kept: a retry older than this is handled as a new request.
	Requests time.Duration
	// Transcripts (transcripts) is how long messages are kept: those of a
	// session once it has been closed for this long, and those outside
	// sessions once they are this old. Handoffs carry fewer old messages
	// once they are gone.
	Transcripts time.Duration
	// WebchatStreams (webchat_streams) is how long webchat stream entries
	// are kept: a reload replays at most this much of a user's chat.
	WebchatStreams time.Duration
	// Uploads (uploads) is how long files uploaded through the webchat
	// are kept, from when they were uploaded; each replica deletes those
	// in its own upload directory.
	Uploads time.Duration
	// Interval (interval) is the time between two passes of the job.
	Interval time.Duration
	// Batch (batch) is the most rows one DELETE removes: each batch is its
	// own short write transaction, so the hot path never waits long.
	Batch int
	// DeclRange is the block's header; zero when the file has none.
	DeclRange hcl.Range
}

// DefaultRetention is the Retention of a file without a retention block,
// and the value of each key the block leaves out.
var DefaultRetention = Retention{
	DoneWork:        7 * 24 * time.Hour,
	DeadLetters:     30 * 24 * time.Hour,
	ProcessedEvents: 30 * 24 * time.Hour,
	Requests:        7 * 24 * time.Hour,
	Transcripts:     90 * 24 * time.Hour,
	WebchatStreams:  30 * 24 * time.Hour,
	Uploads:         90 * 24 * time.Hour, // as long as transcripts: an upload is part of one
	Interval:        time.Minute,
	// 100 rows hold the writer about 7 ms on an outbox of 200k items, 500
	// about 45 ms (BenchmarkRetentionBatch in host/sqlite): the batch is
	// small so that a request never waits long behind it.
	Batch: 100,
}

// Bot returns the bot called name.
func (f *File) Bot(name string) (*Bot, bool) {
	for i := range f.Bots {
		if f.Bots[i].Name == name {
			return &f.Bots[i], true
		}
	}
	return nil, false
}

// Plugin returns the pin of the plugin called name.
func (f *File) Plugin(name string) (Plugin, bool) {
	for _, p := range f.Plugins {
		if p.Name == name {
			return p, true
		}
	}
	return Plugin{}, false
}

// Storage is where the host keeps its state: the storage block, or SQLite at
// DefaultSQLitePath when there is none.
type Storage struct {
	// Driver is SQLite or Postgres.
	Driver string
	// Path is the SQLite database file.
	Path string
	// Synchronous is SyncNormal or SyncFull (SQLite).
	Synchronous string
	// DSN is the PostgreSQL connection string; it usually holds a password.
	DSN Secret
	// Replica names this process among the replicas on one PostgreSQL
	// database: the outbox claims it leaves when it dies are handed back
	// when a process of the same name starts. Stable across restarts,
	// unique among replicas; empty means DefaultReplica (PostgreSQL).
	Replica string
	// MaxConns is the PostgreSQL connection pool's size; 0 is the
	// store's default (16).
	MaxConns int
	// DeclRange is the block's header; zero for the default storage.
	DeclRange hcl.Range
}

// Plugin is a `plugin "NAME" { sha256 = "..." }` pin.
type Plugin struct {
	Name string
	// SHA256 is the binary's expected checksum: 64 lowercase hex characters.
	SHA256    string
	DeclRange hcl.Range
}

// ExpiredNotice says when the bot hears that a session expired.
type ExpiredNotice string

const (
	// ExpiredImmediate sends LIVECHAT_SESSION_EXPIRED at expiry and delivers
	// the bot's reply through the channel.
	ExpiredImmediate ExpiredNotice = "immediate"
	// ExpiredNextMessage sends it just before the user's next event.
	ExpiredNextMessage ExpiredNotice = "next_message"
)

// Bot is one `bot "NAME" {}` block.
type Bot struct {
	// Name is unique and URL-safe: [a-z0-9_-]+.
	Name string
	// Provider names the plugin serving this bot (livechat-provider-<name>).
	Provider       string
	SessionTimeout time.Duration
	StartTimeout   time.Duration
	ExpiredNotice  ExpiredNotice
	// TranscriptSize is how many of the last exchanges are kept for a
	// handoff.
	TranscriptSize int
	// BotURL is where channel events are forwarded when no session is open.
	BotURL string
	// ChannelURL is where messages are delivered; empty when Channel is set.
	ChannelURL string
	// Channel is ChannelWebchat, or empty when ChannelURL is set.
	Channel string
	// ChannelSecret signs deliveries to ChannelURL and the channel's events
	// (X-Livechat-Signature), and webchat identities. A ChannelURL bot has
	// one unless InsecureEvents.
	ChannelSecret Secret
	// InsecureEvents (insecure_events) takes a ChannelURL bot's events
	// without a signature: anyone who reaches the listener can act as any
	// of its users. serve logs it at start.
	InsecureEvents bool
	// EventTolerance (event_tolerance) is how far a signed event's
	// timestamp may be from the host's clock, either way; 0 is the
	// default, 5 minutes. At most MaxEventTolerance.
	EventTolerance time.Duration
	// WebhookToken must accompany the provider's webhooks; never empty.
	WebhookToken Secret
	Messages     Messages
	// Reconcile is the bot's reconcile block, or DefaultReconcile.
	Reconcile Reconcile
	// Waiting is the bot's waiting block, or DefaultWaiting.
	Waiting Waiting
	// Hours is the bot's hours block; nil when it is always open.
	Hours *Hours
	// CSAT is the bot's csat block; nil when no rating is asked.
	CSAT *CSAT
	// Webchat is the bot's webchat block: how its chat and widget look.
	// Zero without one; only a bot on channel = "webchat" may have one.
	Webchat Webchat
	// DeclRange is the block's header, `bot "NAME" {`.
	DeclRange hcl.Range

	// src is behind a pointer so that printing a Bot shows an address, not
	// the provider block's expressions, which may hold secrets.
	src *botSource
}

// Reconcile is how a bot's sessions are read back from the platform, to
// catch up on webhooks it did not deliver (the bot's reconcile block). It
// applies when the bot's plugin can read sessions back (the read_session
// capability).
type Reconcile struct {
	// Enabled turns reading back on (the default) or off.
	Enabled bool
	// Interval is how long an active session goes without being read
	// back; sessions are also read at once after livechatd or the plugin
	// restarts.
	Interval time.Duration
	// RateLimitCalls per RateLimitPer is the platform's API limit for the
	// bot's account (rate_limit = "40/20s"); zero takes the plugin's own.
	// Reads use at most half of it, after the calls made for sends.
	RateLimitCalls int
	RateLimitPer   time.Duration
}

// DefaultReconcile is the Reconcile of a bot without a reconcile block.
var DefaultReconcile = Reconcile{Enabled: true, Interval: 30 * time.Second}

// Bounds of reconcile's interval.
const (
	MinReconcileInterval = time.Second
	MaxReconcileInterval = 24 * time.Hour
)

// Messages are the texts the host itself says to the user.
type Messages struct {
	// Start is sent when a session starts.
	Start string
	// EndPrompt is the sign-off question when the agent's message has no
	// text besides LIVECHAT_SESSION_END.
	EndPrompt string
	// EndButton is the title of the sign-off button.
	EndButton string
	// Unavailable is sent when the platform cannot be reached.
	Unavailable string
	// The texts of issue 17 (docs/handoff.md). Closed is said at a START
	// outside hours; Offline instead when hours.offline_ticket is set
	// ({opens}: when the bot opens again). AgentJoined ({agent}),
	// QueuePosition ({position}) and ExpectedWait ({wait}) come with the
	// livechat events of the same names; Ended, when set (the default is
	// none), when an agent, an admin or the expiry ends the session.
	Closed        string
	Offline       string
	AgentJoined   string
	QueuePosition string
	ExpectedWait  string
	Ended         string
}

// DefaultMessages are the Messages of a bot without a messages block.
var DefaultMessages = Messages{
	Start:       "Connecting you to an agent…",
	EndPrompt:   "Thanks for chatting with us today! You can exit the livechat session by clicking the button below:",
	EndButton:   "Quit livechat",
	Unavailable: "No agent is available right now.",

	Closed:        handoffMessageDefaults["closed"],
	Offline:       handoffMessageDefaults["offline"],
	AgentJoined:   handoffMessageDefaults["agent_joined"],
	QueuePosition: handoffMessageDefaults["queue_position"],
	ExpectedWait:  handoffMessageDefaults["expected_wait"],
	Ended:         handoffMessageDefaults["ended"],
}

// Option changes how a file is loaded.
type Option func(*options)

type options struct {
	lookupEnv func(string) (string, bool)
}

// WithLookupEnv makes env() read variables through lookup instead of
// os.LookupEnv; tests use it to stay independent of the process environment.
func WithLookupEnv(lookup func(name string) (string, bool)) Option {
	return func(o *options) { o.lookupEnv = lookup }
}

// Load reads and checks the configuration file at path. A bad file yields an
// *Error holding every problem found; relative paths in the file are joined
// to the file's directory.
func Load(path string, opts ...Option) (*File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src, opts...)
}

// Parse checks src as the configuration file called filename: the name
// diagnostics show, and whose directory relative paths are joined to.
func Parse(filename string, src []byte, opts ...Option) (*File, error) {
	o := options{lookupEnv: os.LookupEnv}
	for _, opt := range opts {
		opt(&o)
	}
	f, diags := decodeFile(filename, src, o)
	if diags.HasErrors() {
		return nil, &Error{Diagnostics: diags}
	}
	return f, nil
}

// Secret is a configuration value that must not leak: it prints, formats,
// logs and marshals as "(sensitive)". Value returns the real thing.
type Secret struct {
	value string
	// origin is where in the file the value comes from (SecretAttr
	// without the value); nil for a secret made by NewSecret.
	origin *SecretAttr
}

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{value: s} }

const redacted = "(sensitive)"

// Value returns the secret itself.
func (s Secret) Value() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

// String returns "(sensitive)".
func (s Secret) String() string { return redacted }

// GoString returns "(sensitive)".
func (s Secret) GoString() string { return redacted }

// Format prints "(sensitive)" whatever the verb, so that not even %d or %x
// reach the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON returns "(sensitive)" as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "(sensitive)".
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue returns "(sensitive)" for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
