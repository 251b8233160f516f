// Package chatwoot is the livechatd provider for Chatwoot, the open-source
// support platform. It is built only on the public SDK: a livechat session
// is a conversation in an API-channel inbox (the only kind of inbox where a
// client may post messages as the contact), user messages are posted as
// incoming messages, and agents' replies come back through Chatwoot's
// account webhook (message_created, conversation_status_changed) and, since
// Chatwoot never retries a webhook, through ReadSession, which reads the
// conversation back for the host.
//
// The conversation carries the livechat session id in its custom
// attributes, so a webhook names its session without any state in the
// plugin; every write is keyed so that a retried call finds what a first,
// lost attempt did instead of doing it twice.
package chatwoot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
)

// Info describes the plugin to livechatd.
var Info = sdk.Info{
	Name:        "chatwoot",
	Version:     "1.1.0",
	Description: "Hands users over to agents in Chatwoot, in an API-channel inbox.",
	// No RateLimit: Chatwoot documents none for its cloud, and a
	// self-hosted Rack::Attack throttle is per IP and configurable; the
	// host's default applies (see README.md).
	// user_typing and csat are added by sdk.Serve (SendTyping,
	// RecordRating).
	Capabilities: []sdk.Capability{sdk.CapWebhook, sdk.CapCloseTicket,
		sdk.CapAgentAssigned, sdk.CapAgentTyping, sdk.CapAttachments, sdk.CapRouting},
	Schema: sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "base_url", Type: sdk.String, Required: true,
			Description: `The root URL of the Chatwoot instance, e.g. "https://app.chatwoot.com".`},
		{Name: "account_id", Type: sdk.String, Required: true,
			Description: "The Chatwoot account id (a number; the one in the dashboard's URL /app/accounts/<id>/)."},
		{Name: "inbox_id", Type: sdk.String,
			Description: "The id of an API-channel inbox for livechat conversations. When absent, the inbox named inbox_name is found or created."},
		{Name: "inbox_name", Type: sdk.String, Default: "livechat",
			Description: "The name of the API-channel inbox to find or create when inbox_id is absent."},
		{Name: "api_access_token", Type: sdk.String, Required: true, Sensitive: true,
			Description: "An access token (Profile settings › Access Token); creating the inbox needs an administrator's."},
		{Name: "webhook_secret", Type: sdk.String, Sensitive: true,
			Description: "The webhook's secret, when your Chatwoot signs webhooks (X-Chatwoot-Signature); without it only the URL token is checked."},
		{Name: "timestamp_tolerance", Type: sdk.Duration, Default: "5m",
			Description: "How far X-Chatwoot-Timestamp may be from now for a signed webhook to be accepted."},
		{Name: "resolve_on_end", Type: sdk.Bool, Default: true,
			Description: "Resolve the conversation when the user ends the session or it expires."},
		{Name: "teams", Type: sdk.MapOfString,
			Description: `Routing: livechat team names (metadata "team", lower-cased) to Chatwoot team ids, e.g. {billing = "3"}; the conversation is created in that team.`},
		{Name: "max_attachment_bytes", Type: sdk.Number, Default: 10 << 20,
			Description: "The largest user file uploaded to Chatwoot (bytes); a larger one is sent as a link."},
		{Name: "attachment_timeout", Type: sdk.Duration, Default: "20s",
			Description: "How long downloading a user's file may take before it is sent as a link instead."},
	}},
	Webhooks: []sdk.WebhookSetup{{
		Name:     "events",
		Method:   http.MethodPost,
		Triggers: []string{eventMessageCreated, eventStatusChanged, eventConversationUpdated, eventTypingOn, eventTypingOff},
		Instructions: "In Chatwoot: Settings › Integrations › Webhooks › Add new webhook; paste the URL and tick " +
			"\"Message created\" and \"Conversation status changed\" (needed), \"Conversation updated\" (the user sees the agent join) " +
			"and \"Conversation typing on/off\" (the user sees the agent type; Chatwoot 4.x). If your Chatwoot shows the webhook's secret, " +
			"put it in the bot's webhook_secret.",
	}},
}

// Config is one bot's decoded config block.
type Config struct {
	BaseURL            string            `json:"base_url"`
	AccountID          string            `json:"account_id"`
	InboxID            string            `json:"inbox_id"`
	InboxName          string            `json:"inbox_name"`
	APIAccessToken     string            `json:"api_access_token"`
	WebhookSecret      string            `json:"webhook_secret"`
	TimestampTolerance string            `json:"timestamp_tolerance"`
	ResolveOnEnd       bool              `json:"resolve_on_end"`
	Teams              map[string]string `json:"teams"`
	MaxAttachmentBytes float64           `json:"max_attachment_bytes"`
	AttachmentTimeout  string            `json:"attachment_timeout"`
}

// Logger is what the plugin logs with; sdk.Logger() is one.
type Logger interface {
	Debug(msg string, args ...any)
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
}

