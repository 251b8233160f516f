// Command livechat-provider-helpdesk connects livechatd to Helpdesk, a
// small ticketing platform with a REST API and signed webhooks: the
// pattern of Gorgias, Chatwoot, Zendesk and most others. It is the
// webhook-style example of sdk/README.md, built with the SDK and its kit
// only: sdk/platform calls the API, sdk/webhook checks the signatures.
//
// Helpdesk has no idempotency keys, but it keeps an external_id on
// tickets and messages and can search tickets by it: a retried start finds
// the ticket the first try opened, a retried send the message it posted.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
	"github.com/livechatd/livechatd/sdk/webhook"
)

var info = sdk.Info{
	Name:         "helpdesk", // the binary is livechat-provider-helpdesk
	Version:      "0.1.0",
	Description:  "Helpdesk tickets, agent replies by signed webhook",
	Capabilities: []sdk.Capability{sdk.CapWebhook, sdk.CapCloseTicket},
	RateLimit:    sdk.RateLimit{Calls: 100, Per: time.Minute},
	Schema: sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "base_url", Type: sdk.String, Required: true, URL: true,
			Description: "the account's address, e.g. https://acme.helpdesk.example"},
		{Name: "api_token", Type: sdk.String, Required: true, Sensitive: true,
			Description: "an API token of the account (Settings → API)"},
		{Name: "webhook_secret", Type: sdk.String, Required: true, Sensitive: true,
			Description: "the secret Helpdesk signs its webhooks with"},
	}},
}

// signature is how Helpdesk signs a webhook: X-Helpdesk-Signature is
// "sha256=" and the hex HMAC-SHA256 of "<unix time>.<body>", the time in
// X-Helpdesk-Timestamp.
var signature = webhook.Scheme{Hash: sha256.New, Encoding: webhook.Hex, Prefix: "sha256=",
	SignatureHeader: "X-Helpdesk-Signature", TimestampHeader: "X-Helpdesk-Timestamp",
	Join: ".", Tolerance: 5 * time.Minute}

// account is one bot's Helpdesk account.
type account struct {
	api    *platform.Client
	secret string
}

// provider serves every bot configured with helpdesk.
type provider struct {
	mu   sync.Mutex
	bots map[string]account
}

func main() { sdk.Serve(info, &provider{bots: map[string]account{}}) }

