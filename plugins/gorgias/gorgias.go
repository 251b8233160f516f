// Package gorgias is the livechatd provider for Gorgias: a handed-over chat
// becomes a Gorgias ticket on the "api" channel, the user's messages are
// added to it as customer messages, the agents' replies come back through a
// Gorgias HTTP integration (the webhook) and the ticket is closed when the
// session ends.
//
// It talks to the Gorgias REST API with a small client of its own (Basic
// auth, the account's leaky-bucket rate limit, retries) and keeps no state
// that matters across restarts: every write is keyed by an external_id
// (the session id on tickets, the message id on messages) and looked up
// before it is made again, so the host's retries never duplicate anything.
//
// The binary is cmd/livechat-provider-gorgias; README.md tells operators
// how to set up the REST API key and the HTTP integrations.
package gorgias

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
)

// Version of the plugin.
const Version = "1.0.0"

// WebhookQuery is what the "messages" HTTP integration appends to the
// host's webhook URL: the CSML Studio URL, so setups made for it keep
// working with only the host and the token changed.
const WebhookQuery = "external_id={{ticket.external_id}}&ticket_id={{ticket.id}}&event_type={{event.type}}&event_id={{event.id}}&message_id={{event.object_id}}&text={{message.body_text}}&from_agent={{message.from_agent}}"

// MessageTemplate is the JSON body of the POST variant of the "messages"
// integration (values quoted: Gorgias renders booleans as True/False).
const MessageTemplate = `{"event": {"id": "{{event.id}}", "type": "{{event.type}}", "object_id": "{{event.object_id}}"},
 "ticket": {"id": "{{ticket.id}}", "external_id": "{{ticket.external_id}}", "status": "{{ticket.status}}"},
 "message": {"id": "{{message.id}}", "from_agent": "{{message.from_agent}}",
             "public": "{{message.public}}", "channel": "{{message.channel}}",
             "body_text": "{{message.body_text}}", "sender_email": "{{message.sender.email}}"}}`

// StatusTemplate is the JSON body of the optional "status" integration,
// which ends the session when an agent closes the ticket.
const StatusTemplate = `{"event": {"id": "{{event.id}}", "type": "{{event.type}}"},
 "ticket": {"id": "{{ticket.id}}", "external_id": "{{ticket.external_id}}", "status": "{{ticket.status}}"}}`

const defaultUserLeftNote = "The customer left the chat: they ended the live chat session and are back with the bot. Replies on this ticket no longer reach them."

const defaultExpiryNote = "The live chat session expired: nobody wrote for the session timeout and the user is back with the bot. Replies on this ticket no longer reach the user."

