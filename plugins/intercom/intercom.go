// Package intercom is the livechatd provider for Intercom. It is built only
// on the public SDK and its kit (sdk, sdk/platform, sdk/webhook), as a
// third party would build it.
//
// A livechat session is an Intercom conversation started by the user: the
// user is a contact (role user) found by its external_id, the conversation
// is created from that contact with the bot's transcript and the user's
// details, and the user's messages are replies on the contact's behalf.
// Agents' replies and closes come back through the app's webhook topics
// conversation.admin.replied and conversation.admin.closed, signed with
// X-Hub-Signature (HMAC-SHA1 of the body under the app's client secret),
// and through ReadSession, which reads the conversation's parts back.
//
// Intercom has no idempotency keys: the plugin keeps what each call did in
// the plugin state livechatd keeps for it (sdk.StateOf), and looks on
// Intercom before it writes again.
package intercom

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
)

// APIVersion is the Intercom-Version the plugin is written against (the
// shapes it reads are those of Intercom's OpenAPI description of 2.14).
const APIVersion = "2.14"

// RateLimit is Intercom's documented default for a private app: 10,000
// calls a minute, enforced in 10-second windows (a sixth each, rounded
// down).
var RateLimit = sdk.RateLimit{Calls: 1666, Per: 10 * time.Second}

// Topics are the webhook topics the app must subscribe to.
var Topics = []string{TopicAdminReplied, TopicAdminClosed, TopicAdminAssigned}

// Intercom's webhook topics the plugin acts on.
const (
	TopicAdminReplied = "conversation.admin.replied"
	TopicAdminClosed  = "conversation.admin.closed"
	// TopicAdminAssigned: an admin was assigned the conversation (issue
	// 17: the agent joined).
	TopicAdminAssigned = "conversation.admin.assigned"
)

// Info describes the plugin to livechatd.
var Info = sdk.Info{
	Name:         "intercom",
	Version:      "0.1.0",
	Description:  "Hands users over to agents in Intercom conversations; replies by signed webhook (X-Hub-Signature).",
	Capabilities: []sdk.Capability{sdk.CapWebhook, sdk.CapCloseTicket, sdk.CapAgentAssigned, sdk.CapAttachments, sdk.CapRouting},
	RateLimit:    RateLimit,
	Schema: sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "access_token", Type: sdk.String, Required: true, Sensitive: true,
			Description: "The access token of your Intercom app (Developer Hub › your app › Configure › Authentication)."},
		{Name: "client_secret", Type: sdk.String, Required: true, Sensitive: true,
			Description: "The app's client secret (Developer Hub › your app › Configure › Basic information): Intercom signs webhooks with it."},
		{Name: "admin_id", Type: sdk.String, Required: true,
			Description: "The id of the Intercom admin (teammate) who closes conversations when a session ends (GET /admins lists them)."},
		{Name: "app_id", Type: sdk.String,
			Description: "The workspace id (app_id in webhooks); when set, webhooks of other workspaces are refused."},
		{Name: "base_url", Type: sdk.String, Default: "https://api.intercom.io",
			Description: "Intercom's REST API for your workspace's region: https://api.intercom.io (US), https://api.eu.intercom.io (EU), https://api.au.intercom.io (Australia)."},
		{Name: "state_dir", Type: sdk.String,
			Description: "Only for a livechatd that keeps no plugin state (older than plugin state): a directory where the plugin keeps what it posted, so that a retry after a restart of the plugin posts nothing twice. Unused otherwise."},
		{Name: "teams", Type: sdk.MapOfString,
			Description: `Routing: livechat team names (metadata "team", lower-cased) to Intercom team ids, e.g. {billing = "5017691"}; the conversation is assigned to that team.`},
		{Name: "max_attachment_bytes", Type: sdk.Number, Default: 10 << 20,
			Description: "The largest user file attached in Intercom (bytes); a larger one is sent as a link."},
		{Name: "attachment_timeout", Type: sdk.Duration, Default: "20s",
			Description: "How long downloading a user's file may take before it is sent as a link instead."},
		{Name: "api_version", Type: sdk.String, Default: APIVersion, Pattern: `^([0-9]+\.[0-9]+|Preview)$`,
			Description: "The Intercom-Version header sent with every call; the plugin reads the shapes of " + APIVersion + "."},
	}},
	Webhooks: []sdk.WebhookSetup{{
		Name:     "conversations",
		Method:   http.MethodPost,
		Triggers: Topics,
		Instructions: "In Intercom's Developer Hub: your app › Configure › Webhooks; paste the URL as the endpoint URL and " +
			"select the topics conversation.admin.replied and conversation.admin.closed, and conversation.admin.assigned " +
			"for the user to see the agent join; save and set it live.",
	}},
}

