// Package zendesk is the livechatd provider for Zendesk Support, built only
// on the public SDK and its kit (sdk, sdk/platform, sdk/webhook): a livechat
// session is a ticket whose requester is the user (found or created by an
// external_id of the plugin's own), opened through the API with the bot's
// transcript and the user's metadata in a private first comment; the user's
// messages are public comments authored by the requester; agents' public
// comments and the ticket being solved come back through a Zendesk webhook
// subscribed to ticket events (zen:event-type:ticket.comment_added and
// zen:event-type:ticket.status_changed), signed with
// X-Zendesk-Webhook-Signature, and through ReadSession, which reads the
// ticket's comments back.
//
// The ticket's external_id names the bot and the session
// ("livechat:<bot>:<session>"), so a webhook names its session without any
// state in the plugin, and a retried start finds the ticket a lost first try
// opened. Comments have no external id: a retried send is recognised by the
// plugin state livechatd keeps for it and, after a crash between the post and
// the record, by reading the ticket's comments back.
package zendesk

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livechatd/livechatd/plugins/internal/handoff"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
	"github.com/livechatd/livechatd/sdk/webhook"
)

// Plans and their account-wide API budgets, requests per minute (Zendesk's
// "Rate limits" page, Suite and Support plans; the High Volume API add-on
// raises Growth and above to 2500).
var planLimits = map[string]int{
	"team":            200,
	"growth":          400,
	"professional":    400,
	"enterprise":      700,
	"enterprise_plus": 2500,
	"high_volume":     2500,
}

// Event types of the webhook's subscriptions.
const (
	EventCommentAdded  = "zen:event-type:ticket.comment_added"
	EventStatusChanged = "zen:event-type:ticket.status_changed"
	// EventAgentAssignmentChanged: the ticket's assignee changed (issue 17:
	// the agent joined).
	EventAgentAssignmentChanged = "zen:event-type:ticket.agent_assignment_changed"
)

// Info describes the plugin to livechatd.
var Info = sdk.Info{
	Name:        "zendesk",
	Version:     "0.1.0",
	Description: "Hands users over to agents in Zendesk Support: a ticket per session, agent comments by signed webhook.",
	// The lowest plan's budget (Team: 200 requests a minute for the whole
	// account); the plugin's own limiter follows the bot's plan.
	RateLimit: sdk.RateLimit{Calls: 200, Per: time.Minute},
	// csat is added by sdk.Serve (RecordRating). Zendesk Support tells
	// no typing either way and no queue position.
	Capabilities: []sdk.Capability{sdk.CapWebhook, sdk.CapCloseTicket, sdk.CapAgentAssigned, sdk.CapAttachments, sdk.CapRouting},
	Schema: sdk.Schema{
		Attributes: []sdk.Attribute{
			{Name: "subdomain", Type: sdk.String, Pattern: `^[a-z0-9][a-z0-9-]{0,62}$`,
				Description: `The account's subdomain: "acme" for https://acme.zendesk.com.`},
			{Name: "base_url", Type: sdk.String, URL: true,
				Description: "The account's address when it is not https://<subdomain>.zendesk.com (a host-mapped domain, or a test server)."},
			{Name: "email", Type: sdk.String, Required: true,
				Description: "The email of the agent or admin whose API token the plugin uses (Basic auth as <email>/token)."},
			{Name: "api_token", Type: sdk.String, Required: true, Sensitive: true,
				Description: "An API token (Admin Center › Apps and integrations › APIs › Zendesk API)."},
			{Name: "webhook_secret", Type: sdk.String, Required: true, Sensitive: true,
				Description: "The webhook's signing secret (Admin Center › Apps and integrations › Webhooks › the webhook › Reveal secret)."},
			{Name: "plan", Type: sdk.String, Default: "team", Enum: []string{"team", "growth", "professional", "enterprise", "enterprise_plus", "high_volume"},
				Description: "The account's plan, for its API budget: team 200/min, growth and professional 400, enterprise 700, enterprise_plus and high_volume 2500."},
			{Name: "user_fields", Type: sdk.MapOfString,
				Description: "Metadata keys to copy into the requester's user fields: metadata key = user field key. The fields must exist (Admin Center › People › Configuration › User fields)."},
			{Name: "tags", Type: sdk.ListOfString, Default: []any{"livechat"},
				Description: "Tags put on every livechat ticket (for views, triggers and reports)."},
			{Name: "solve_on_end", Type: sdk.Bool, Default: true,
				Description: "Solve the ticket when the user ends the session or it expires."},
			{Name: "timestamp_tolerance", Type: sdk.Duration, Default: "5m",
				Description: "How far X-Zendesk-Webhook-Signature-Timestamp may be from now for a webhook to be accepted."},
			{Name: "groups", Type: sdk.MapOfString,
				Description: `Routing: livechat team names (metadata "team", lower-cased) to Zendesk group ids, e.g. {billing = "360001234567"}; the ticket goes to that group.`},
			{Name: "max_attachment_bytes", Type: sdk.Number, Default: 10 << 20,
				Description: "The largest user file uploaded to Zendesk (bytes); a larger one is sent as a link."},
			{Name: "attachment_timeout", Type: sdk.Duration, Default: "20s",
				Description: "How long downloading a user's file may take before it is sent as a link instead."},
		},
		ExactlyOneOf: [][]string{{"subdomain", "base_url"}},
	},
}

