package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/redact"
	"github.com/livechatd/livechatd/sdk"
)

// maxReplyBytes bounds what the host reads of a bot's or channel's answer.
const maxReplyBytes = 1 << 20

// BotCaller calls bots: it hands a bot one event and returns its answer.
// Errors say whether a retry can help (sdk.IsRetryable).
type BotCaller interface {
	CallBot(ctx context.Context, b *Bot, ev Event) (Reply, error)
}

// httpBots calls bots over HTTP at their bot_url.
type httpBots struct{ e *Engine }

func (h httpBots) CallBot(ctx context.Context, b *Bot, ev Event) (Reply, error) {
	return h.e.callBot(ctx, b, ev)
}

// httpChannels delivers to channel_url.
type httpChannels struct{ e *Engine }

func (h httpChannels) Deliver(ctx context.Context, bot, key string, d Delivery) error {
	b, err := h.e.Bot(bot)
	if err != nil {
		return err
	}
	return h.e.postChannel(ctx, b, key, d)
}

// callBot posts an event to the bot and reads its reply. Errors are
// EUNAVAILABLE (the HTTP API answers 502) and say whether a retry can help.
func (e *Engine) callBot(ctx context.Context, b *Bot, ev Event) (Reply, error) {
	ev.Client.BotID = b.Name
	body, err := json.Marshal(ev)
	if err != nil {
		return Reply{}, err
	}
	status, header, respBody, err := e.post(ctx, b.BotURL, body, nil)
	if err != nil {
		return Reply{}, upstream("bot_url", "the bot did not answer", sdk.Retryable(err, 0))
	}
	if status < 200 || status > 299 {
		cause := fmt.Errorf("the bot answered %d: %s", status, snippet(respBody))
		if isUnavailable(status) {
			return Reply{}, upstream("bot_url", cause.Error(), sdk.Retryable(cause, retryAfter(header, e.now())))
		}
		return Reply{}, upstream("bot_url", cause.Error(), sdk.Permanent(cause))
	}
	if len(bytes.TrimSpace(respBody)) == 0 {
		return Reply{}, nil
	}
	reply, err := parseBotReply(respBody)
	if err != nil {
		return Reply{}, upstream("bot_url", err.Error(), sdk.Permanent(err))
	}
	return reply, nil
}

// postChannel delivers to channel_url, signed, with the outbox item's key as
// the delivery id so that the channel can drop a retry it has seen.
func (e *Engine) postChannel(ctx context.Context, b *Bot, deliveryID string, d Delivery) error {
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	headers := map[string]string{"X-Livechat-Delivery": deliveryID}
	// Without a secret (insecure_events) nothing is signed: a signature
	// with an empty key is one anyone can make.
	if b.ChannelSecret != "" {
		headers[SignatureHeader] = Signature(b.ChannelSecret, body, e.now())
	}
	status, header, respBody, err := e.post(ctx, b.ChannelURL, body, headers)
	if err != nil {
		return sdk.Retryable(fmt.Errorf("channel_url: %w", err), 0)
	}
	if status < 200 || status > 299 {
		return sdk.Retryable(fmt.Errorf("channel_url answered %d: %s", status, snippet(respBody)), retryAfter(header, e.now()))
	}
	e.opts.Metrics.delivered(b.Name)
	return nil
}

func (e *Engine) post(ctx context.Context, url string, body []byte, headers map[string]string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, redact.Err(err) // the URL may hold a credential
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "livechatd")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.opts.HTTPClient.Do(req)
	if err != nil {
		return 0, nil, nil, redact.Err(err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, respBody, nil
}

func upstream(field, msg string, cause error) error {
	return &host.Error{Code: host.EUNAVAILABLE, Field: field, Message: msg, Err: cause}
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func snippet(b []byte) string {
	const max = 200
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
