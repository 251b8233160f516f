package main

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

// TestConformance builds this plugin, launches it as livechatd does and
// runs the conformance suite against it and the fake Helpdesk.
func TestConformance(t *testing.T) {
	bin := sdktest.Install(t, builds.Binary(t, "."), t.TempDir(), "helpdesk")
	rep := sdktest.Conformance(t, sdktest.Suite{Binary: bin, Platform: helpdesk{newFakeHelpdesk(t)}})
	rep.Require(t)
}

// helpdesk adapts the fake to the suite: it says what a ticket received
// and plays the agent.
type helpdesk struct{ f *fakeHelpdesk }

var (
	_ sdktest.Platform        = helpdesk{}
	_ sdktest.WebhookPlatform = helpdesk{}
	_ sdktest.FaultPlatform   = helpdesk{}
	_ sdktest.NotePlatform    = helpdesk{}
	_ sdktest.DropPlatform    = helpdesk{}
	_ sdktest.ContextPlatform = helpdesk{}
)

// Config gives each bot an account of its own.
func (h helpdesk) Config(bot string) sdk.Config {
	return sdk.Config{"base_url": h.f.srv.URL, "api_token": "token-" + bot, "webhook_secret": h.f.secret}
}

// find is the ticket of t; the lock is held.
func (h helpdesk) find(t sdktest.Ticket) (*fakeTicket, error) {
	id, _ := strconv.ParseInt(t.Ref, 10, 64)
	if tk := h.f.tickets[id]; tk != nil {
		return tk, nil
	}
	return nil, fmt.Errorf("helpdesk has no ticket %q", t.Ref)
}

func (h helpdesk) Received(t sdktest.Ticket) (sdktest.Received, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	tk, err := h.find(t)
	if err != nil {
		return sdktest.Received{}, err
	}
	got := sdktest.Received{Closed: tk.Closed}
	for _, m := range tk.Messages {
		if m.Author == "customer" {
			got.Messages = append(got.Messages, m.Body)
		}
	}
	return got, nil
}

func (h helpdesk) write(t sdktest.Ticket, author, text string) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	tk, err := h.find(t)
	if err == nil {
		h.f.add(tk, author, text, "")
	}
	return err
}

func (h helpdesk) AgentReply(t sdktest.Ticket, text string) (string, error) {
	return text, h.write(t, "agent", text)
}

func (h helpdesk) AgentNote(t sdktest.Ticket, text string) error { return h.write(t, "note", text) }

func (h helpdesk) AgentClose(t sdktest.Ticket) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	tk, err := h.find(t)
	if err == nil {
		h.f.close(tk)
	}
	return err
}

func (h helpdesk) TicketText(t sdktest.Ticket) (string, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	tk, err := h.find(t)
	if err != nil {
		return "", err
	}
	return tk.Subject + "\n" + tk.Description, nil
}

// PointWebhooks is what the operator does with `livechatd webhook-url`.
func (h helpdesk) PointWebhooks(bot, url string) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	h.f.hooks["token-"+bot] = url
	return nil
}

func (h helpdesk) WaitDelivered() error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	for h.f.delivering {
		h.f.idle.Wait()
	}
	return nil
}

func (h helpdesk) Fail(status int, retryAfter time.Duration) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	h.f.failStatus, h.f.failAfter = status, retryAfter
}

func (h helpdesk) Heal() { h.Fail(0, 0) }

func (h helpdesk) DropWebhooks(on bool) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	h.f.drop = on
}