// Configure is called for every bot at start and again after a restart of
// the plugin: it replaces the bot's account.
func (p *provider) Configure(_ context.Context, bot string, cfg sdk.Config, _ sdk.Host) error {
	var c struct {
		BaseURL       string `json:"base_url"`
		APIToken      string `json:"api_token"`
		WebhookSecret string `json:"webhook_secret"`
	}
	if err := cfg.Decode(&c); err != nil {
		return sdk.Permanent(err)
	}
	api, err := platform.New(platform.Options{
		Name:    "helpdesk",
		BaseURL: strings.TrimSuffix(c.BaseURL, "/") + "/api/",
		Auth:    platform.BearerToken(c.APIToken),
		Secrets: []string{c.WebhookSecret},
	})
	if err != nil {
		return sdk.Permanent(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bots[bot] = account{api: api, secret: c.WebhookSecret}
	return nil
}

func (p *provider) account(bot string) (account, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.bots[bot]
	if !ok {
		return account{}, sdk.NotFound("bot %q is not configured", bot)
	}
	return a, nil
}

// DescribeWebhooks tells the operator, through `livechatd webhook-url`,
// where in the bot's own account to create the webhook.
func (p *provider) DescribeWebhooks(_ context.Context, _ string, cfg sdk.Config) ([]sdk.WebhookSetup, error) {
	return []sdk.WebhookSetup{{
		Name:     "events",
		Method:   http.MethodPost,
		Triggers: []string{"message.created", "ticket.closed"},
		Instructions: "In " + strings.TrimSuffix(cfg.String("base_url"), "/") + "/settings/webhooks, add a webhook " +
			"with this URL and copy its signing secret into the bot's webhook_secret.",
	}}, nil
}

// Helpdesk's API objects.
type ticket struct {
	ID          int64     `json:"id"`
	ExternalID  string    `json:"external_id"`
	Subject     string    `json:"subject"`
	Description string    `json:"description"`
	Closed      bool      `json:"closed"`
	Messages    []message `json:"messages,omitempty"`
}

type message struct {
	ID         int64  `json:"id"`
	Author     string `json:"author"` // "customer", "agent" or "note"
	Body       string `json:"body"`
	ExternalID string `json:"external_id,omitempty"`
}

// StartSession opens a ticket whose external_id is the session id, so a
// retried start finds it, and posts the messages already waiting.
func (p *provider) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	a, err := p.account(req.Bot)
	if err != nil {
		return sdk.StartResult{}, err
	}
	var found []ticket
	if err := a.api.Do(ctx, http.MethodGet, "tickets", url.Values{"external_id": {req.SessionID}}, nil, &found); err != nil {
		return sdk.StartResult{}, err
	}
	var t ticket
	if len(found) > 0 {
		t = found[0]
	} else {
		in := ticket{ExternalID: req.SessionID, Subject: "Live chat with " + name(req.User), Description: summary(req)}
		if err := a.api.Do(ctx, http.MethodPost, "tickets", nil, in, &t); err != nil {
			return sdk.StartResult{}, err
		}
	}
	ref := strconv.FormatInt(t.ID, 10)
	for i, m := range req.Messages {
		if _, err := a.post(ctx, ref, m, req.IdempotencyKey+"/"+strconv.Itoa(i)); err != nil {
			return sdk.StartResult{}, err
		}
	}
	return sdk.StartResult{Ref: ref}, nil
}

func name(u sdk.User) string {
	first, _ := u.Metadata["firstname"].(string)
	last, _ := u.Metadata["lastname"].(string)
	if n := strings.TrimSpace(first + " " + last); n != "" {
		return n
	}
	return "user " + u.ID
}

// summary is what the agent reads first: who the user says they are
// (marked unverified unless the channel vouches for it) and the
// conversation with the bot.
func summary(req sdk.StartRequest) string {
	var b strings.Builder
	if !req.User.Verified {
		b.WriteString("Unverified details (typed by the user):\n")
	}
	keys := make([]string, 0, len(req.User.Metadata))
	for k := range req.User.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %v\n", k, req.User.Metadata[k])
	}
	b.WriteString("\nConversation with the bot:\n")
	for _, m := range req.Transcript {
		fmt.Fprintf(&b, "  %s: %s\n", m.Author.Type, m.PlainText())
	}
	return b.String()
}

// SendMessage posts one user message, once per IdempotencyKey.
func (p *provider) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	a, err := p.account(req.Bot)
	if err != nil {
		return sdk.SendResult{}, err
	}
	id, err := a.post(ctx, req.Ref, req.Message, req.IdempotencyKey)
	return sdk.SendResult{PlatformMessageID: id}, err
}

// post posts m to the ticket unless a message with external_id key is
// there already: the try before this one may have posted it and failed
// before it could answer.
func (a account) post(ctx context.Context, ref string, m sdk.Message, key string) (string, error) {
	var t ticket
	if err := a.api.Do(ctx, http.MethodGet, "tickets/"+ref, nil, nil, &t); err != nil {
		return "", err
	}
	for _, old := range t.Messages {
		if old.ExternalID == key {
			return strconv.FormatInt(old.ID, 10), nil
		}
	}
	var posted message
	in := message{Body: m.PlainText(), ExternalID: key}
	if err := a.api.Do(ctx, http.MethodPost, "tickets/"+ref+"/messages", nil, in, &posted); err != nil {
		return "", err
	}
	return strconv.FormatInt(posted.ID, 10), nil
}

