// Package sdk is what a livechatd provider plugin imports: plain Go types
// for the provider contract, error helpers that tell the host whether a retry
// can help, and Serve, the one call a plugin's main makes.
//
// A provider connects livechatd to one support platform (Gorgias, Chatwoot,
// Zendesk...). livechatd launches it as a separate process through
// hashicorp/go-plugin, over gRPC with mutual TLS, and one process serves
// every bot configured with that provider, so every call names its bot.
//
// A plugin is a main package built as livechat-provider-<name> and dropped
// into livechatd's plugin_dir:
//
//	func main() {
//		sdk.Serve(sdk.Info{Name: "acme", Version: "1.0.0", Schema: schema}, &acme{})
//	}
//
// The host checks each bot's `config {}` block against the Schema before the
// provider sees it (required and unknown attributes, types, defaults); a
// provider that needs more checks implements ConfigValidator. Errors returned
// by a provider should be classified with Retryable, RateLimited, Permanent,
// NotFound or Unauthorized: retryable work stays in livechatd's outbox and is
// tried again with backoff, permanent failures are dead-lettered at once.
//
// Every Event needs an ID (Event.ID): the platform's id of the message or
// event, unique within the conversation and the same each time the platform
// delivers it again. The host drops an event whose ID it has seen in the
// same session, and remembers an ID for retention.processed_events (30
// days by default) from when it first saw it; an agent sending the same
// text twice must yield two different IDs. The SDK
// refuses an event without an ID with an error naming Event.ID.
//
// A plugin's memory does not survive its process. On a platform without
// idempotency keys, keep what a call did (the ticket opened, the message
// posted) in the plugin state the host keeps for it, StateOf(host) from
// Configure: small values per session, durable across plugin and host
// restarts, so that a retry after a crash does not post twice.
//
// A panic in a provider method does not kill the plugin: the SDK recovers
// it, logs it with its stack, and fails that one call with a retryable error
// ("provider panicked in SendMessage: ..."). A panic in a goroutine of the
// provider's own still ends the process, which the host then restarts.
//
// Plugins log with Logger (hclog JSON on stderr, re-logged by the host under
// the plugin's name). Nothing may be printed on stdout, which carries the
// go-plugin handshake. The sdktest package checks a built plugin against the
// contract.
package sdk
