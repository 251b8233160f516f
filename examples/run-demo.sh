#!/usr/bin/env bash
# The one-command demo (make run): the Gorgias sandbox with its agent desk,
# the demo bot and livechatd, all on this machine, nothing to sign up for.
# The sandbox's HTTP integration is what `livechatd webhook-url` prints, as
# an operator would paste it into Gorgias. Ctrl-C stops everything; so does
# any of them exiting.
set -euo pipefail
cd "$(dirname "$0")/.."
config="${CONFIG:-examples/livechatd.hcl}"

pids=()
stop() {
	trap - EXIT INT TERM
	((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap stop EXIT INT TERM

# The integration URL, from the first "URL:" line webhook-url prints.
hook=$(bin/livechatd webhook-url -config "$config" -bot demo | awk '/^URL:/ {print $2; exit}')

bin/gorgias-sandbox -listen 127.0.0.1:7000 -integration-url "$hook" -integration-method GET -quiet &
pids+=($!)
bin/demobot -listen 127.0.0.1:9000 >/dev/null &
pids+=($!)
bin/livechatd serve -config "$config" &
pids+=($!)

cat <<MSG

  The user's chat:    http://127.0.0.1:8080/chat/demo
  The agent's desk:   http://127.0.0.1:7000/desk
  (and an echo agent: http://127.0.0.1:8080/chat/echo)

  Say hi to the bot, click "Yes, talk to a human!", answer as the agent in the
  desk, then apply the "Sign off" macro. Ctrl-C stops everything.

MSG
wait -n
