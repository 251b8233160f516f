package chatwoot_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/chatwoot/fake"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// fakePlatform adapts the fake Chatwoot to the conformance suite. A
// Chatwoot account has one account webhook, so each bot gets an account
// (a fake) of its own, as bots on one account would need one webhook each.
type fakePlatform struct {
	t *testing.T

	fakes *sdktest.Fakes[*fake.Server]
}

const conformanceSecret = "whsec-conformance"

var (
	_ sdktest.Platform        = (*fakePlatform)(nil)
	_ sdktest.WebhookPlatform = (*fakePlatform)(nil)
	_ sdktest.FaultPlatform   = (*fakePlatform)(nil)
	_ sdktest.NotePlatform    = (*fakePlatform)(nil)
	_ sdktest.DropPlatform    = (*fakePlatform)(nil)
	_ sdktest.ContextPlatform = (*fakePlatform)(nil)
)

// newFakePlatform gives each bot a fake account, made on first use.
func newFakePlatform(t *testing.T) *fakePlatform {
	return &fakePlatform{t: t, fakes: sdktest.NewFakes(func(string) *fake.Server {
		return fake.New(t, fake.Options{Secret: conformanceSecret})
	})}
}

func (p *fakePlatform) Config(bot string) sdk.Config {
	f := p.fakes.Of(bot)
	return sdk.Config{"base_url": f.URL, "account_id": strconv.FormatInt(f.AccountID(), 10), "api_access_token": f.Token(), "webhook_secret": conformanceSecret}
}

func conversation(t sdktest.Ticket) (int64, error) { return strconv.ParseInt(t.Ref, 10, 64) }

func (p *fakePlatform) Received(t sdktest.Ticket) (sdktest.Received, error) {
	f := p.fakes.Of(t.Bot)
	id, err := conversation(t)
	if err != nil {
		return sdktest.Received{}, err
	}
	cv, ok := f.Conversation(id)
	if !ok {
		return sdktest.Received{}, fmt.Errorf("no conversation %d", id)
	}
	got := sdktest.Received{Closed: cv.Status == "resolved"}
	for _, m := range f.Messages(id) {
		if m.MessageType == "incoming" {
			got.Messages = append(got.Messages, m.Content)
		}
	}
	return got, nil
}

func (p *fakePlatform) TicketText(t sdktest.Ticket) (string, error) {
	f := p.fakes.Of(t.Bot)
	id, err := conversation(t)
	if err != nil {
		return "", err
	}
	cv, ok := f.Conversation(id)
	if !ok {
		return "", fmt.Errorf("no conversation %d", id)
	}
	parts := []string{fmt.Sprint(cv.CustomAttributes), fmt.Sprint(cv.AdditionalAttributes)}
	for _, c := range f.Contacts() {
		if c.ID == cv.ContactID {
			parts = append(parts, c.Name, c.Email, fmt.Sprint(c.CustomAttributes))
		}
	}
	for _, m := range f.Messages(id) {
		parts = append(parts, m.Content)
	}
	return strings.Join(parts, "\n"), nil
}

func (p *fakePlatform) AgentReply(t sdktest.Ticket, text string) (string, error) {
	id, err := conversation(t)
	if err == nil {
		p.fakes.Of(t.Bot).AgentReply(id, "Alex", text)
	}
	return text, err
}

func (p *fakePlatform) AgentNote(t sdktest.Ticket, text string) error {
	id, err := conversation(t)
	if err == nil {
		p.fakes.Of(t.Bot).PrivateNote(id, "Alex", text)
	}
	return err
}

func (p *fakePlatform) AgentClose(t sdktest.Ticket) error {
	id, err := conversation(t)
	if err == nil {
		p.fakes.Of(t.Bot).Resolve(id, "Alex")
	}
	return err
}

func (p *fakePlatform) PointWebhooks(bot, url string) error {
	p.fakes.Of(bot).SetWebhookURL(url)
	return nil
}

func (p *fakePlatform) WaitDelivered() error {
	for _, f := range p.fakes.All() {
		f.WaitIdle(p.t)
	}
	return nil
}

// Fail fails the next message post of every account: the fake cannot fail
// every call until told otherwise, so Heal has nothing to undo.
func (p *fakePlatform) Fail(status int, after time.Duration) {
	ra := ""
	if after > 0 {
		ra = strconv.Itoa(int(after / time.Second))
	}
	for _, f := range p.fakes.All() {
		f.Fail(fake.Fault{Method: "POST", Path: "/messages", Status: status, RetryAfter: ra, Times: 1})
	}
}

func (p *fakePlatform) Heal() {}

func (p *fakePlatform) DropWebhooks(on bool) {
	for _, f := range p.fakes.All() {
		if on {
			f.DropWebhooks(fake.WebhookRule{})
		} else {
			f.ResumeWebhooks()
		}
	}
}

// TestConformanceSuite runs sdktest's conformance suite against the built
// plugin and fake Chatwoot accounts, its webhook checks also through a
// built livechatd.
func TestConformanceSuite(t *testing.T) {
	livechatd := builds.Binary(t, "github.com/livechatd/livechatd/host/cmd/livechatd")
	rep := sdktest.Conformance(t, sdktest.Suite{Binary: binary(t), Livechatd: livechatd, Platform: newFakePlatform(t)})
	rep.Require(t)
}