// Config is one bot's decoded config block.
type Config struct {
	Subdomain          string            `json:"subdomain"`
	BaseURL            string            `json:"base_url"`
	Email              string            `json:"email"`
	APIToken           string            `json:"api_token"`
	WebhookSecret      string            `json:"webhook_secret"`
	Plan               string            `json:"plan"`
	UserFields         map[string]string `json:"user_fields"`
	Tags               []string          `json:"tags"`
	SolveOnEnd         bool              `json:"solve_on_end"`
	TimestampTolerance string            `json:"timestamp_tolerance"`
	Groups             map[string]string `json:"groups"`
	MaxAttachmentBytes float64           `json:"max_attachment_bytes"`
	AttachmentTimeout  string            `json:"attachment_timeout"`
}

// Options tune a Provider; the zero value is what the plugin binary uses.
type Options struct {
	// Now is the clock webhook timestamps are checked against.
	Now func() time.Time
	// HTTPClient calls Zendesk (default: a new client; each call's timeout
	// is the platform client's, 30 s).
	HTTPClient *http.Client
}

// Provider is the Zendesk provider: one per plugin process, serving every
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
	_ sdk.Shutdowner       = (*Provider)(nil)
)

// New returns a Provider.
func New(o Options) *Provider {
	p := &Provider{now: o.Now, http: o.HTTPClient, bots: map[string]*bot{}, limiters: map[string]*platform.Limiter{}}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// bot is one configured bot.
type bot struct {
	name   string
	cfg    Config
	base   string // https://acme.zendesk.com
	api    *platform.Client
	scheme webhook.Scheme
	secret string
	fields map[string]string
	tags   []string

	mu         sync.Mutex
	requesters map[string]int64 // ticket id → requester id

	// Issue 17: routing groups, file limits, and what uploads need.
	groups map[string]int64
	files  handoff.Limits
	auth   func(*http.Request)
	http   *http.Client
}

var subdomainRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// settings checks what the schema cannot and returns the account's address.
func settings(cfg sdk.Config) (Config, string, time.Duration, sdk.Diagnostics) {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return c, "", 0, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: err.Error()}}
	}
	var diags sdk.Diagnostics
	base := ""
	switch {
	case c.Subdomain != "" && c.BaseURL != "":
		diags = append(diags, sdk.Errorf("base_url", "set subdomain or base_url, not both"))
	case c.Subdomain != "":
		if !subdomainRE.MatchString(c.Subdomain) {
			diags = append(diags, sdk.Errorf("subdomain", "must be the account's subdomain, e.g. \"acme\" for https://acme.zendesk.com"))
		}
		base = "https://" + c.Subdomain + ".zendesk.com"
	case c.BaseURL != "":
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			diags = append(diags, sdk.Errorf("base_url", "must be an http(s) URL without credentials, e.g. https://support.acme.com"))
		}
		base = strings.TrimSuffix(c.BaseURL, "/")
	default:
		diags = append(diags, sdk.Errorf("subdomain", "set subdomain (or base_url)"))
	}
	if e := strings.TrimSpace(c.Email); e == "" || !strings.Contains(e, "@") || strings.HasSuffix(e, "/token") {
		diags = append(diags, sdk.Errorf("email", "must be the email of the API token's agent, e.g. ops@acme.com (without /token)"))
	}
	if strings.TrimSpace(c.APIToken) == "" {
		diags = append(diags, sdk.Errorf("api_token", "must not be empty"))
	}
	if strings.TrimSpace(c.WebhookSecret) == "" {
		diags = append(diags, sdk.Errorf("webhook_secret", "must not be empty: the webhook's signing secret"))
	}
	if c.Plan == "" {
		c.Plan = "team"
	}
	if _, ok := planLimits[c.Plan]; !ok {
		diags = append(diags, sdk.Errorf("plan", "must be one of team, growth, professional, enterprise, enterprise_plus, high_volume"))
	}
	for team, id := range c.Groups {
		if n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64); err != nil || n <= 0 || strings.TrimSpace(team) == "" {
			diags = append(diags, sdk.Errorf("groups", "team %q: %q is not a Zendesk group id (a positive number)", team, id))
		}
	}
	if c.MaxAttachmentBytes < 0 {
		diags = append(diags, sdk.Errorf("max_attachment_bytes", "must not be negative"))
	}
	if d, err := time.ParseDuration(c.AttachmentTimeout); c.AttachmentTimeout != "" && (err != nil || d < 0) {
		diags = append(diags, sdk.Errorf("attachment_timeout", "must be a duration such as 20s"))
	}
	for k, v := range c.UserFields {
		if strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			diags = append(diags, sdk.Errorf("user_fields", "metadata keys and user field keys must not be empty"))
			break
		}
	}
	tolerance := 5 * time.Minute
	if c.TimestampTolerance != "" {
		d, err := time.ParseDuration(c.TimestampTolerance)
		if err != nil || d <= 0 {
			diags = append(diags, sdk.Errorf("timestamp_tolerance", "must be a positive duration such as 5m"))
		}
		tolerance = d
	}
	return c, base, tolerance, diags
}

