package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

func binary(t *testing.T) string {
	return sdktest.Install(t, builds.Binary(t, "."), t.TempDir(), "echo")
}

func TestEcho(t *testing.T) {
	p := sdktest.Launch(t, binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if diags, err := p.Configure(ctx, "shop", sdk.Config{"greeting": "Hi, I'm Ed.", "agent_name": "Ed"}); err != nil || diags.HasErrors() {
		t.Fatalf("configure: %v %v", diags, err)
	}
	res, err := p.StartSession(ctx, sdk.StartRequest{Bot: "shop", SessionID: "s1",
		Messages: []sdk.Message{{ID: "m0", ContentType: "text", Content: map[string]any{"text": "first"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ref != "echo-s1" {
		t.Errorf("ref = %q", res.Ref)
	}
	greet := p.Host.WaitText(t, "Hi, I'm Ed.")
	if greet.Bot != "shop" || greet.SessionID != "s1" || greet.Message.Author != (sdk.Author{Type: sdk.AuthorAgent, Name: "Ed"}) {
		t.Errorf("greeting event = %+v", greet)
	}
	p.Host.WaitText(t, "echo: first")

	for _, tc := range []struct{ text, want string }{
		{"hello", "echo: hello"},
		{"Sign off", "Glad I could help! LIVECHAT_SESSION_END"},
	} {
		if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Ref: res.Ref, Message: sdk.Text(tc.text), IdempotencyKey: tc.text}); err != nil {
			t.Fatal(err)
		}
		p.Host.WaitText(t, tc.want)
	}
	if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("close"), IdempotencyKey: "c"}); err != nil {
		t.Fatal(err)
	}
	p.Host.WaitFor(t, 20*time.Second, func(es []sdktest.PushedEvent) bool {
		for _, e := range es {
			if e.Type == sdk.EventSessionClosed && e.SessionID == "s1" {
				return true
			}
		}
		return false
	})
}

func TestPushFailureIsRetryable(t *testing.T) {
	p := sdktest.Launch(t, binary(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.Configure(ctx, "shop", sdk.Config{"greeting": "Hi"}); err != nil {
		t.Fatal(err)
	}
	p.Host.SetErr(sdk.Retryable(context.DeadlineExceeded, 0))
	_, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("x"), IdempotencyKey: "k"})
	if ok, _ := sdk.IsRetryable(err); err == nil || !ok {
		t.Errorf("SendMessage with the host refusing pushes: %v; want a retryable error", err)
	}
}
