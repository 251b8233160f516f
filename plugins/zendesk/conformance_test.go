package zendesk_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/zendesk/fake"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

// zdBinary builds the plugin and installs it as an operator would.
func zdBinary(t *testing.T) string {
	t.Helper()
	return sdktest.Install(t, builds.Binary(t, "github.com/livechatd/livechatd/plugins/zendesk/cmd/livechat-provider-zendesk"), t.TempDir(), "zendesk")
}

// zdPlatform adapts fake Zendesk accounts to the conformance suite: each
// bot gets an account of its own.
type zdPlatform struct {
	t *testing.T

	fakes *sdktest.Fakes[*fake.Server]
}

var (
	_ sdktest.Platform        = (*zdPlatform)(nil)
	_ sdktest.WebhookPlatform = (*zdPlatform)(nil)
	_ sdktest.FaultPlatform   = (*zdPlatform)(nil)
	_ sdktest.NotePlatform    = (*zdPlatform)(nil)
	_ sdktest.DropPlatform    = (*zdPlatform)(nil)
	_ sdktest.ContextPlatform = (*zdPlatform)(nil)
)

// newZDPlatform gives each bot a fake account, made on first use.
func newZDPlatform(t *testing.T) *zdPlatform {
	return &zdPlatform{t: t, fakes: sdktest.NewFakes(func(string) *fake.Server {
		return fake.New(t, fake.Options{Secret: "whsec-zd-conformance", RetryWait: func(time.Duration) time.Duration { return 10 * time.Millisecond }})
	})}
}

func (p *zdPlatform) Config(bot string) sdk.Config {
	f := p.fakes.Of(bot)
	return sdk.Config{"base_url": f.URL, "email": f.Email(), "api_token": f.Token(), "webhook_secret": f.Secret(), "plan": "enterprise"}
}

func zdTicket(t sdktest.Ticket) (int64, error) { return strconv.ParseInt(t.Ref, 10, 64) }

func (p *zdPlatform) Received(t sdktest.Ticket) (sdktest.Received, error) {
	f := p.fakes.Of(t.Bot)
	id, err := zdTicket(t)
	if err != nil {
		return sdktest.Received{}, err
	}
	tk, ok := f.Ticket(id)
	if !ok {
		return sdktest.Received{}, fmt.Errorf("no ticket %d", id)
	}
	got := sdktest.Received{Closed: tk.Status == "solved" || tk.Status == "closed"}
	for _, c := range f.Comments(id) {
		if c.AuthorID == tk.RequesterID && c.Public {
			got.Messages = append(got.Messages, c.Body)
		}
	}
	return got, nil
}

func (p *zdPlatform) TicketText(t sdktest.Ticket) (string, error) {
	f := p.fakes.Of(t.Bot)
	id, err := zdTicket(t)
	if err != nil {
		return "", err
	}
	tk, ok := f.Ticket(id)
	if !ok {
		return "", fmt.Errorf("no ticket %d", id)
	}
	parts := []string{tk.Subject}
	if u, ok := f.User(tk.RequesterID); ok {
		parts = append(parts, u.Name, u.Email, fmt.Sprint(u.UserFields))
	}
	for _, c := range f.Comments(id) {
		parts = append(parts, c.Body)
	}
	return strings.Join(parts, "\n"), nil
}

func (p *zdPlatform) AgentReply(t sdktest.Ticket, text string) (string, error) {
	id, err := zdTicket(t)
	if err == nil {
		_, err = p.fakes.Of(t.Bot).AgentReply(id, "Ann", text)
	}
	return text, err
}

func (p *zdPlatform) AgentNote(t sdktest.Ticket, text string) error {
	id, err := zdTicket(t)
	if err == nil {
		_, err = p.fakes.Of(t.Bot).PrivateNote(id, "Ann", text)
	}
	return err
}

func (p *zdPlatform) AgentClose(t sdktest.Ticket) error {
	id, err := zdTicket(t)
	if err == nil {
		err = p.fakes.Of(t.Bot).Solve(id, "Ann")
	}
	return err
}

func (p *zdPlatform) PointWebhooks(bot, url string) error {
	p.fakes.Of(bot).SetWebhookURL(url)
	return nil
}

func (p *zdPlatform) WaitDelivered() error {
	for _, f := range p.fakes.All() {
		f.WaitIdle(p.t)
	}
	return nil
}

func (p *zdPlatform) Fail(status int, after time.Duration) {
	for _, f := range p.fakes.All() {
		f.Fail(fake.Fault{Status: status, RetryAfter: after})
	}
}

func (p *zdPlatform) Heal() {
	for _, f := range p.fakes.All() {
		f.Heal()
	}
}

func (p *zdPlatform) DropWebhooks(on bool) {
	for _, f := range p.fakes.All() {
		f.DropWebhooks(on)
	}
}

// TestZendeskConformance runs sdktest's conformance suite against the
// built plugin and fake Zendesk accounts, its webhook checks also through
// a built livechatd.
func TestZendeskConformance(t *testing.T) {
	livechatd := builds.Binary(t, "github.com/livechatd/livechatd/host/cmd/livechatd")
	rep := sdktest.Conformance(t, sdktest.Suite{Binary: zdBinary(t), Livechatd: livechatd, Platform: newZDPlatform(t)})
	rep.RequireAll(t)
}