// ValidateConfig checks a bot's config without calling Zendesk.
func (p *Provider) ValidateConfig(_ context.Context, _ string, cfg sdk.Config) sdk.Diagnostics {
	_, _, _, diags := settings(cfg)
	return diags
}

// Configure applies a bot's config; it replaces what an earlier call set.
// It calls no API: a Zendesk that is down must not keep livechatd from
// starting, and a wrong token shows on the first session.
func (p *Provider) Configure(_ context.Context, name string, cfg sdk.Config, host sdk.Host) error {
	c, base, tolerance, diags := settings(cfg)
	if err := diags.Err(); err != nil {
		return sdk.Permanent(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	lim := p.limiters[base]
	if lim == nil {
		lim = platform.NewLimiter(planLimits[c.Plan], time.Minute)
		p.limiters[base] = lim
	}
	api, err := platform.New(platform.Options{
		Name:       "zendesk",
		BaseURL:    base + "/api/v2/",
		Auth:       platform.BasicAuth(c.Email+"/token", c.APIToken),
		Secrets:    []string{c.WebhookSecret},
		HTTPClient: p.http,
		Limiter:    lim,
		// Zendesk's 429s mostly ask for a few seconds (Retry-After): wait
		// them out inside the call, the Limiter holding the account's other
		// calls meanwhile; a longer wait goes back to the host as
		// sdk.RateLimited with Zendesk's delay.
		RateWaits: 5,
		MaxWait:   10 * time.Second,
		Header:    http.Header{"User-Agent": {"livechat-provider-zendesk/" + Info.Version}},
	})
	if err != nil {
		return sdk.Permanent(err)
	}
	scheme := webhook.Zendesk
	scheme.Tolerance = tolerance
	tags := c.Tags
	if tags == nil {
		tags = []string{"livechat"}
	}
	b := &bot{name: name, cfg: c, base: base, api: api, scheme: scheme, secret: c.WebhookSecret,
		fields: c.UserFields, tags: tags, requesters: map[string]int64{}, groups: map[string]int64{},
		auth: platform.BasicAuth(c.Email+"/token", c.APIToken), http: p.http}
	b.files.MaxBytes = int64(c.MaxAttachmentBytes)
	b.files.Timeout, _ = time.ParseDuration(c.AttachmentTimeout)
	for team, id := range c.Groups {
		b.groups[strings.ToLower(strings.TrimSpace(team))], _ = strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	}
	p.bots[name] = b
	if host != nil {
		p.state = sdk.StateOf(host)
	}
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

func (p *Provider) stateStore() sdk.StateStore {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// DescribeWebhooks is what `livechatd webhook-url` prints for the bot: the
// one webhook to create in the bot's account.
func (p *Provider) DescribeWebhooks(_ context.Context, _ string, cfg sdk.Config) ([]sdk.WebhookSetup, error) {
	_, base, _, _ := settings(cfg)
	where := "In Zendesk Admin Center"
	if base != "" {
		where = "In " + base + "/admin/apps-integrations/webhooks/webhooks"
	}
	return []sdk.WebhookSetup{{
		Name:   "ticket-events",
		Method: http.MethodPost,
		// The assignment event is optional (the user then sees the
		// agent join): it is in the instructions, not among the events
		// the webhook needs.
		Triggers: []string{EventCommentAdded, EventStatusChanged},
		Instructions: where + " (Apps and integrations › Webhooks › Create webhook): choose \"Zendesk events\" and subscribe to " +
			"the ticket events \"Comment created\" (" + EventCommentAdded + ") and \"Status changed\" (" + EventStatusChanged + "), " +
			"and, optionally, \"Agent assignment changed\" (" + EventAgentAssignmentChanged + ") for the user to see the agent join; " +
			"paste this URL as the endpoint (POST, JSON), no authentication; after creating it, reveal its signing secret " +
			"and put it in the bot's webhook_secret.",
	}}, nil
}

// Shutdown has nothing to flush: every call's effect is on Zendesk or in
// the host's state by the time it returns.
func (p *Provider) Shutdown(context.Context) error { return nil }

// externalID is the ticket's external_id for a session of a bot.
func externalID(bot, session string) string { return "livechat:" + bot + ":" + session }

// parseExternalID returns the bot and session an external_id names, or
// false for a ticket that is not a livechat session's.
func parseExternalID(s string) (bot, session string, ok bool) {
	rest, found := strings.CutPrefix(s, "livechat:")
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

func errRef(ref string) error {
	return sdk.Permanent(fmt.Errorf("ref %q is not a zendesk ticket id", ref))
}
