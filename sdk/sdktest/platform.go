package sdktest

import (
	"context"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// Platform is what a plugin author writes so that the conformance suite
// can judge their provider: a small adapter to a fake of their platform
// (an httptest server that behaves like the real API). The suite plays the
// host and the user; the adapter tells it what the platform received and
// plays the agent.
//
// Optional abilities are further interfaces the adapter may implement:
// WebhookPlatform (required when the plugin lists the webhook
// capability), FaultPlatform, NotePlatform, DropPlatform and
// ContextPlatform. A check whose ability is missing is reported as not
// applicable, with what to implement to run it.
type Platform interface {
	// Config is a valid config block for bot that points the plugin at the
	// fake. The suite configures several bots; each may get its own
	// account or the same one.
	Config(bot string) sdk.Config
	// Received is what the platform holds for the ticket: the texts of the
	// user's messages as the plugin posted them, oldest first, and whether
	// the ticket is closed.
	Received(t Ticket) (Received, error)
	// AgentReply makes an agent answer the ticket with text, the way an
	// agent does in the platform's UI, and returns the text the user
	// should get (usually text itself). The reply must reach the host by
	// the plugin's own way: a webhook or a push.
	AgentReply(t Ticket, text string) (string, error)
	// AgentClose makes an agent close (resolve) the ticket.
	AgentClose(t Ticket) error
}

// WebhookPlatform is a platform that calls the host's webhook URL.
type WebhookPlatform interface {
	// PointWebhooks points bot's webhooks at url (the host's webhook URL
	// with the bot's token), as an operator does with what `livechatd
	// webhook-url` prints.
	PointWebhooks(bot, url string) error
	// WaitDelivered waits until every webhook the platform has queued so
	// far has been delivered (or dropped).
	WaitDelivered() error
}

// FaultPlatform makes the platform's API fail.
type FaultPlatform interface {
	// Fail makes every API call answer status from now on, with a
	// Retry-After header of retryAfter when it is not zero, and the
	// platform's usual error body.
	Fail(status int, retryAfter time.Duration)
	// Heal ends Fail.
	Heal()
}

// NotePlatform lets an agent write a note the user must never see.
type NotePlatform interface {
	AgentNote(t Ticket, text string) error
}

// DropPlatform loses webhooks, as a platform does while the host is down.
type DropPlatform interface {
	// DropWebhooks drops every webhook from now on (true) or none (false).
	DropWebhooks(on bool)
}

// ContextPlatform shows what an agent reads on a ticket besides the
// user's messages: subject, notes, attributes, the bot's transcript.
type ContextPlatform interface {
	TicketText(t Ticket) (string, error)
}

// Received is what a platform holds for one ticket.
type Received struct {
	// Messages are the texts of the user's messages, oldest first.
	Messages []string
	// Closed says the ticket is closed (resolved).
	Closed bool
}

// Ticket is a session the suite opened, as the adapter sees it.
type Ticket struct {
	Bot       string
	SessionID string
	// Ref is what StartSession returned: the platform's reference.
	Ref string

	h *hostPath
	s *suiteRun
}

// Send sends the user message text to the ticket through the plugin (for
// platforms like echo whose agent answers the user's messages).
func (t Ticket) Send(ctx context.Context, text string) error {
	_, err := t.s.plugin().SendMessage(ctx, sdk.SendRequest{Bot: t.Bot, SessionID: t.SessionID, Ref: t.Ref,
		User: t.s.user(t.SessionID), Message: sdk.Text(text), IdempotencyKey: t.s.key()})
	return err
}

// Events are the events the host applied to the session so far, oldest
// first (replays dropped).
func (t Ticket) Events() []sdk.Event { return t.h.events(t.SessionID) }