// Info describes the plugin to the host.
var Info = sdk.Info{
	Name:        "gorgias",
	Version:     Version,
	Description: "Hands chat users over to agents in Gorgias: one ticket per session on the api channel, agent replies through an HTTP integration.",
	// csat is added by sdk.Serve (RecordRating). Gorgias's API has no
	// typing indicator either way, and no queue position.
	Capabilities: []sdk.Capability{sdk.CapWebhook, sdk.CapCloseTicket, sdk.CapReadSession,
		sdk.CapAgentAssigned, sdk.CapAttachments, sdk.CapRouting},
	// Gorgias meters each account with a leaky bucket: 40 calls per 20 s
	// for API keys (its documentation, "Rate limits"). A ReadSession costs
	// one of them.
	RateLimit: sdk.RateLimit{Calls: 40, Per: 20 * time.Second},
	Schema: sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "domain", Type: sdk.String, Pattern: subdomainPattern, Description: `Your Gorgias subdomain: "acme" for https://acme.gorgias.com/api/ (only the subdomain). Set domain or base_url.`},
		{Name: "base_url", Type: sdk.String, URL: true, Description: "The REST API's base URL, instead of domain (sandboxes, tests), e.g. http://127.0.0.1:7000/api/."},
		{Name: "email", Type: sdk.String, Required: true, Description: "The email of the Gorgias user who owns the REST API key."},
		{Name: "api_key", Type: sdk.String, Required: true, Sensitive: true, Description: "The REST API key (Gorgias: Settings › REST API)."},
		{Name: "tags", Type: sdk.ListOfString, Default: []string{"livechat"}, Description: "Tags put on every livechat ticket."},
		{Name: "close_on_end", Type: sdk.Bool, Default: true, Description: "Close the ticket when the user (or an admin) ends the session."},
		{Name: "close_on_expiry", Type: sdk.Bool, Default: true, Description: "Close the ticket when the session expires."},
		{Name: "expiry_note", Type: sdk.String, Default: defaultExpiryNote, Description: `Internal note added to the ticket when the session expires; "" for none.`},
		{Name: "user_left_note", Type: sdk.String, Default: defaultUserLeftNote, Description: `Internal note added to the ticket, before it is closed, when the user ends the session; "" for none.`},
		{Name: "no_email_domain", Type: sdk.String, Default: "livechat.invalid", Description: "Users without an email become no-reply-<id>@<this domain> in Gorgias."},
		{Name: "subject", Type: sdk.String, Default: "Live chat with {name}", Description: "Ticket subject; {name}, {firstname}, {lastname}, {email}, {user_id}, {session_id} and {bot} are replaced."},
		{Name: "timeout", Type: sdk.Duration, Default: "20s", Description: "How long one HTTP request to Gorgias may take."},
		{Name: "teams", Type: sdk.MapOfString, Description: `Routing: livechat team names (metadata "team", lower-cased) to Gorgias team ids, e.g. {billing = "12"}; the ticket is assigned to that team.`},
		{Name: "max_attachment_bytes", Type: sdk.Number, Default: 10 << 20, Description: "The largest user file uploaded to Gorgias (bytes); a larger one is sent as a link."},
		{Name: "attachment_timeout", Type: sdk.Duration, Default: "20s", Description: "How long downloading a user's file may take before it is sent as a link instead."},
	}, ExactlyOneOf: [][]string{{"domain", "base_url"}}},
	Webhooks: []sdk.WebhookSetup{
		{
			Name:         "messages",
			Method:       http.MethodGet,
			Query:        WebhookQuery,
			Triggers:     []string{"ticket-message-created"},
			Instructions: "Gorgias: Settings › Integrations › HTTP › Add integration; check only ticket-message-created",
		},
		{
			Name:         "status",
			Method:       http.MethodPost,
			Body:         StatusTemplate,
			Triggers:     []string{"ticket-status-updated"},
			Instructions: "Gorgias: Settings › Integrations › HTTP › Add integration; method POST, request content type application/json, paste the body; check only ticket-status-updated. An agent closing the ticket then ends the session.",
			Optional:     true,
		},
		{
			Name:         "assignment",
			Method:       http.MethodPost,
			Body:         AssignmentTemplate,
			Triggers:     []string{"ticket-assignment-updated"},
			Instructions: "Gorgias: Settings › Integrations › HTTP › Add integration; method POST, request content type application/json, paste the body; check only ticket-assignment-updated. The user then reads that the agent joined.",
			Optional:     true,
		},
	},
}

// AssignmentTemplate is the JSON body of the optional "assignment"
// integration: the plugin reads the ticket's assignee from the API.
const AssignmentTemplate = `{"event": {"id": "{{event.id}}", "type": "{{event.type}}"},
 "ticket": {"id": "{{ticket.id}}", "external_id": "{{ticket.external_id}}", "assignee_user_id": "{{ticket.assignee_user_id}}"}}`

// config is one bot's decoded config block.
type config struct {
	Domain        string   `json:"domain"`
	BaseURL       string   `json:"base_url"`
	Email         string   `json:"email"`
	APIKey        string   `json:"api_key"`
	Tags          []string `json:"tags"`
	CloseOnEnd    bool     `json:"close_on_end"`
	CloseOnExpiry bool     `json:"close_on_expiry"`
	ExpiryNote    string   `json:"expiry_note"`
	UserLeftNote  string   `json:"user_left_note"`
	NoEmailDomain string   `json:"no_email_domain"`
	Subject       string   `json:"subject"`
	Timeout       string   `json:"timeout"`

	Teams              map[string]string `json:"teams"`
	MaxAttachmentBytes float64           `json:"max_attachment_bytes"`
	AttachmentTimeout  string            `json:"attachment_timeout"`
}

