package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// BenchmarkEventForwarded is a channel event with no session: the HTTP API,
// the engine, a POST to the bot and its reply, and the transcript kept.
func BenchmarkEventForwarded(b *testing.B) {
	hclogQuiet(b)
	s := newStack(b, stackOptions{})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if r := s.say(fmt.Sprintf("u%d", i%100), "hello"); r.Status != 200 {
			b.Fatalf("%d %s", r.Status, r.Raw)
		}
	}
}

// BenchmarkEventToAgent is a user message during a session: the HTTP API,
// the engine, and one transaction storing the message, the new expiry and
// the outbox item (the plugin call itself runs behind, in the worker).
func BenchmarkEventToAgent(b *testing.B) {
	hclogQuiet(b)
	s := newStack(b, stackOptions{provider: "recorder", config: map[string]any{"ack": false}})
	r := s.click("u1", "LIVECHAT_SESSION_START")
	if r.Status != 200 {
		b.Fatalf("start: %s", r.Raw)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := s.say("u1", "hello"); r.Status != 200 {
			b.Fatalf("%d %s", r.Status, r.Raw)
		}
	}
}

// hclogQuiet keeps the stack's debug logs out of benchmark output.
func hclogQuiet(b *testing.B) {
	b.Helper()
	benchLogLevel = hclog.Error
	b.Cleanup(func() { benchLogLevel = hclog.Debug })
}
