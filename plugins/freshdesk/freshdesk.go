// Package freshdesk is the livechatd provider for Freshdesk, built only on
// the public SDK and its kit (sdk, sdk/platform, sdk/webhook), the way a
// third party would write one.
//
// A livechat session is a Freshdesk ticket with source Chat: its
// description holds who the user is and their conversation with the bot,
// the user's messages are added as public incoming notes authored by the
// requester, and agents answer with ordinary replies. Freshdesk has no
// webhook subscriptions and signs nothing: an Automation rule ("Ticket
// updates", action "Trigger webhook") calls livechatd with the ticket id
// and a secret header, and the plugin reads the ticket's conversations to
// turn the agents' replies into events, with Freshdesk's conversation ids
// as event ids. ReadSession reads the same way, so a lost webhook is caught
// up.
//
// Freshdesk has no idempotency keys and no external ids on tickets or
// notes: a retried call finds what an earlier try did through plugin state
// (what it started and what it finished) and, where a try may have taken
// effect unrecorded, through the API (the requester's tickets carry the
// session id in their description; a note is found by its text and time).
package freshdesk

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

// SecretHeader is the custom header the Automation rule's webhook sends the
// bot's webhook_secret in.
const SecretHeader = "X-Livechat-Secret"

// WebhookBody is the JSON content to paste into the rule's "Trigger
// webhook" action, verbatim.
const WebhookBody = `{"ticket_id": {{ticket.id}}, "status": "{{ticket.status}}"}`

// Freshdesk's ticket statuses and sources (API v2).
const (
	statusOpen     = 2
	statusPending  = 3
	statusResolved = 4
	statusClosed   = 5

	sourceChat = 7

	// Conversation sources.
	convReply = 0
	convNote  = 2
)

// defaultRate is the Growth plan's API budget, calls per minute.
const defaultRate = 200

// Info describes the plugin to livechatd.
var Info = sdk.Info{
	Name:        "freshdesk",
	Version:     "0.1.0",
	Description: "Hands users over to agents in Freshdesk: a Chat ticket per session, agent replies through an automation webhook.",
	// Freshdesk's per-minute limit on its lowest paid plan (Growth); Pro
	// has 400, Enterprise 700, a trial 50. Set the bot's rate_limit, and
	// livechatd's per-bot override, to your plan's.
	RateLimit: sdk.RateLimit{Calls: defaultRate, Per: time.Minute},
	// csat is added by sdk.Serve (RecordRating). Freshdesk tickets show
	// no typing either way and no queue position.
	Capabilities: []sdk.Capability{sdk.CapWebhook, sdk.CapCloseTicket, sdk.CapAgentAssigned, sdk.CapAttachments, sdk.CapRouting},
	Schema: sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "base_url", Type: sdk.String, Required: true, URL: true,
			Description: `Your Freshdesk helpdesk's address, e.g. "https://acme.freshdesk.com".`},
		{Name: "api_key", Type: sdk.String, Required: true, Sensitive: true,
			Description: "The API key of the agent livechatd acts as (Profile settings › View API key)."},
		{Name: "webhook_secret", Type: sdk.String, Required: true, Sensitive: true,
			Description: "A long random value: the automation rule sends it in the " + SecretHeader + " header (Freshdesk signs nothing)."},
		{Name: "close_status", Type: sdk.String, Default: "closed", Enum: []string{"closed", "resolved"},
			Description: "What the ticket becomes when the user ends the session or it expires."},
		{Name: "tags", Type: sdk.ListOfString,
			Description: `Tags added to every livechat ticket besides "livechat".`},
		{Name: "group_id", Type: sdk.Number,
			Description: "The Freshdesk group to assign livechat tickets to (optional)."},
		{Name: "priority", Type: sdk.Number, Default: 1,
			Description: "The priority of livechat tickets: 1 Low, 2 Medium, 3 High, 4 Urgent."},
		{Name: "groups", Type: sdk.MapOfString,
			Description: `Routing: livechat team names (metadata "team", lower-cased) to Freshdesk group ids, e.g. {billing = "43000012345"}; the ticket goes to that group instead of group_id.`},
		{Name: "max_attachment_bytes", Type: sdk.Number, Default: 10 << 20,
			Description: "The largest user file attached in Freshdesk (bytes; Freshdesk takes 20 MB a note); a larger one is sent as a link."},
		{Name: "attachment_timeout", Type: sdk.Duration, Default: "20s",
			Description: "How long downloading a user's file may take before it is sent as a link instead."},
		{Name: "rate_limit", Type: sdk.Number, Default: defaultRate,
			Description: "Your plan's API calls per minute (trial 50, Growth 200, Pro 400, Enterprise 700): the plugin keeps its own calls within it."},
	}},
	Webhooks: []sdk.WebhookSetup{webhookSetup("your Freshdesk")},
}

