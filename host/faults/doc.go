// Package faults is livechatd's fault-injection acceptance run (issue 9):
// `make faults` starts the real livechatd binary, which launches the real
// Gorgias provider plugin through go-plugin, against the Gorgias sandbox
// (the platform) and a fake channel and bot, all on loopback; it injects
// one fault per scenario under load and counts, in both directions, what
// was sent, delivered, duplicated, lost and reordered:
//
//   - to agent: user messages posted to POST /v1/bots/{bot}/events (with a
//     request_id, retried by the channel until answered 2xx) during an open
//     livechat session, counted as messages on the platform's tickets;
//   - to user: agent replies written on the platform, counted as messages
//     delivered to channel_url, each X-Livechat-Delivery id once (a retried
//     delivery is not a duplicate).
//
// A message is lost when it has not arrived once the system is quiescent
// (nothing pending in livechatd's outbox nor in the platform's webhook
// queue) or after a bounded settle time. The table is printed and written
// to artifacts/faults/faults.json, with every process's logs beside it.
//
// The tests carry the build tag "faults", so that `go test ./...` leaves
// them out: they take minutes and kill processes. Run them with
//
//	make faults
//	go test -tags faults -count=1 -v -timeout 6m ./host/faults/ -run 'TestFaults/platform'
//
// Knobs (environment): FAULTS_CHANNEL_DOWN (how long the channel is down,
// 20s), FAULTS_SETTLE (the longest wait for quiescence after the faults,
// 30s), FAULTS_ARTIFACTS (where the table and logs go), FAULTS_LIVECHATD
// and FAULTS_PLUGIN (prebuilt binaries instead of building the tree's).
package faults