// EndSession closes the ticket. The host also calls it after an agent
// closed the ticket (reason agent), so closing a closed ticket succeeds,
// and a ticket Helpdesk no longer knows counts as closed.
func (p *provider) EndSession(ctx context.Context, req sdk.EndRequest) error {
	a, err := p.account(req.Bot)
	if err != nil {
		return err
	}
	err = a.api.Do(ctx, http.MethodPost, "tickets/"+req.Ref+"/close", nil, nil, nil)
	if sdk.KindOf(err) == sdk.KindNotFound {
		return nil
	}
	return err
}

// hook is the body of Helpdesk's webhook.
type hook struct {
	Event   string  `json:"event"` // "message.created" or "ticket.closed"
	Ticket  ticket  `json:"ticket"`
	Message message `json:"message"`
}

// HandleWebhook checks the signature, then turns an agent's message into
// an agent_message and a closed ticket into session_closed. The host has
// checked the URL's token and removed it; it drops events it has seen.
func (p *provider) HandleWebhook(_ context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	a, err := p.account(req.Bot)
	if err != nil {
		return sdk.WebhookResult{}, err
	}
	if err := signature.Verify(a.secret, req.Header, req.Body, time.Now()); err != nil {
		return sdk.WebhookResult{}, sdk.Unauthorized("helpdesk webhook: %v", err)
	}
	var h hook
	if err := json.Unmarshal(req.Body, &h); err != nil {
		return sdk.WebhookResult{}, sdk.Permanent(fmt.Errorf("helpdesk webhook body: %w", err))
	}
	ref := strconv.FormatInt(h.Ticket.ID, 10)
	switch {
	case h.Event == "ticket.closed":
		closed := sdk.Event{ID: "closed:" + ref, Type: sdk.EventSessionClosed, SessionID: h.Ticket.ExternalID, Ref: ref}
		return sdk.WebhookResult{Events: []sdk.Event{closed}}, nil
	case h.Event == "message.created" && h.Message.Author == "agent":
		return sdk.WebhookResult{Events: []sdk.Event{agentEvent(h.Ticket, h.Message)}}, nil
	}
	// The user's own messages come back too, and notes are for agents:
	// answer 200 with no events.
	return sdk.WebhookResult{}, nil
}

// agentEvent is an agent's message as an event. Its ID is Helpdesk's
// message id, never the text: an agent who writes "ok" twice sends two
// messages.
func agentEvent(t ticket, m message) sdk.Event {
	msg := sdk.Text(m.Body)
	msg.Author = sdk.Author{Type: sdk.AuthorAgent}
	return sdk.Event{ID: "message:" + strconv.FormatInt(m.ID, 10), Type: sdk.EventAgentMessage,
		SessionID: t.ExternalID, Ref: strconv.FormatInt(t.ID, 10), Message: msg}
}

// ReadSession reads the ticket back when webhooks were lost: the agent's
// messages after the cursor (a message id), with the IDs the webhook
// gives them, and whether the ticket is closed. Implementing it adds the
// read_session capability.
func (p *provider) ReadSession(ctx context.Context, req sdk.ReadRequest) (sdk.ReadResult, error) {
	a, err := p.account(req.Bot)
	if err != nil {
		return sdk.ReadResult{}, err
	}
	var t ticket
	if err := a.api.Do(ctx, http.MethodGet, "tickets/"+req.Ref, nil, nil, &t); err != nil {
		return sdk.ReadResult{}, err
	}
	after, _ := strconv.ParseInt(req.Cursor, 10, 64)
	res := sdk.ReadResult{Closed: t.Closed}
	for _, m := range t.Messages {
		if m.ID <= after {
			continue
		}
		if m.Author == "agent" {
			res.Events = append(res.Events, agentEvent(t, m))
		}
		res.Cursor = strconv.FormatInt(m.ID, 10)
	}
	return res, nil
}
