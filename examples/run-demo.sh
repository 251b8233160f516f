#!/usr/bin/env bash
# The one-command demo (make run): the Gorgias sandbox with its agent desk,
# the demo bot and livechatd, all on this machine, nothing to sign up for.
# The sandbox's HTTP integration is what `livechatd webhook-url` prints, as
# an operator would paste it into Gorgias. Ctrl-C stops everything; so does
# any of them exiting.
#
# Ports, from the environment (examples/livechatd.hcl reads the same names):
#   LIVECHAT_PORT (8080)  livechatd: the chat pages and the API
#   DEMO_BOT_PORT (9000)  examples/demobot
#   SANDBOX_PORT  (7000)  the Gorgias sandbox: its API and the agent desk
# READY_TIMEOUT (30) bounds, in seconds, the wait for each to be ready.
set -euo pipefail
cd "$(dirname "$0")/.."
config="${CONFIG:-examples/livechatd.hcl}"
export LIVECHAT_PORT="${LIVECHAT_PORT:-8080}" DEMO_BOT_PORT="${DEMO_BOT_PORT:-9000}" SANDBOX_PORT="${SANDBOX_PORT:-7000}"
ready_timeout="${READY_TIMEOUT:-30}"

say() { echo "run-demo: $*" >&2; }
for v in LIVECHAT_PORT DEMO_BOT_PORT SANDBOX_PORT; do
	if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((${!v} < 1 || ${!v} > 65535)); then
		say "$v must be a port number (1-65535), got '${!v}'"
		exit 2
	fi
done
if ! [[ $ready_timeout =~ ^[0-9]+$ ]]; then
	say "READY_TIMEOUT must be a number of seconds, got '$ready_timeout'"
	exit 2
fi

logs=$(mktemp -d "${TMPDIR:-/tmp}/livechatd-demo.XXXXXX")
pids=()
stop() {
	trap - EXIT INT TERM
	((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$logs"
}
trap stop EXIT INT TERM

# start NAME CMD...: runs CMD in the background, its output (stdout and
# stderr) kept in $logs/NAME.log and shown on stderr with "NAME | " before
# each line, so every line says which process wrote it.
start() {
	local name=$1
	shift
	: >"$logs/$name.log"
	"$@" > >(tee -a "$logs/$name.log" | sed -u "s/^/$name | /" >&2) 2>&1 &
	pids+=($!)
	eval "pid_$name=$!"
}

# http_status PORT PATH: the status code of GET http://127.0.0.1:PORT/PATH,
# or nothing when it does not answer (bash's /dev/tcp: no curl needed).
http_status() {
	local line
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
		printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$2" "$1" >&3
		IFS=' ' read -r -t 5 _ line _ <&3 && echo "$line"
	) 2>/dev/null || true
}

# wait_ready NAME PORT PATH: waits until GET PATH answers 200, at most
# $ready_timeout seconds; else names NAME, shows its last log lines and
# fails (the EXIT trap then stops everything).
wait_ready() {
	local name=$1 port=$2 path=$3 pid_var="pid_$1" deadline=$((SECONDS + ready_timeout)) status=""
	while ((SECONDS < deadline)); do
		if ! kill -0 "${!pid_var}" 2>/dev/null; then
			say "$name exited before it was ready (http://127.0.0.1:$port$path); its last lines:"
			tail -n 20 "$logs/$name.log" >&2
			exit 1
		fi
		status=$(http_status "$port" "$path")
		[[ $status == 200 ]] && return 0
		sleep 0.2
	done
	say "$name was not ready after ${ready_timeout}s (GET http://127.0.0.1:$port$path: ${status:-no answer}); its last lines:"
	tail -n 20 "$logs/$name.log" >&2
	exit 1
}

# The integration URL, from the first "URL:" line webhook-url prints.
hook=$(bin/livechatd webhook-url -config "$config" -bot demo | awk '/^URL:/ {print $2; exit}')
if [[ -z $hook ]]; then
	say "livechatd webhook-url printed no URL for the bot demo"
	exit 1
fi

start sandbox bin/gorgias-sandbox -listen "127.0.0.1:$SANDBOX_PORT" -integration-url "$hook" -integration-method GET -quiet
start demobot bin/demobot -listen "127.0.0.1:$DEMO_BOT_PORT"
start livechatd bin/livechatd serve -config "$config"

wait_ready sandbox "$SANDBOX_PORT" /desk
wait_ready demobot "$DEMO_BOT_PORT" /healthz
wait_ready livechatd "$LIVECHAT_PORT" /readyz

cat <<MSG

  The user's chat:    http://127.0.0.1:$LIVECHAT_PORT/chat/demo
  The agent's desk:   http://127.0.0.1:$SANDBOX_PORT/desk
  (and an echo agent: http://127.0.0.1:$LIVECHAT_PORT/chat/echo)

  Say hi to the bot, click "Yes, talk to a human!", answer as the agent in the
  desk, then apply the "Sign off" macro. Ctrl-C stops everything.

MSG
set +e
wait -n "${pids[@]}"
rc=$?
for name in sandbox demobot livechatd; do
	pid_var="pid_$name"
	if ! kill -0 "${!pid_var}" 2>/dev/null; then
		say "$name exited (status $rc); stopping the others"
		break
	fi
done
exit "$rc"
