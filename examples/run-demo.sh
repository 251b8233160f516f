#!/usr/bin/env bash
# The one-command demo (make run): the demo bot and livechatd, in the
# foreground. Ctrl-C stops all of them; so does any of them exiting.
set -euo pipefail
cd "$(dirname "$0")/.."

pids=()
stop() {
	trap - EXIT INT TERM
	((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap stop EXIT INT TERM

bin/demobot -listen 127.0.0.1:9000 &
pids+=($!)
bin/livechatd serve -config "${CONFIG:-examples/livechatd.hcl}" &
pids+=($!)

cat <<MSG

  The user's chat:    http://127.0.0.1:8080/chat/demo
  Admin API:          curl -H 'Authorization: Bearer dev-admin-token' http://127.0.0.1:8080/v1/sessions

  Press Ctrl-C to stop.

MSG
wait -n
