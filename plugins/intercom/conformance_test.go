package intercom_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/intercom/fake"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

// icBinary builds the plugin and installs it, named as livechatd wants it.
func icBinary(t *testing.T) string {
	return sdktest.Install(t, builds.Binary(t, "./cmd/livechat-provider-intercom"), t.TempDir(), "intercom")
}

// icPlatform adapts fake Intercom workspaces to the conformance suite. An
// Intercom app has one webhook subscription, so each bot gets a workspace
// (a fake) of its own.
type icPlatform struct {
	t        *testing.T
	stateDir string // the plugin's own state: sdktest's stand-in host keeps none

	fakes *sdktest.Fakes[*fake.Server]
}

var (
	_ sdktest.Platform        = (*icPlatform)(nil)
	_ sdktest.WebhookPlatform = (*icPlatform)(nil)
	_ sdktest.FaultPlatform   = (*icPlatform)(nil)
	_ sdktest.NotePlatform    = (*icPlatform)(nil)
	_ sdktest.DropPlatform    = (*icPlatform)(nil)
	_ sdktest.ContextPlatform = (*icPlatform)(nil)
)

// newICPlatform gives each bot a fake workspace, made on first use.
func newICPlatform(t *testing.T) *icPlatform {
	return &icPlatform{t: t, stateDir: t.TempDir(), fakes: sdktest.NewFakes(func(string) *fake.Server {
		// The user's own replies are subscribed to as well: the plugin
		// must ignore their echoes.
		return fake.New(t, fake.Options{Topics: []string{"conversation"}})
	})}
}

func (p *icPlatform) Config(bot string) sdk.Config {
	f := p.fakes.Of(bot)
	return sdk.Config{"base_url": f.URL, "access_token": f.Token(), "client_secret": f.ClientSecret(),
		"admin_id": fake.DefaultAdminID, "app_id": f.AppID(), "state_dir": p.stateDir}
}

func (p *icPlatform) conv(t sdktest.Ticket) (fake.Conversation, error) {
	cv, ok := p.fakes.Of(t.Bot).Conversation(t.Ref)
	if !ok {
		return cv, fmt.Errorf("no conversation %q", t.Ref)
	}
	return cv, nil
}

func (p *icPlatform) Received(t sdktest.Ticket) (sdktest.Received, error) {
	cv, err := p.conv(t)
	if err != nil {
		return sdktest.Received{}, err
	}
	return sdktest.Received{Messages: p.fakes.Of(t.Bot).UserTexts(cv.ID), Closed: cv.State == "closed"}, nil
}

func (p *icPlatform) TicketText(t sdktest.Ticket) (string, error) {
	cv, err := p.conv(t)
	if err != nil {
		return "", err
	}
	parts := []string{fake.Text(cv.Body)}
	for _, c := range p.fakes.Of(t.Bot).Contacts() {
		if c.ID == cv.ContactID {
			parts = append(parts, c.Name, c.Email)
		}
	}
	return strings.Join(parts, "\n"), nil
}

func (p *icPlatform) AgentReply(t sdktest.Ticket, text string) (string, error) {
	if _, err := p.conv(t); err != nil {
		return "", err
	}
	p.fakes.Of(t.Bot).AgentReply(t.Ref, "Ann", text)
	return text, nil
}

func (p *icPlatform) AgentNote(t sdktest.Ticket, text string) error {
	if _, err := p.conv(t); err != nil {
		return err
	}
	p.fakes.Of(t.Bot).AgentNote(t.Ref, "Ann", text)
	return nil
}

func (p *icPlatform) AgentClose(t sdktest.Ticket) error {
	if _, err := p.conv(t); err != nil {
		return err
	}
	p.fakes.Of(t.Bot).Close(t.Ref, "Ann")
	return nil
}

func (p *icPlatform) PointWebhooks(bot, url string) error {
	p.fakes.Of(bot).SetWebhookURL(url)
	return nil
}

func (p *icPlatform) WaitDelivered() error {
	for _, f := range p.fakes.All() {
		f.WaitIdle(p.t)
	}
	return nil
}

// Fail fails every call of every workspace with status until Heal; a
// Retry-After is set as asked (Intercom's own 429 carries none: see
// TestRateLimitResetBecomesRetryAfter).
func (p *icPlatform) Fail(status int, after time.Duration) {
	h := http.Header{}
	if after > 0 {
		h.Set("Retry-After", strconv.Itoa(int(after/time.Second)))
	}
	for _, f := range p.fakes.All() {
		f.Fail(fake.Fault{Status: status, Header: h})
	}
}

func (p *icPlatform) Heal() {
	for _, f := range p.fakes.All() {
		f.Heal()
	}
}

func (p *icPlatform) DropWebhooks(on bool) {
	for _, f := range p.fakes.All() {
		f.DropWebhooks(on)
	}
}

// TestIntercomConformance runs sdktest's conformance suite against the
// built plugin and fake Intercom workspaces, its webhook checks also
// through a built livechatd.
func TestIntercomConformance(t *testing.T) {
	livechatd := builds.Binary(t, "github.com/livechatd/livechatd/host/cmd/livechatd")
	rep := sdktest.Conformance(t, sdktest.Suite{Binary: icBinary(t), Livechatd: livechatd, Platform: newICPlatform(t)})
	rep.Require(t)
}
