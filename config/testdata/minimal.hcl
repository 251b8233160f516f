bot "shop" {
  provider       = "echo"
  bot_url        = "http://127.0.0.1:9000/events"
  channel_url    = "http://127.0.0.1:9001/deliver"
  channel_secret = "s3cret"
  webhook_token  = "t0ken"
}
