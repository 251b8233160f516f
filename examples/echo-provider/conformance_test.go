package main

import (
	"context"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// echoPlatform adapts echo to the conformance suite. Echo has no platform:
// its agent answers each user message with "echo: <text>", pushed to the
// host. So what it "received" is what it echoed, and an agent reply is a
// user message it echoes.
type echoPlatform struct{}

var _ sdktest.Platform = echoPlatform{}

func (echoPlatform) Config(string) sdk.Config { return sdk.Config{"greeting": "Hi!"} }

func (echoPlatform) Received(t sdktest.Ticket) (sdktest.Received, error) {
	var got sdktest.Received
	for _, e := range t.Events() {
		if text, ok := strings.CutPrefix(e.Message.PlainText(), "echo: "); ok && e.Type == sdk.EventAgentMessage {
			got.Messages = append(got.Messages, text)
		}
	}
	return got, nil
}

func (echoPlatform) AgentReply(t sdktest.Ticket, text string) (string, error) {
	return "echo: " + text, t.Send(context.Background(), text)
}

func (echoPlatform) AgentClose(t sdktest.Ticket) error { return t.Send(context.Background(), "close") }

func TestConformanceSuite(t *testing.T) {
	rep := sdktest.Conformance(t, sdktest.Suite{Binary: binary(t), Platform: echoPlatform{}})
	if failed := rep.Failed(); len(failed) > 0 {
		t.Errorf("failed checks: %v", failed)
	}
}