func webhookSetup(where string) sdk.WebhookSetup {
	return sdk.WebhookSetup{
		Name:     "agent replies and closes",
		Method:   http.MethodPost,
		Headers:  map[string]string{SecretHeader: "(the bot's webhook_secret)"},
		Body:     WebhookBody,
		Triggers: []string{"Reply is sent", "Status is changed to Resolved", "Status is changed to Closed", "Agent is updated"},
		Instructions: "In " + where + ": Admin › Workflows › Automations › Ticket updates › New rule. " +
			"When an action is performed by Agent; involves any of these events: Reply is sent, " +
			"Status is changed from Any status to Resolved, Status is changed from Any status to Closed, " +
			"and Agent is updated (the user then sees the agent join); " +
			"on tickets with Tags containing \"livechat\". Action: Trigger webhook, request type POST, this URL, " +
			"no authentication, custom header " + SecretHeader + " with the bot's webhook_secret, " +
			"encoding JSON, Advanced content: the body below. See the plugin's README.",
	}
}

// Config is one bot's decoded config block.
type Config struct {
	BaseURL       string   `json:"base_url"`
	APIKey        string   `json:"api_key"`
	WebhookSecret string   `json:"webhook_secret"`
	CloseStatus   string   `json:"close_status"`
	Tags          []string `json:"tags"`
	GroupID       float64  `json:"group_id"`
	Priority      float64  `json:"priority"`
	RateLimit     float64  `json:"rate_limit"`

	Groups             map[string]string `json:"groups"`
	MaxAttachmentBytes float64           `json:"max_attachment_bytes"`
	AttachmentTimeout  string            `json:"attachment_timeout"`
}

// Options tune a Provider; the zero value is what the plugin binary uses.
type Options struct {
	// Now is the clock (default time.Now).
	Now func() time.Time
	// HTTPClient calls Freshdesk (default: the kit's).
	HTTPClient *http.Client
}

// Provider is the Freshdesk provider: one per plugin process, serving every
// bot configured with it.
type Provider struct {
	now  func() time.Time
	http *http.Client

	mu       sync.Mutex
	bots     map[string]*bot
	limiters map[string]*platform.Limiter // per account (base URL)
	state    sdk.StateStore
}

var (
	_ sdk.Provider         = (*Provider)(nil)
	_ sdk.ConfigValidator  = (*Provider)(nil)
	_ sdk.WebhookDescriber = (*Provider)(nil)
	_ sdk.SessionReader    = (*Provider)(nil)
)

// New returns a Provider.
func New(opts Options) *Provider {
	p := &Provider{now: opts.Now, http: opts.HTTPClient, bots: map[string]*bot{}, limiters: map[string]*platform.Limiter{}}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// bot is one configured bot: its settings and its API client.
type bot struct {
	name  string
	cfg   Config
	api   *platform.Client
	state sdk.StateStore
	now   func() time.Time

	mu    sync.Mutex
	pages map[int64]int // ticket id → the conversations page last read
	// Without plugin state (a livechatd older than it), what this process
	// did: done keys and the notes they posted.
	done   map[string]int64
	claims map[int64]string
	// agents are the names of agents seen, "" for one that cannot be read.
	agents map[int64]string

	// Issue 17: routing groups, file limits, and what uploads need.
	groups  map[string]int64
	avatars map[int64]string // agent avatars, with agents
	files   handoff.Limits
	base    string
	auth    func(*http.Request)
	http    *http.Client
}

// settings decodes a bot's config and checks what the schema cannot.
func settings(cfg sdk.Config) (Config, sdk.Diagnostics) {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return c, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: err.Error()}}
	}
	if c.CloseStatus == "" {
		c.CloseStatus = "closed"
	}
	if _, set := cfg["priority"]; !set {
		c.Priority = 1
	}
	if _, set := cfg["rate_limit"]; !set {
		c.RateLimit = defaultRate
	}
	var diags sdk.Diagnostics
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		diags = append(diags, sdk.Errorf("base_url", "must be the helpdesk's root address, such as https://acme.freshdesk.com"))
	}
	if strings.TrimSpace(c.APIKey) == "" {
		diags = append(diags, sdk.Errorf("api_key", "must not be empty"))
	}
	if len(c.WebhookSecret) < 16 {
		diags = append(diags, sdk.Errorf("webhook_secret", "must be at least 16 characters: it is all that tells Freshdesk's webhooks from anyone's"))
	}
	if c.Priority < 1 || c.Priority > 4 || c.Priority != float64(int(c.Priority)) {
		diags = append(diags, sdk.Errorf("priority", "must be 1 (Low), 2 (Medium), 3 (High) or 4 (Urgent)"))
	}
	if c.GroupID < 0 || c.GroupID != float64(int64(c.GroupID)) {
		diags = append(diags, sdk.Errorf("group_id", "must be a Freshdesk group id (a positive number)"))
	}
	if c.RateLimit < 1 || c.RateLimit != float64(int(c.RateLimit)) {
		diags = append(diags, sdk.Errorf("rate_limit", "must be a positive whole number of calls per minute"))
	}
	for _, t := range c.Tags {
		if strings.TrimSpace(t) == "" || strings.Contains(t, ",") {
			diags = append(diags, sdk.Errorf("tags", "%q is not a tag: tags are non-empty and have no commas", t))
		}
	}
	for team, id := range c.Groups {
		if n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64); err != nil || n <= 0 || strings.TrimSpace(team) == "" {
			diags = append(diags, sdk.Errorf("groups", "team %q: %q is not a Freshdesk group id (a positive number)", team, id))
		}
	}
	if c.MaxAttachmentBytes < 0 {
		diags = append(diags, sdk.Errorf("max_attachment_bytes", "must not be negative"))
	}
	if d, err := time.ParseDuration(c.AttachmentTimeout); c.AttachmentTimeout != "" && (err != nil || d < 0) {
		diags = append(diags, sdk.Errorf("attachment_timeout", "must be a duration such as 20s"))
	}
	return c, diags
}

