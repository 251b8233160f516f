package sdk_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

type pushOnly struct{}

func (pushOnly) PushEvents(context.Context, string, ...sdk.Event) error { return nil }

// A Host that keeps no state (a test double of the author's, an old host)
// still gives StateOf a store: its calls fail for good with ErrNoState.
func TestStateOfHostWithoutState(t *testing.T) {
	st := sdk.StateOf(pushOnly{})
	k := sdk.StateKey{Bot: "shop", SessionID: "s1", Key: "k"}
	_, ok, err := st.GetState(context.Background(), k)
	errs := []error{err, st.SetState(context.Background(), k, []byte("v")), st.DeleteState(context.Background(), k)}
	if ok {
		t.Error("GetState found a value in no store")
	}
	for i, err := range errs {
		if !errors.Is(err, sdk.ErrNoState) || !errors.Is(err, errors.ErrUnsupported) || sdk.KindOf(err) != sdk.KindInvalid {
			t.Errorf("call %d: %v (kind %v), want a permanent ErrNoState", i, err, sdk.KindOf(err))
		}
	}
}

// Across the boundary: a host whose Host service has no state calls (as a
// livechatd older than them) answers Unimplemented, which the plugin sees
// as ErrNoState, not as a retryable failure.
func TestStateFromHostWithoutStateService(t *testing.T) {
	p := sdktest.LaunchWith(t, builds.Binary(t, "github.com/livechatd/livechatd/sdk/testdata/stateful"), pushOnly{})
	ctx := context.Background()
	if diags, err := p.Configure(ctx, "shop", sdk.Config{}); err != nil || diags.HasErrors() {
		t.Fatalf("configure: %v %v", diags, err)
	}
	_, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", IdempotencyKey: "k", Message: sdk.Text("state get shop s1 k")})
	if err == nil || sdk.KindOf(err) != sdk.KindInvalid || !strings.Contains(err.Error(), "the host keeps no plugin state") {
		t.Errorf("state on a host without it: %v (kind %v), want permanent, saying the host keeps no plugin state", err, sdk.KindOf(err))
	}
}