// Config is one bot's decoded config block.
type Config struct {
	AccessToken  string `json:"access_token"`
	ClientSecret string `json:"client_secret"`
	AdminID      string `json:"admin_id"`
	AppID        string `json:"app_id"`
	BaseURL      string `json:"base_url"`
	APIVersion   string `json:"api_version"`
	StateDir     string `json:"state_dir"`

	Teams              map[string]string `json:"teams"`
	MaxAttachmentBytes float64           `json:"max_attachment_bytes"`
	AttachmentTimeout  string            `json:"attachment_timeout"`
}

// Options tune a Provider; the zero value is what the plugin binary uses.
type Options struct {
	// HTTPClient calls Intercom (default: a new http.Client).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Sleep waits inside a call, for the rate limiter (default: a timer).
	Sleep func(context.Context, time.Duration) error
}

// Provider is the Intercom provider: one per plugin process, serving every
// bot configured with it.
type Provider struct {
	opts Options

	mu       sync.Mutex
	bots     map[string]*bot
	limiters map[string]*platform.Limiter // by a hash of the access token
}

var (
	_ sdk.Provider         = (*Provider)(nil)
	_ sdk.ConfigValidator  = (*Provider)(nil)
	_ sdk.WebhookDescriber = (*Provider)(nil)
	_ sdk.SessionReader    = (*Provider)(nil)
)

// New returns a Provider.
func New(opts Options) *Provider {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	return &Provider{opts: opts, bots: map[string]*bot{}, limiters: map[string]*platform.Limiter{}}
}

// bot is one configured bot.
type bot struct {
	name  string
	cfg   Config
	api   *platform.Client
	state *store

	// Issue 17: routing teams, file limits, admins' names and avatars.
	teams  map[string]string
	files  handoff.Limits
	http   *http.Client
	mu     sync.Mutex
	admins map[string][2]string // admin id → name, avatar
}

var numeric = regexp.MustCompile(`^[0-9]+$`)

