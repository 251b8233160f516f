package sdk_test

import (
	"strings"
	"testing"

	"github.com/livechatd/livechatd/sdk"
)

// A message the plugin boundary cannot carry — nested past protobuf's
// recursion limit, with invalid UTF-8 in a string field, or larger than
// MaxMessageSize — fails the same way on every try. It must come back as a
// permanent error: retried, it blocked its session's queue for 90 minutes
// (issue 10, point 4). The deep content reaches the real plugin binary,
// which cannot decode it.
func TestMessagesTheBoundaryCannotCarryArePermanent(t *testing.T) {
	p, ctx := launchFaulty(t)
	var deep any = "x"
	for range 6000 {
		deep = map[string]any{"a": deep}
	}
	for _, tc := range []struct {
		name string
		req  sdk.SendRequest
	}{
		{"nested 6000 deep", sdk.SendRequest{Message: sdk.Message{ContentType: "text", Content: map[string]any{"text": "hi", "x": deep}}}},
		{"invalid UTF-8", sdk.SendRequest{Ref: "ticket-\xff", Message: sdk.Text("hi")}},
		{"over MaxMessageSize", sdk.SendRequest{Message: sdk.Text(strings.Repeat("a", sdk.MaxMessageSize+1))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Bot, tc.req.SessionID, tc.req.IdempotencyKey = "shop", "s1", "k-"+tc.name
			_, err := p.SendMessage(ctx, tc.req)
			if err == nil {
				t.Fatal("sent")
			}
			if ok, _ := sdk.IsRetryable(err); ok || sdk.KindOf(err) != sdk.KindInvalid {
				t.Errorf("%.200v: kind %v, retryable %v; want invalid, permanent", err, sdk.KindOf(err), ok)
			}
			if p.Exited() {
				t.Fatal("the plugin died")
			}
		})
	}
	// The plugin still serves, and ordinary errors keep their kinds.
	if _, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("still there?"), IdempotencyKey: "k-after"}); err != nil {
		t.Fatalf("call after: %v", err)
	}
	_, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", Message: sdk.Text("panic"), IdempotencyKey: "k-panic"})
	if ok, _ := sdk.IsRetryable(err); !ok {
		t.Errorf("a panic (%v) is no longer retryable", err)
	}
}
