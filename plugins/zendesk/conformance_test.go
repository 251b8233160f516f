package zendesk_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
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

	mu    sync.Mutex
	fakes map[string]*fake.Server
}

var (
	_ sdktest.Platform        = (*zdPlatform)(nil)
	_ sdktest.WebhookPlatform = (*zdPlatform)(nil)
	_ sdktest.FaultPlatform   = (*zdPlatform)(nil)
	_ sdktest.NotePlatform    = (*zdPlatform)(nil)
	_ sdktest.DropPlatform    = (*zdPlatform)(nil)
	_ sdktest.ContextPlatform = (*zdPlatform)(nil)
)

func (p *zdPlatform) fake(bot string) *fake.Server {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.fakes[bot]
	if !ok {
		f = fake.New(p.t, fake.Options{Secret: "whsec-zd-conformance", RetryWait: func(time.Duration) time.Duration { return 10 * time.Millisecond }})
		p.fakes[bot] = f
	}
	return f
}

func (p *zdPlatform) all() []*fake.Server {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*fake.Server
	for _, f := range p.fakes {
		out = append(out, f)
	}
	return out
}

func (p *zdPlatform) Config(bot string) sdk.Config {
	f := p.fake(bot)
	return sdk.Config{"base_url": f.URL, "email": f.Email(), "api_token": f.Token(), "webhook_secret": f.Secret(), "plan": "enterprise"}
}

func zdTicket(t sdktest.Ticket) (int64, error) { return strconv.ParseInt(t.Ref, 10, 64) }

func (p *zdPlatform) Received(t sdktest.Ticket) (sdktest.Received, error) {
	f := p.fake(t.Bot)
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
	f := p.fake(t.Bot)
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
		_, err = p.fake(t.Bot).AgentReply(id, "Ann", text)
	}
	return text, err
}

func (p *zdPlatform) AgentNote(t sdktest.Ticket, text string) error {
	id, err := zdTicket(t)
	if err == nil {
		_, err = p.fake(t.Bot).PrivateNote(id, "Ann", text)
	}
	return err
}

func (p *zdPlatform) AgentClose(t sdktest.Ticket) error {
	id, err := zdTicket(t)
	if err == nil {
		err = p.fake(t.Bot).Solve(id, "Ann")
	}
	return err
}

func (p *zdPlatform) PointWebhooks(bot, url string) error {
	p.fake(bot).SetWebhookURL(url)
	return nil
}

func (p *zdPlatform) WaitDelivered() error {
	for _, f := range p.all() {
		f.WaitIdle(p.t)
	}
	return nil
}

func (p *zdPlatform) Fail(status int, after time.Duration) {
	for _, f := range p.all() {
		f.Fail(fake.Fault{Status: status, RetryAfter: after})
	}
}

func (p *zdPlatform) Heal() {
	for _, f := range p.all() {
		f.Heal()
	}
}

func (p *zdPlatform) DropWebhooks(on bool) {
	for _, f := range p.all() {
		f.DropWebhooks(on)
	}
}

// TestZendeskConformance runs sdktest's conformance suite against the
// built plugin and fake Zendesk accounts, its webhook checks also through
// a built livechatd.
func TestZendeskConformance(t *testing.T) {
	livechatd := builds.Binary(t, "github.com/livechatd/livechatd/host/cmd/livechatd")
	rep := sdktest.Conformance(t, sdktest.Suite{Binary: zdBinary(t), Livechatd: livechatd, Platform: &zdPlatform{t: t, fakes: map[string]*fake.Server{}}})
	for _, r := range rep {
		if r.Status == sdktest.NotApplicable {
			t.Errorf("check %s not applicable: %v", r.Name, r.Problems)
		}
	}
	if failed := rep.Failed(); len(failed) > 0 {
		t.Errorf("failed checks: %v", failed)
	}
}
