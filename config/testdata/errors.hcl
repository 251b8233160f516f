listn     = "127.0.0.1:8080"
log_level = "verbose"

plugin "echo" { sha256 = "ABC" }

bot "shop" {
  provider        = "echo"
  session_timeout = "200h"
  start_timeout   = "soon"
  channel_url     = "http://127.0.0.1:9001/deliver"
  channel         = "webchat"
  webhook_token   = env("SHOP_WEBHOOK_TOKEN")

  messages {
    strat = "Hello"
  }
}

bot "shop" {
  provider = "echo"
}

retention {
  done_work = "0d"
  transcipts = "90d"
  uploads = "forever"
}

bot "help" {
  provider       = "echo"
  bot_url        = "http://127.0.0.1:9000/events"
  channel_url    = "http://127.0.0.1:9001/deliver"
  channel_secret = "secret"
  webhook_token  = "hook"

  webchat {
    color    = "green"
    position = "bottom"
  }
}

limits {
  upload_bytes       = -1
  uploads_per_minute = 0
  upload_types       = ["image/png", "image/svg+xml"]
}
