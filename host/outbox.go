package host

import (
	"encoding/json"
	"time"
)

// OutboxKind is what an outbox item asks the worker to do.
type OutboxKind string

const (
	KindProviderStart   OutboxKind = "provider_start"   // open the ticket (StartSession)
	KindProviderSend    OutboxKind = "provider_send"    // a user message to the agent (SendMessage)
	KindProviderEnd     OutboxKind = "provider_end"     // close the ticket (EndSession)
	KindWebhook         OutboxKind = "webhook"          // a platform's webhook the plugin could not take at once
	KindBotNotice       OutboxKind = "bot_notice"       // tell the bot LIVECHAT_SESSION_* and deliver its reply
	KindChannelDelivery OutboxKind = "channel_delivery" // deliver messages to the user's channel
)

// OutboxState is where an outbox item is.
type OutboxState string

const (
	OutboxPending OutboxState = "pending" // waiting, being worked on, or waiting for a retry
	OutboxDone    OutboxState = "done"    // completed; kept so its Key still deduplicates
	OutboxDead    OutboxState = "dead"    // given up on; a dead letter for the admin API and metrics
)

// OutboxItem is one unit of work caused by a state change and committed in
// the same transaction (the transactional outbox). Items of one Queue are
// processed strictly in ID order, one at a time: a head that fails blocks
// the items behind it until it completes or goes dead.
type OutboxItem struct {
	ID        int64
	Key       string // idempotency key: unique, and passed on to the provider or channel
	Queue     string // ordering key: ProviderQueue, ChannelQueue or BotQueue
	Kind      OutboxKind
	SessionID string // empty for deliveries outside a session
	Payload   json.RawMessage

	Attempts      int       // failed attempts so far
	NextAttemptAt time.Time // not claimed before this
	LastError     string
	State         OutboxState

	// Claim is the token of the claim that handed the item out; Complete,
	// Retry, Dead and Release act only while it is the item's current
	// claim, so a worker whose lease ran out cannot undo a newer claim's work.
	Claim string

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Validate checks the fields a store relies on. It returns an *Error with
// code EINVALID and the offending field.
func (o *OutboxItem) Validate() error {
	switch {
	case o.Key == "":
		return &Error{Code: EINVALID, Field: "key", Message: "outbox key required"}
	case o.Queue == "":
		return &Error{Code: EINVALID, Field: "queue", Message: "outbox queue required"}
	case o.Kind == "":
		return &Error{Code: EINVALID, Field: "kind", Message: "outbox kind required"}
	case o.Payload != nil && !json.Valid(o.Payload):
		return &Error{Code: EINVALID, Field: "payload", Message: "outbox payload is not valid JSON"}
	}
	return nil
}

// ProviderQueue is the queue of a session's provider calls: the start, the
// user's messages and the end, in the order they were caused.
func ProviderQueue(sessionID string) string { return "provider:" + sessionID }

// ChannelQueue is the queue of the deliveries to a user: agent messages and
// the bot's answers to notices, in order, across sessions.
func ChannelQueue(bot, userID string) string { return "channel:" + bot + "/" + userID }

// WebhookQueue is the queue of a bot's platform webhooks that wait for the
// plugin, in the order they arrived.
func WebhookQueue(bot string) string { return "webhook:" + bot }

// BotQueue is the queue of the notices (LIVECHAT_SESSION_*) a bot hears
// about a user.
func BotQueue(bot, userID string) string { return "bot:" + bot + "/" + userID }

// OutboxStats counts outbox items by state, for metrics.
type OutboxStats struct {
	Pending int64
	Done    int64
	Dead    int64
}
