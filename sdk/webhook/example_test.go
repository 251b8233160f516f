package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/webhook"
)

// A provider's HandleWebhook checks the signature before anything else.
func Example() {
	secret := "whsec_0123456789"
	handle := func(_ context.Context, req sdk.WebhookRequest, now time.Time) (sdk.WebhookResult, error) {
		if err := webhook.Chatwoot.Verify(secret, req.Header, req.Body, now); err != nil {
			return sdk.WebhookResult{}, sdk.Unauthorized("chatwoot webhook: %v", err)
		}
		return sdk.WebhookResult{}, nil // parse req.Body into events here
	}

	// What Chatwoot sends, made the way Chatwoot makes it.
	now := time.Unix(1741083330, 0)
	body := []byte(`{"event":"message_created","id":42}`)
	ts := webhook.Chatwoot.Timestamp(now)
	signed := sdk.WebhookRequest{Method: "POST", Body: body, Header: map[string][]string{
		"X-Chatwoot-Signature": {webhook.Chatwoot.Sign(secret, ts, body)},
		"X-Chatwoot-Timestamp": {ts},
	}}
	_, err := handle(context.Background(), signed, now)
	fmt.Println(err)

	// Replayed ten minutes later.
	_, err = handle(context.Background(), signed, now.Add(10*time.Minute))
	fmt.Println(sdk.KindOf(err), err)

	// The body changed on the way.
	signed.Body = []byte(`{"event":"message_created","id":43}`)
	_, err = handle(context.Background(), signed, now)
	fmt.Println(sdk.KindOf(err), err)
	// Output:
	// <nil>
	// unauthorized chatwoot webhook: timestamp outside the tolerance: X-Chatwoot-Timestamp is 10m0s from now (tolerance 5m0s)
	// unauthorized chatwoot webhook: signature does not match: X-Chatwoot-Signature
}

// A platform not in the list: Zendesk-like, but hex and a 10 minute
// tolerance.
func ExampleScheme() {
	acme := webhook.Zendesk
	acme.Encoding = webhook.Hex
	acme.SignatureHeader, acme.TimestampHeader = "X-Acme-Signature", "X-Acme-Timestamp"
	acme.Tolerance = 10 * time.Minute

	now := time.Date(2025, 3, 4, 10, 15, 30, 0, time.UTC)
	body := []byte(`{"ticket": 7}`)
	h := map[string][]string{
		"x-acme-signature": {acme.Sign("s3cret-value", acme.Timestamp(now), body)},
		"x-acme-timestamp": {acme.Timestamp(now)},
	}
	fmt.Println(acme.Verify("s3cret-value", h, body, now.Add(9*time.Minute)))
	err := acme.Verify("another-value", h, body, now)
	fmt.Println(errors.Is(err, webhook.ErrMismatch))
	// Output:
	// <nil>
	// true
}

// Intercom signs the body alone, with SHA-1.
func ExampleScheme_Sign() {
	fmt.Println(webhook.Intercom.Sign("client-secret", "", []byte(`{"topic":"conversation.admin.replied"}`)))
	// Output: sha1=ebac46fe39138c2b4e3cfc3f03fb2a34082a41b2
}

// Platforms without signatures (Gorgias, Freshdesk) are configured to send a
// token of the operator's choice in a header; compare it in constant time.
func ExampleTokenEqual() {
	configured := "tok-9f8e7d6c"
	fmt.Println(webhook.TokenEqual("tok-9f8e7d6c", configured))
	fmt.Println(webhook.TokenEqual("tok-9f8e7d6d", configured))
	fmt.Println(webhook.TokenEqual("", ""))
	// Output:
	// true
	// false
	// false
}
