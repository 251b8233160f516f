package fakes

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"github.com/livechatd/livechatd/host/engine"
)

// SignedEventRequest is a POST of body to url, a bot's events URL
// (…/v1/bots/{bot}/events), signed with secret at now as a channel signs
// its events (X-Livechat-Signature, docs/events.md).
func SignedEventRequest(ctx context.Context, url, secret string, body []byte, now time.Time) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(engine.SignatureHeader, engine.Signature(secret, body, now))
	return req, nil
}