// settings decodes and checks a bot's config beyond the schema.
func settings(cfg sdk.Config) (Config, sdk.Diagnostics) {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return c, sdk.Diagnostics{{Severity: sdk.SeverityError, Summary: err.Error()}}
	}
	if c.BaseURL == "" {
		c.BaseURL = "https://api.intercom.io"
	}
	if c.APIVersion == "" {
		c.APIVersion = APIVersion
	}
	var diags sdk.Diagnostics
	if strings.TrimSpace(c.AccessToken) == "" {
		diags = append(diags, sdk.Errorf("access_token", "must not be empty"))
	}
	if strings.TrimSpace(c.ClientSecret) == "" {
		diags = append(diags, sdk.Errorf("client_secret", "must not be empty: Intercom signs webhooks with the app's client secret"))
	}
	if !numeric.MatchString(c.AdminID) {
		diags = append(diags, sdk.Errorf("admin_id", "must be an Intercom admin id (digits), e.g. \"814860\""))
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		diags = append(diags, sdk.Errorf("base_url", "must be an http(s) URL such as https://api.intercom.io"))
	}
	for team, id := range c.Teams {
		if !numeric.MatchString(strings.TrimSpace(id)) || strings.TrimSpace(team) == "" {
			diags = append(diags, sdk.Errorf("teams", "team %q: %q is not an Intercom team id (digits)", team, id))
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

// ValidateConfig checks a bot's config without calling Intercom.
func (p *Provider) ValidateConfig(_ context.Context, _ string, cfg sdk.Config) sdk.Diagnostics {
	_, diags := settings(cfg)
	return diags
}

// Configure applies a bot's config. It calls nothing: Intercom answering
// 401 shows on the first session, with the bot named.
func (p *Provider) Configure(_ context.Context, name string, cfg sdk.Config, host sdk.Host) error {
	c, diags := settings(cfg)
	if err := diags.Err(); err != nil {
		return sdk.Permanent(err)
	}
	api, err := p.client(c)
	if err != nil {
		return sdk.Permanent(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var own *journal
	if old, ok := p.bots[name]; ok && old.cfg.StateDir == c.StateDir {
		own = old.state.own // configured again: keep what it knows
	} else if own, err = openJournal(c.StateDir, name); err != nil {
		return sdk.Permanent(err)
	}
	b := &bot{name: name, cfg: c, api: api, state: &store{host: sdk.StateOf(host), own: own}, teams: map[string]string{},
		http: p.opts.HTTPClient, admins: map[string][2]string{}}
	b.files.MaxBytes = int64(c.MaxAttachmentBytes)
	b.files.Timeout, _ = time.ParseDuration(c.AttachmentTimeout)
	for team, id := range c.Teams {
		b.teams[strings.ToLower(strings.TrimSpace(team))] = strings.TrimSpace(id)
	}
	p.bots[name] = b
	return nil
}

// client is the API client of one account. Bots on one access token share
// a limiter: Intercom counts their calls together.
func (p *Provider) client(c Config) (*platform.Client, error) {
	sum := sha256.Sum256([]byte(c.AccessToken))
	key := hex.EncodeToString(sum[:8])
	p.mu.Lock()
	lim, ok := p.limiters[key]
	if !ok {
		lim = platform.NewLimiter(RateLimit.Calls, RateLimit.Per)
		p.limiters[key] = lim
	}
	p.mu.Unlock()
	return platform.New(platform.Options{
		Name:    "intercom",
		BaseURL: strings.TrimSuffix(c.BaseURL, "/") + "/",
		Auth:    platform.BearerToken(c.AccessToken),
		Header:  http.Header{"Intercom-Version": {c.APIVersion}},
		Secrets: []string{c.ClientSecret},
		Limiter: lim,
		// Intercom's windows are 10 seconds: a 429 is waited out inside
		// the call (until X-RateLimit-Reset, at most MaxWait) twice before
		// the host's backoff takes over.
		RateWaits: 2,
		// Intercom's usage headers: when a window is spent, hold every
		// call of the account until it resets rather than meet a 429.
		OnResponse: func(status int, h http.Header) {
			if h.Get("X-RateLimit-Remaining") != "0" {
				return
			}
			if reset, ok := resetTime(h); ok {
				lim.Hold(reset)
			}
		},
		// Intercom's 429 carries only the X-RateLimit-* headers: the wait
		// is until the window resets.
		RetryAfter: platform.ResetHeader("X-RateLimit-Reset"),
		HTTPClient: p.opts.HTTPClient,
		Now:        p.opts.Now,
		Sleep:      p.opts.Sleep,
	})
}

// resetTime reads X-RateLimit-Reset, a unix time in seconds.
func resetTime(h http.Header) (time.Time, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
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

// DescribeWebhooks tells the operator where to paste the webhook URL.
func (p *Provider) DescribeWebhooks(_ context.Context, _ string, cfg sdk.Config) ([]sdk.WebhookSetup, error) {
	w := Info.Webhooks[0]
	w.Instructions += " Intercom signs each notification with the app's client secret (X-Hub-Signature): put that secret in the bot's client_secret."
	if id := cfg.String("app_id"); id != "" {
		w.Instructions += fmt.Sprintf(" Notifications of workspaces other than %s are refused.", id)
	}
	return []sdk.WebhookSetup{w}, nil
}

// conversationID checks a Ref: Intercom's conversation ids are digits.
func conversationID(ref string) (string, error) {
	if !numeric.MatchString(ref) {
		return "", sdk.Permanent(fmt.Errorf("ref %q: not an Intercom conversation id", ref))
	}
	return ref, nil
}
