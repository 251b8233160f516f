package freshdesk_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/freshdesk"
	"github.com/livechatd/livechatd/plugins/freshdesk/fake"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// fdPlatform adapts fake helpdesks to the conformance suite: each bot gets
// a helpdesk of its own, with the README's automation rule pointed at the
// bot's webhook URL. The rule also fires on "Note is added", as when an
// operator ticks it too: the user's notes then come back as echoes.
type fdPlatform struct {
	t *testing.T

	fakes *sdktest.Fakes[*fake.Server]
}

const fdSecret = "conformance-webhook-secret-0123456789"

var (
	_ sdktest.Platform        = (*fdPlatform)(nil)
	_ sdktest.WebhookPlatform = (*fdPlatform)(nil)
	_ sdktest.FaultPlatform   = (*fdPlatform)(nil)
	_ sdktest.NotePlatform    = (*fdPlatform)(nil)
	_ sdktest.DropPlatform    = (*fdPlatform)(nil)
	_ sdktest.ContextPlatform = (*fdPlatform)(nil)
)

// newFDPlatform gives each bot a fake helpdesk, made on first use.
func newFDPlatform(t *testing.T) *fdPlatform {
	return &fdPlatform{t: t, fakes: sdktest.NewFakes(func(bot string) *fake.Server {
		return fake.New(t, fake.Options{APIKey: "key-" + bot, Retries: []time.Duration{}})
	})}
}

func (p *fdPlatform) Config(bot string) sdk.Config {
	f := p.fakes.Of(bot)
	return sdk.Config{"base_url": f.URL, "api_key": f.APIKey(), "webhook_secret": fdSecret}
}

func fdTicketID(t sdktest.Ticket) (int64, error) { return strconv.ParseInt(t.Ref, 10, 64) }

func (p *fdPlatform) Received(t sdktest.Ticket) (sdktest.Received, error) {
	f := p.fakes.Of(t.Bot)
	id, err := fdTicketID(t)
	if err != nil {
		return sdktest.Received{}, err
	}
	tk, ok := f.Ticket(id)
	if !ok {
		return sdktest.Received{}, fmt.Errorf("no ticket %d", id)
	}
	got := sdktest.Received{Closed: tk.Status == fake.StatusClosed || tk.Status == fake.StatusResolved}
	for _, c := range f.Conversations(id) {
		if c.Source == fake.ConvNote && c.Incoming && !c.Private && c.UserID == tk.RequesterID {
			got.Messages = append(got.Messages, c.BodyText)
		}
	}
	return got, nil
}

func (p *fdPlatform) TicketText(t sdktest.Ticket) (string, error) {
	f := p.fakes.Of(t.Bot)
	id, err := fdTicketID(t)
	if err != nil {
		return "", err
	}
	tk, ok := f.Ticket(id)
	if !ok {
		return "", fmt.Errorf("no ticket %d", id)
	}
	parts := []string{tk.Subject, tk.DescriptionText}
	if c, ok := f.Contact(tk.RequesterID); ok {
		parts = append(parts, c.Name, c.Email)
	}
	for _, c := range f.Conversations(id) {
		parts = append(parts, c.BodyText)
	}
	return strings.Join(parts, "\n"), nil
}

func (p *fdPlatform) AgentReply(t sdktest.Ticket, text string) (string, error) {
	id, err := fdTicketID(t)
	if err == nil {
		_, err = p.fakes.Of(t.Bot).AgentReply(id, "Alex", text)
	}
	return text, err
}

func (p *fdPlatform) AgentNote(t sdktest.Ticket, text string) error {
	id, err := fdTicketID(t)
	if err == nil {
		_, err = p.fakes.Of(t.Bot).AgentNote(id, "Alex", text, true)
	}
	return err
}

func (p *fdPlatform) AgentClose(t sdktest.Ticket) error {
	id, err := fdTicketID(t)
	if err == nil {
		err = p.fakes.Of(t.Bot).SetStatus(id, "Alex", fake.StatusClosed)
	}
	return err
}

// fdRule is the README's rule for a webhook URL.
func fdRule(url string, events ...string) *fake.Rule {
	setup := freshdesk.Info.Webhooks[0]
	return &fake.Rule{Events: append(append([]string{}, setup.Triggers...), events...), Tag: "livechat", Method: setup.Method, URL: url,
		Headers: map[string]string{freshdesk.SecretHeader: fdSecret}, Body: setup.Body}
}

func (p *fdPlatform) PointWebhooks(bot, url string) error {
	p.fakes.Of(bot).SetRule(fdRule(url, "Note is added"))
	return nil
}

func (p *fdPlatform) WaitDelivered() error {
	for _, f := range p.fakes.All() {
		f.WaitIdle(p.t)
	}
	return nil
}

func (p *fdPlatform) Fail(status int, after time.Duration) {
	for _, f := range p.fakes.All() {
		f.Fail(fake.Fault{Status: status, RetryAfter: after})
	}
}

func (p *fdPlatform) Heal() {
	for _, f := range p.fakes.All() {
		f.Heal()
	}
}

func (p *fdPlatform) DropWebhooks(on bool) {
	for _, f := range p.fakes.All() {
		f.DropWebhooks(on)
	}
}

// TestFreshdeskConformance runs sdktest's conformance suite against the
// built plugin and fake helpdesks, its webhook checks also through a
// built livechatd.
func TestFreshdeskConformance(t *testing.T) {
	livechatd := builds.Binary(t, "github.com/livechatd/livechatd/host/cmd/livechatd")
	rep := sdktest.Conformance(t, sdktest.Suite{Binary: binary(t), Livechatd: livechatd, Platform: newFDPlatform(t)})
	rep.Require(t)
	for _, r := range rep {
		if r.Status != sdktest.Pass {
			t.Logf("%s: %s %v", r.Name, r.Status, r.Problems)
		}
	}
}