// Options tune a Provider; the zero value is what the plugin binary uses.
type Options struct {
	// Now is the clock that webhook timestamps are checked against.
	Now func() time.Time
	// HTTPClient calls Chatwoot; its Timeout bounds each call (default 30s).
	HTTPClient *http.Client
	// Logger defaults to sdk.Logger().
	Logger Logger
}

// Provider is the Chatwoot provider: one per plugin process, serving every
// bot configured with it.
type Provider struct {
	now  func() time.Time
	http *http.Client
	log  Logger

	mu   sync.Mutex
	bots map[string]*bot

	// inboxMu serializes finding-or-creating inboxes, so that two bots
	// configured at once on one account do not create two inboxes.
	inboxMu sync.Mutex
}

var (
	_ sdk.Provider        = (*Provider)(nil)
	_ sdk.ConfigValidator = (*Provider)(nil)
)

// New returns a Provider.
func New(opts Options) *Provider {
	p := &Provider{now: opts.Now, http: opts.HTTPClient, log: opts.Logger, bots: map[string]*bot{}}
	if p.now == nil {
		p.now = time.Now
	}
	if p.http == nil {
		p.http = &http.Client{Timeout: 30 * time.Second}
	}
	if p.log == nil {
		p.log = sdk.Logger()
	}
	return p
}

// bot is one configured bot: its settings, its client, and its inbox once
// known.
type bot struct {
	name      string
	cfg       Config
	api       *client
	public    *client // the public (client) API, for the user's typing
	tolerance time.Duration
	teams     map[string]int64 // routing: team name to Chatwoot team id
	files     handoff.Limits

	// sources caches each conversation's contact source id (the public
	// API's contact identifier), for the user's typing.
	sources sync.Map // int64 -> string

	mu         sync.Mutex
	inboxID    int64  // 0 until resolved
	identifier string // the inbox's public identifier, once resolved
}

// settings checks what the schema cannot: URLs and ids that parse.
func settings(cfg sdk.Config) (Config, time.Duration, sdk.Diagnostics) {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return c, 0, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: err.Error()}}
	}
	var diags sdk.Diagnostics
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		diags = append(diags, sdk.Errorf("base_url", "must be an http(s) URL such as https://app.chatwoot.com"))
	}
	if _, err := positiveID(c.AccountID); err != nil {
		diags = append(diags, sdk.Errorf("account_id", "must be a Chatwoot account id (a positive number)"))
	}
	if c.InboxID != "" {
		if _, err := positiveID(c.InboxID); err != nil {
			diags = append(diags, sdk.Errorf("inbox_id", "must be a Chatwoot inbox id (a positive number)"))
		}
	} else if strings.TrimSpace(c.InboxName) == "" {
		diags = append(diags, sdk.Errorf("inbox_name", "must not be empty when inbox_id is absent"))
	}
	if strings.TrimSpace(c.APIAccessToken) == "" {
		diags = append(diags, sdk.Errorf("api_access_token", "must not be empty"))
	}
	tolerance, err := cfg.Duration("timestamp_tolerance")
	if err != nil || tolerance <= 0 {
		diags = append(diags, sdk.Errorf("timestamp_tolerance", "must be a positive duration such as 5m"))
	}
	for name, id := range c.Teams {
		if _, err := positiveID(id); err != nil || strings.TrimSpace(name) == "" {
			diags = append(diags, sdk.Errorf("teams", "team %q: %q is not a Chatwoot team id (a positive number)", name, id))
		}
	}
	if c.MaxAttachmentBytes < 0 {
		diags = append(diags, sdk.Errorf("max_attachment_bytes", "must not be negative"))
	}
	if d, err := cfg.Duration("attachment_timeout"); err != nil || d < 0 {
		diags = append(diags, sdk.Errorf("attachment_timeout", "must be a duration such as 20s"))
	}
	return c, tolerance, diags
}

func positiveID(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive id", s)
	}
	return n, nil
}

// ValidateConfig checks a bot's config without calling Chatwoot.
func (p *Provider) ValidateConfig(_ context.Context, _ string, cfg sdk.Config) sdk.Diagnostics {
	_, _, diags := settings(cfg)
	return diags
}

