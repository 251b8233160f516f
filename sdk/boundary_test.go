package sdk_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// These tests run a real plugin binary (sdk/testdata/faulty) through
// go-plugin, as livechatd does.

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

func launchFaulty(t *testing.T) (*sdktest.Plugin, context.Context) {
	t.Helper()
	p := sdktest.Launch(t, builds.Binary(t, "github.com/livechatd/livechatd/sdk/testdata/faulty"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if diags, err := p.Configure(ctx, "shop", sdk.Config{}); err != nil || diags.HasErrors() {
		t.Fatalf("configure: %v %v", diags, err)
	}
	return p, ctx
}

func TestPanicBecomesRetryableError(t *testing.T) {
	p, ctx := launchFaulty(t)
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"SendMessage", func() error {
			_, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("panic"), IdempotencyKey: "k1"})
			return err
		}, "provider panicked in SendMessage: boom"},
		{"HandleWebhook", func() error {
			_, err := p.HandleWebhook(ctx, sdk.WebhookRequest{Bot: "shop", Method: "POST", Path: "/hook", Body: []byte("panic")})
			return err
		}, "provider panicked in HandleWebhook: webhook /hook"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if ok, _ := sdk.IsRetryable(err); !ok {
				t.Errorf("%v (kind %v) is not retryable", err, sdk.KindOf(err))
			}
			if p.Exited() {
				t.Fatal("the plugin process died of the panic")
			}
			// The same process goes on serving.
			if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("still there?"), IdempotencyKey: "k-" + tc.name}); err != nil {
				t.Fatalf("call after the panic: %v", err)
			}
			p.Host.WaitText(t, "faulty: still there?")
			logs := p.Stderr()
			if !strings.Contains(logs, tc.want) || !strings.Contains(logs, "goroutine") {
				t.Errorf("the plugin's log lacks the panic and its stack:\n%s", logs)
			}
		})
	}
}

func TestEventWithoutIDRefused(t *testing.T) {
	p, ctx := launchFaulty(t)
	_, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("push-noid"), IdempotencyKey: "k1"})
	if err == nil || !strings.Contains(err.Error(), "Event.ID is empty") {
		t.Errorf("push of an event without an ID: err = %v, want a refusal naming Event.ID", err)
	}
	if ok, _ := sdk.IsRetryable(err); ok {
		t.Errorf("push of an event without an ID: %v is retryable; no retry can fix it", err)
	}
	if evs := p.Host.Events(); len(evs) != 0 {
		t.Errorf("the host received %+v", evs)
	}
	_, err = p.HandleWebhook(ctx, sdk.WebhookRequest{Bot: "shop", Method: "POST", Path: "/hook", Body: []byte("noid")})
	if err == nil || !strings.Contains(err.Error(), "Event.ID is empty") {
		t.Errorf("webhook returning an event without an ID: err = %v, want a refusal naming Event.ID", err)
	}
}

// A plugin whose provider cannot read sessions back answers ReadSession
// with an error the host recognises (errors.ErrUnsupported), permanent, and
// goes on serving.
func TestReadSessionUnsupported(t *testing.T) {
	p, ctx := launchFaulty(t)
	_, err := p.ReadSession(ctx, sdk.ReadRequest{Bot: "shop", SessionID: "s1", Ref: "T1"})
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("ReadSession of a provider without it: err = %v, want errors.ErrUnsupported", err)
	}
	if ok, _ := sdk.IsRetryable(err); ok {
		t.Errorf("%v is retryable; no retry can help", err)
	}
	if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("after read"), IdempotencyKey: "k-read"}); err != nil {
		t.Fatalf("call after ReadSession: %v", err)
	}
}