const subdomainPattern = `^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`

// check returns the diagnostics of a decoded config that the schema's
// rules (domain or base_url, their shapes) left to it and, when there are
// none, the REST API's base URL.
func (c config) check() (*url.URL, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	var base *url.URL
	if domain := strings.TrimSpace(c.Domain); domain != "" {
		base = &url.URL{Scheme: "https", Host: strings.ToLower(domain) + ".gorgias.com", Path: "/api/"}
	} else if u, err := url.Parse(strings.TrimSpace(c.BaseURL)); err == nil {
		switch {
		case u.User != nil:
			diags = append(diags, sdk.Errorf("base_url", "base_url must not carry credentials; use email and api_key"))
		case u.RawQuery != "" || u.Fragment != "":
			diags = append(diags, sdk.Errorf("base_url", "base_url must not have a query or fragment"))
		default:
			// A bare host means its /api/, where Gorgias serves the API.
			if u.Path == "" || u.Path == "/" {
				u.Path = "/api/"
			}
			if !strings.HasSuffix(u.Path, "/") {
				u.Path += "/"
			}
			u.RawPath = ""
			base = u
		}
	}
	if e := strings.TrimSpace(c.Email); e != "" && !strings.Contains(e, "@") {
		diags = append(diags, sdk.Errorf("email", "%q is not an email address", e))
	}
	if strings.TrimSpace(c.APIKey) == "" {
		diags = append(diags, sdk.Errorf("api_key", "the REST API key is empty"))
	}
	for i, t := range c.Tags {
		if strings.TrimSpace(t) == "" {
			diags = append(diags, sdk.Errorf("tags", "tag %d is empty", i+1))
		}
	}
	if d := c.NoEmailDomain; d == "" || strings.ContainsAny(d, "@ \t<>,;") {
		diags = append(diags, sdk.Errorf("no_email_domain", "%q is not a mail domain", d))
	}
	if c.Timeout != "" {
		if d, err := time.ParseDuration(c.Timeout); err != nil || d <= 0 {
			diags = append(diags, sdk.Errorf("timeout", "%q is not a positive duration", c.Timeout))
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return base, diags
}

// decodeConfig applies the schema's defaults and rules (the SDK has done
// it already when the host calls; tests and direct callers may not have)
// and checks the result.
func decodeConfig(raw sdk.Config) (config, *url.URL, sdk.Diagnostics) {
	var c config
	withDefaults := Info.Schema.WithDefaults(raw)
	if diags := Info.Schema.Validate(withDefaults); diags.HasErrors() {
		return c, nil, diags
	}
	if err := withDefaults.Decode(&c); err != nil {
		return c, nil, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: err.Error()}}
	}
	base, diags := c.check()
	for name, v := range c.Teams {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil || n <= 0 || strings.TrimSpace(name) == "" {
			diags = append(diags, sdk.Errorf("teams", "team %q: %q is not a Gorgias team id (a positive number)", name, v))
		}
	}
	if c.MaxAttachmentBytes < 0 {
		diags = append(diags, sdk.Errorf("max_attachment_bytes", "must not be negative"))
	}
	if d, err := time.ParseDuration(c.AttachmentTimeout); c.AttachmentTimeout != "" && (err != nil || d < 0) {
		diags = append(diags, sdk.Errorf("attachment_timeout", "must be a duration such as 20s"))
	}
	if diags.HasErrors() {
		base = nil
	}
	return c, base, diags
}

// Logger is the part of hclog.Logger the provider uses.
type Logger interface {
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
}

// Option changes how New builds a Provider; tests use them.
type Option func(*options)

type options struct {
	httpClient *http.Client
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
	log        Logger
}

// WithHTTPClient sets the HTTP client of every bot's REST client.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithClock replaces the clock and the wait of the REST clients, so tests
// observe rate-limit waits and backoffs instead of sleeping through them.
func WithClock(now func() time.Time, sleep func(context.Context, time.Duration) error) Option {
	return func(o *options) { o.now, o.sleep = now, sleep }
}

