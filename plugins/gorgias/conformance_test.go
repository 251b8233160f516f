package gorgias

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// sandboxPlatform adapts the Gorgias sandbox to the conformance suite: one
// account for every bot, each bot with its own two HTTP integrations, as
// README.md tells an operator to create them.
type sandboxPlatform struct {
	t  *testing.T
	sb *sandbox.Sandbox
}

var (
	_ sdktest.Platform        = sandboxPlatform{}
	_ sdktest.WebhookPlatform = sandboxPlatform{}
	_ sdktest.FaultPlatform   = sandboxPlatform{}
	_ sdktest.NotePlatform    = sandboxPlatform{}
	_ sdktest.DropPlatform    = sandboxPlatform{}
	_ sdktest.ContextPlatform = sandboxPlatform{}
)

func (p sandboxPlatform) Config(string) sdk.Config {
	return sdk.Config{"base_url": p.sb.BaseURL(), "email": sandbox.DefaultEmail, "api_key": sandbox.DefaultAPIKey}
}

func (p sandboxPlatform) ticket(t sdktest.Ticket) (int64, error) {
	return strconv.ParseInt(t.Ref, 10, 64)
}

func (p sandboxPlatform) Received(t sdktest.Ticket) (sdktest.Received, error) {
	id, err := p.ticket(t)
	if err != nil {
		return sdktest.Received{}, err
	}
	tk, err := p.sb.Ticket(id)
	if err != nil {
		return sdktest.Received{}, err
	}
	msgs, err := p.sb.Messages(id)
	if err != nil {
		return sdktest.Received{}, err
	}
	got := sdktest.Received{Closed: tk.Status == "closed"}
	for _, m := range msgs {
		if !m.FromAgent {
			got.Messages = append(got.Messages, string(m.BodyText))
		}
	}
	return got, nil
}

func (p sandboxPlatform) TicketText(t sdktest.Ticket) (string, error) {
	id, err := p.ticket(t)
	if err != nil {
		return "", err
	}
	tk, err := p.sb.Ticket(id)
	if err != nil {
		return "", err
	}
	msgs, err := p.sb.Messages(id)
	if err != nil {
		return "", err
	}
	parts := []string{string(tk.Subject)}
	if tk.Customer != nil {
		// What the agent sees of the customer: the sidebar shows its
		// data, where the plugin keeps the user's other metadata.
		for _, c := range p.sb.Customers() {
			if c.ID == tk.Customer.ID {
				data, _ := json.Marshal(c.Data)
				parts = append(parts, string(c.Name), string(c.Email), string(c.Note), string(data))
			}
		}
	}
	for _, m := range msgs {
		parts = append(parts, string(m.BodyText))
	}
	return strings.Join(parts, "\n"), nil
}

func (p sandboxPlatform) AgentReply(t sdktest.Ticket, text string) (string, error) {
	id, err := p.ticket(t)
	if err == nil {
		_, err = p.sb.Reply(id, "", text)
	}
	return text, err
}

func (p sandboxPlatform) AgentNote(t sdktest.Ticket, text string) error {
	id, err := p.ticket(t)
	if err == nil {
		_, err = p.sb.Note(id, "", text)
	}
	return err
}

func (p sandboxPlatform) AgentClose(t sdktest.Ticket) error {
	id, err := p.ticket(t)
	if err == nil {
		_, err = p.sb.CloseTicket(id, "")
	}
	return err
}

func (p sandboxPlatform) PointWebhooks(_, url string) error {
	if _, err := p.sb.CreateIntegration(sandbox.Integration{Name: "livechatd messages", Type: "http", HTTP: sandbox.HTTPConfig{
		URL: url + "&" + WebhookQuery, Method: "GET", Triggers: map[string]bool{sandbox.TriggerTicketMessageCreated: true}}}); err != nil {
		return err
	}
	_, err := p.sb.CreateIntegration(sandbox.Integration{Name: "livechatd status", Type: "http", HTTP: sandbox.HTTPConfig{
		URL: url, Method: "POST", Body: StatusTemplate, RequestContentType: "application/json",
		Triggers: map[string]bool{"ticket-status-updated": true}}})
	return err
}

func (p sandboxPlatform) WaitDelivered() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.sb.WaitIdle(ctx)
}

func (p sandboxPlatform) Fail(status int, after time.Duration) {
	p.sb.AddFault(sandbox.Fault{Status: status, Count: 1000, RetryAfter: after})
}

func (p sandboxPlatform) Heal() { p.sb.ClearFaults() }

func (p sandboxPlatform) DropWebhooks(on bool) {
	if on {
		p.sb.DropWebhooks()
	} else {
		p.sb.ClearWebhookFaults()
	}
}

// TestConformanceSuite runs sdktest's conformance suite against the built
// plugin and the sandbox, its webhook checks also through a built
// livechatd.
func TestConformanceSuite(t *testing.T) {
	sb := sandbox.Start(t, sandbox.Options{BucketCapacity: -1, Backoff: sandbox.NoBackoff})
	bin := sdktest.Install(t, builds.Binary(t, "./cmd/livechat-provider-gorgias"), t.TempDir(), "gorgias")
	livechatd := builds.Binary(t, "github.com/livechatd/livechatd/host/cmd/livechatd")
	rep := sdktest.Conformance(t, sdktest.Suite{Binary: bin, Livechatd: livechatd, Platform: sandboxPlatform{t: t, sb: sb}})
	rep.Require(t)
}
