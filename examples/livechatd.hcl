# livechatd example configuration, what `make run` starts: the bot "demo" is
# handed off to Gorgias — here the Gorgias sandbox of plugins/gorgias/sandbox,
# with its agent desk at http://127.0.0.1:7000/desk — and the bot "echo" to
# the echo provider, an "agent" that answers every message itself. Both use
# the built-in webchat: http://127.0.0.1:8080/chat/demo and /chat/echo.
#
#   make run            # builds everything and starts livechatd with this file
#   livechatd validate -config examples/livechatd.hcl
#
# Relative paths are relative to this file's directory (examples/), hence the
# "../" below: `make build` writes the plugins to bin/plugins at the top.
# env("NAME", "default") reads an environment variable, with a default for
# development; without a default a missing variable is an error. Secrets
# (admin_token, channel_secret, webhook_token) never appear in logs.
# The "dev-…" defaults below are published, so anyone can guess them:
# validate and serve warn about each, and serve refuses them when listen is
# not a loopback address. Outside development set each variable to a random
# value of at least 16 bytes (openssl rand -hex 32).

# The ports are the demo's (make run): LIVECHAT_PORT, DEMO_BOT_PORT and SANDBOX_PORT.
listen     = "127.0.0.1:${env("LIVECHAT_PORT", "8080")}"
public_url = "http://127.0.0.1:${env("LIVECHAT_PORT", "8080")}" # how the platforms reach us; webhook URLs are printed from it
plugin_dir = "../bin/plugins"
log_level  = "info" # trace, debug, info, warn or error

# Bearer token of the admin API (/v1/sessions...): set LIVECHAT_ADMIN_TOKEN outside dev.
admin_token = env("LIVECHAT_ADMIN_TOKEN", "dev-admin-token")

# Pins make the host refuse a plugin binary whose sha256 differs:
#   plugin "echo" { sha256 = "<sha256sum bin/plugins/livechat-provider-echo>" }
# require_checksums = true makes a pin mandatory for every provider in use.
require_checksums = false

# SQLite is the default. synchronous = "full" also survives a power loss.
storage "sqlite" {
  path        = "../data/livechat.db"
  synchronous = "normal"
}
# storage "postgres" { dsn = env("DATABASE_URL") }   # for several replicas

bot "demo" {
  provider        = "gorgias"
  session_timeout = "30m"       # no message either way for this long ends the session (at most 168h)
  start_timeout   = "2m"        # opening the ticket on the platform may take this long
  expired_notice  = "immediate" # or "next_message": when the bot hears LIVECHAT_SESSION_EXPIRED
  transcript_size = 20          # exchanges with the bot handed to the agent

  bot_url = "http://127.0.0.1:${env("DEMO_BOT_PORT", "9000")}/events" # the bot: CSML engine or any HTTP bot (make run starts examples/demobot)
  channel = "webchat"                      # the built-in chat page at /chat/demo; or channel_url = "https://…/deliver"
  # A channel_url bot's channel signs its events with channel_secret (README: "Signing events");
  # insecure_events = true takes them unsigned, logged as insecure; event_tolerance = "5m" bounds their age.

  channel_secret = env("DEMO_CHANNEL_SECRET", "dev-channel-secret") # signs deliveries (X-Livechat-Signature), and webchat identities
  webhook_token  = env("DEMO_WEBHOOK_TOKEN", "dev-webhook-token")   # required on the provider's webhooks

  # What the host itself says; these are the defaults.
  messages {
    start       = "Connecting you to an agent…"
    end_prompt  = "Thanks for chatting with us today! You can exit the livechat session by clicking the button below:"
    end_button  = "Quit livechat"
    unavailable = "No agent is available right now."
  }

  # Read each open ticket back, to catch up on webhooks the platform did
  # not deliver (try it: the sandbox drops them on demand, see
  # plugins/gorgias/README.md). rate_limit defaults to the plugin's own:
  # Gorgias allows 40 calls per 20 s per account; reads use at most half.
  reconcile {
    interval = "30s"
  }

  # How the chat page and the embeddable widget (/chat/demo/widget.js) look;
  # each key is optional (defaults: "Chat with demo", "#2f6fed", "right"), and
  # a script tag's data-title, data-color and data-position override them.
  # Uploads are set for every webchat bot in a limits {} block (upload_bytes,
  # uploads_per_minute, upload_types) and kept for retention.uploads (README).
  webchat {
    title    = "Acme support"
    color    = "#0b7a53"
    position = "right"
  }

  # The provider's own settings, checked against its schema
  # (livechat-provider-gorgias --describe prints it; plugins/gorgias/README.md
  # explains each). For a real account: domain = "acme" instead of base_url.
  config {
    base_url = "http://127.0.0.1:${env("SANDBOX_PORT", "7000")}/api/" # the sandbox
    email    = "ops@acme.com"
    api_key  = env("GORGIAS_API_KEY", "sandbox-api-key")
    tags     = ["livechat", "demo"]
  }
}

bot "echo" {
  provider       = "echo"
  bot_url        = "http://127.0.0.1:${env("DEMO_BOT_PORT", "9000")}/events"
  channel        = "webchat"
  channel_secret = env("DEMO_CHANNEL_SECRET", "dev-channel-secret")
  webhook_token  = env("ECHO_WEBHOOK_TOKEN", "dev-echo-webhook-token")

  config {
    greeting   = "Hi, I am Echo. Say \"sign off\" to get the quit button, or \"close\" to be left alone."
    agent_name = "Echo"
    prefix     = "echo: "
  }
}