// ValidateConfig checks a bot's config without calling Freshdesk.
func (p *Provider) ValidateConfig(_ context.Context, _ string, cfg sdk.Config) sdk.Diagnostics {
	_, diags := settings(cfg)
	return diags
}

// Configure applies a bot's config. It does not call Freshdesk: livechatd
// starts while Freshdesk is down, and a wrong key shows on the first call.
func (p *Provider) Configure(_ context.Context, name string, cfg sdk.Config, host sdk.Host) error {
	c, diags := settings(cfg)
	if err := diags.Err(); err != nil {
		return sdk.Permanent(err)
	}
	base := strings.TrimSuffix(c.BaseURL, "/")
	p.mu.Lock()
	if host != nil {
		p.state = sdk.StateOf(host)
	}
	state := p.state
	lim := p.limiters[base]
	if lim == nil {
		lim = platform.NewLimiter(int(c.RateLimit), time.Minute)
		p.limiters[base] = lim
	}
	p.mu.Unlock()
	api, err := platform.New(platform.Options{
		Name:       "freshdesk",
		BaseURL:    base + "/api/v2/",
		Auth:       platform.BasicAuth(c.APIKey, "X"),
		Secrets:    []string{c.APIKey, c.WebhookSecret},
		HTTPClient: p.http,
		Limiter:    lim,
		// A 429's Retry-After is the rest of Freshdesk's minute window:
		// short waits are waited out in the call, longer ones go back to
		// the host's outbox with the delay.
		RateWaits: 3,
		Now:       p.now,
	})
	if err != nil {
		return sdk.Permanent(err)
	}
	if state == nil {
		state = sdk.StateOf(nil)
	}
	b := &bot{name: name, cfg: c, api: api, state: state, now: p.now, pages: map[int64]int{}, done: map[string]int64{}, claims: map[int64]string{}, agents: map[int64]string{},
		groups: map[string]int64{}, avatars: map[int64]string{}, base: base, auth: platform.BasicAuth(c.APIKey, "X"), http: p.http}
	b.files.MaxBytes = int64(c.MaxAttachmentBytes)
	b.files.Timeout, _ = time.ParseDuration(c.AttachmentTimeout)
	for team, id := range c.Groups {
		b.groups[strings.ToLower(strings.TrimSpace(team))], _ = strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	}
	if old, err := p.bot(name); err == nil {
		old.mu.Lock()
		b.done, b.claims = old.done, old.claims
		old.mu.Unlock()
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

// DescribeWebhooks is what `livechatd webhook-url` prints: the automation
// rule to create in the bot's helpdesk.
func (p *Provider) DescribeWebhooks(_ context.Context, _ string, cfg sdk.Config) ([]sdk.WebhookSetup, error) {
	base := strings.TrimSuffix(cfg.String("base_url"), "/")
	if base == "" {
		base = "your Freshdesk"
	}
	return []sdk.WebhookSetup{webhookSetup(base)}, nil
}

// ticketRef parses a Ref, a Freshdesk ticket id.
func ticketRef(ref string) (int64, error) {
	var id int64
	if _, err := fmt.Sscanf(ref, "%d", &id); err != nil || id <= 0 || fmt.Sprint(id) != ref {
		return 0, sdk.Permanent(fmt.Errorf("ref %q is not a freshdesk ticket id", ref))
	}
	return id, nil
}