// Configure applies a bot's config and finds its inbox (creating it when
// inbox_id is absent). Chatwoot refusing the token or the inbox refuses the
// config; Chatwoot being unreachable does not: livechatd starts anyway, and
// the inbox is looked for again when the first session starts.
func (p *Provider) Configure(ctx context.Context, name string, cfg sdk.Config, _ sdk.Host) error {
	c, tolerance, diags := settings(cfg)
	if err := diags.Err(); err != nil {
		return sdk.Permanent(err)
	}
	account, _ := positiveID(c.AccountID)
	api, err := newClient(p.http, c.BaseURL, account, c.APIAccessToken)
	if err != nil {
		return sdk.Permanent(err)
	}
	public, err := newPublicClient(p.http, c.BaseURL)
	if err != nil {
		return sdk.Permanent(err)
	}
	timeout, _ := cfg.Duration("attachment_timeout")
	b := &bot{name: name, cfg: c, api: api, public: public, tolerance: tolerance, teams: map[string]int64{},
		files: handoff.Limits{MaxBytes: int64(c.MaxAttachmentBytes), Timeout: timeout}}
	for team, id := range c.Teams {
		b.teams[strings.ToLower(strings.TrimSpace(team))], _ = positiveID(id)
	}
	if _, err := p.inbox(ctx, b); err != nil {
		if retry, _ := sdk.IsRetryable(err); !retry {
			return err
		}
		p.log.Warn("chatwoot unreachable; the inbox will be looked for when a session starts", "bot", name, "error", err.Error())
	}
	p.mu.Lock()
	p.bots[name] = b
	p.mu.Unlock()
	return nil
}

func (p *Provider) bot(name string) (*bot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.bots[name]
	if !ok {
		return nil, sdk.NotFound("bot %q is not configured", name)
	}
	return b, nil
}

// apiChannel is the channel type of API inboxes, the only ones that take
// incoming messages from a client.
const apiChannel = "Channel::Api"

// inbox returns the bot's inbox id, resolving it on first use: the
// configured inbox_id (checked to be an API inbox), or the API inbox named
// inbox_name, created when there is none.
func (p *Provider) inbox(ctx context.Context, b *bot) (int64, error) {
	b.mu.Lock()
	id := b.inboxID
	b.mu.Unlock()
	if id != 0 {
		return id, nil
	}
	p.inboxMu.Lock()
	defer p.inboxMu.Unlock()

	var in inbox
	if b.cfg.InboxID != "" {
		want, _ := positiveID(b.cfg.InboxID)
		got, err := b.api.inbox(ctx, want)
		if err != nil {
			return 0, fmt.Errorf("inbox_id %d: %w", want, err)
		}
		if got.ChannelType != apiChannel {
			return 0, sdk.Permanent(fmt.Errorf("inbox_id %d is a %s inbox; livechat needs an API channel inbox (Settings › Inboxes › Add inbox › API)", want, got.ChannelType))
		}
		if got.LockToSingleConversation {
			return 0, errLocked(got.ID, got.Name)
		}
		in = got
	} else {
		all, err := b.api.inboxes(ctx)
		if err != nil {
			return 0, fmt.Errorf("list inboxes: %w", err)
		}
		found := false
		for _, i := range all {
			if i.Name != b.cfg.InboxName {
				continue
			}
			if i.ChannelType != apiChannel {
				return 0, sdk.Permanent(fmt.Errorf("inbox %q (id %d) is a %s inbox; livechat needs an API channel inbox: choose another inbox_name, or set inbox_id", i.Name, i.ID, i.ChannelType))
			}
			if i.LockToSingleConversation {
				return 0, errLocked(i.ID, i.Name)
			}
			in, found = i, true
			break
		}
		if !found {
			in, err = b.api.createInbox(ctx, b.cfg.InboxName)
			if err != nil {
				return 0, fmt.Errorf("create inbox %q: %w", b.cfg.InboxName, err)
			}
			p.log.Info("created the livechat inbox", "bot", b.name, "inbox", in.ID, "name", in.Name)
		}
	}
	b.mu.Lock()
	b.inboxID, b.identifier = in.ID, in.InboxIdentifier
	b.mu.Unlock()
	p.log.Debug("chatwoot inbox", "bot", b.name, "inbox", in.ID)
	return in.ID, nil
}

// errLocked refuses an inbox locked to a single conversation. There,
// Chatwoot answers POST /conversations with the contact's earlier
// conversation (ConversationBuilder), possibly resolved, belonging to an
// earlier session; a livechat session needs a conversation of its own,
// whose resolving ends it. Working around it (a new contact inbox per
// session) would defeat the setting the operator chose, so the plugin
// says which setting to turn off.
func errLocked(id int64, name string) error {
	return sdk.Permanent(fmt.Errorf("inbox %d (%q) has lock_to_single_conversation on: Chatwoot would hand every livechat session "+
		"of a user their earlier conversation; turn off Settings › Inboxes › %s › Settings › \"Lock to single conversation\"", id, name, name))
}

// knownInbox is the bot's inbox id when it has been resolved, else 0.
func (b *bot) knownInbox() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inboxID
}

// errNoConversation reports a Ref that is not a conversation id.
var errNoConversation = errors.New("not a chatwoot conversation id")

func conversationID(ref string) (int64, error) {
	id, err := positiveID(ref)
	if err != nil {
		return 0, sdk.Permanent(fmt.Errorf("ref %q: %w", ref, errNoConversation))
	}
	return id, nil
}
