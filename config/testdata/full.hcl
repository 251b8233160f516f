# Every setting, none left to its default.
listen            = "0.0.0.0:9090"
public_url        = "https://livechat.example.com/"
plugin_dir        = "/opt/livechatd/plugins"
log_level         = "debug"
admin_token       = env("ADMIN_TOKEN")
require_checksums = true

storage "sqlite" {
  path        = "state/livechat.db"
  synchronous = "full"
}

plugin "gorgias" {
  sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
}

plugin "echo" {
  sha256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
}

bot "shop" {
  provider        = "gorgias"
  session_timeout = "45m"
  start_timeout   = "30s"
  expired_notice  = "next_message"
  transcript_size = 50
  bot_url         = "http://127.0.0.1:9000/events"
  channel_url     = "https://widget.example.com/deliver"
  channel_secret  = env("SHOP_CHANNEL_SECRET")
  webhook_token   = env("SHOP_WEBHOOK_TOKEN")

  messages {
    start       = "Un agent arrive…"
    end_prompt  = "Merci !"
    end_button  = "Quitter"
    unavailable = "Personne pour l'instant."
  }

  reconcile {
    interval   = "1m"
    rate_limit = "40/20s"
  }

  config {
    domain  = "acme"
    email   = "ops@acme.com"
    api_key = env("GORGIAS_API_KEY")
  }
}

bot "demo-2" {
  provider      = "echo"
  bot_url       = "https://bot.example.com/events"
  channel       = "webchat"
  webhook_token = env("DEMO_WEBHOOK_TOKEN", "dev-token")

  webchat {
    title    = "Questions? Ask us"
    color    = "#0b7a53"
    position = "left"
  }
}

retention {
  done_work        = "1d12h"
  dead_letters     = "14d"
  processed_events = "240h"
  requests         = "1d"
  transcripts      = "365d"
  webchat_streams  = "45d"
  uploads          = "720h"
  interval         = "30s"
  batch            = 200
}

limits {
  streams_per_user      = 2
  streams               = 500
  stream_batch_bytes    = 65536
  stream_write_timeout  = "30s"
  identities_per_minute = 100
  starts_per_minute     = 3
  upload_bytes          = 5242880
  uploads_per_minute    = 4
  upload_types          = ["image/png", "image/jpeg", "application/pdf"]
}