// WithLogger sets the logger (default sdk.Logger()).
func WithLogger(l Logger) Option { return func(o *options) { o.log = l } }

// Provider is the Gorgias provider. One process serves many bots, each with
// its own config and client.
type Provider struct {
	opts options

	mu       sync.Mutex
	bots     map[string]*bot
	limiters map[string]*platform.Limiter // by account: bots sharing an account share its bucket
}

var (
	_ sdk.Provider        = (*Provider)(nil)
	_ sdk.ConfigValidator = (*Provider)(nil)
)

// New returns a Provider with no bot configured.
func New(opts ...Option) *Provider {
	o := options{httpClient: &http.Client{}, now: time.Now, sleep: sleepContext}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = sdk.Logger()
	}
	return &Provider{opts: o, bots: map[string]*bot{}, limiters: map[string]*platform.Limiter{}}
}

// bot is one configured bot.
type bot struct {
	name   string
	cfg    config
	client *client
	log    Logger

	mu sync.Mutex
	// senders remembers each ticket's customer, so a message needs no
	// lookup of who sends it. Only a cache: it is rebuilt from the ticket.
	senders map[int64]party
	// tickets remembers the ticket each session opened in this process.
	tickets map[string]int64

	// For uploads (issue 17): the REST API's base URL and credentials.
	base   string
	apiKey string
	http   *http.Client
	files  handoff.Limits
	teams  map[string]int64 // routing: team name to Gorgias team id
}

// maxCached bounds the caches; they are cleared when full (sessions
// normally leave them when they end).
const maxCached = 10000

func (b *bot) sender(ticket int64) (party, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.senders[ticket]
	return p, ok
}

func (b *bot) remember(ticket int64, p party) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.senders) >= maxCached {
		clear(b.senders)
	}
	b.senders[ticket] = p
}

func (b *bot) ticketOf(session string) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tickets[session]
	return t, ok
}

func (b *bot) opened(session string, ticket int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.tickets) >= maxCached {
		clear(b.tickets)
	}
	b.tickets[session] = ticket
}

func (b *bot) forget(session string, ticket int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.senders, ticket)
	delete(b.tickets, session)
}

// ValidateConfig checks what the schema cannot: credentials or a query in
// base_url, the email's shape, blank values.
func (p *Provider) ValidateConfig(_ context.Context, _ string, cfg sdk.Config) sdk.Diagnostics {
	_, _, diags := decodeConfig(cfg)
	return diags
}

// Configure makes (or replaces) the bot's client. It calls nothing: Gorgias
// being down must not keep livechatd from starting.
func (p *Provider) Configure(_ context.Context, name string, raw sdk.Config, _ sdk.Host) error {
	cfg, base, diags := decodeConfig(raw)
	if err := diags.Err(); err != nil {
		return sdk.Permanent(err)
	}
	timeout, _ := time.ParseDuration(cfg.Timeout)
	p.mu.Lock()
	defer p.mu.Unlock()
	// Gorgias counts calls per account, whoever makes them.
	account := base.String()
	lim := p.limiters[account]
	if lim == nil {
		lim = platform.NewLimiter(0, 0)
		p.limiters[account] = lim
	}
	c := newClient(base, strings.TrimSpace(cfg.Email), strings.TrimSpace(cfg.APIKey), lim, p.opts, timeout)
	b := &bot{name: name, cfg: cfg, client: c, log: p.opts.log, senders: map[int64]party{}, tickets: map[string]int64{},
		base: base.String(), apiKey: strings.TrimSpace(cfg.APIKey), http: p.opts.httpClient, teams: map[string]int64{}}
	b.files.MaxBytes = int64(cfg.MaxAttachmentBytes)
	b.files.Timeout, _ = time.ParseDuration(cfg.AttachmentTimeout)
	for team, v := range cfg.Teams {
		b.teams[strings.ToLower(strings.TrimSpace(team))], _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	}
	p.bots[name] = b
	return nil
}

func (p *Provider) bot(name string) (*bot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.bots[name]
	if !ok {
		return nil, sdk.NotFound("gorgias: bot %q is not configured", name)
	}
	return b, nil
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf("gorgias: "+format, args...) }
