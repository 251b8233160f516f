package engine

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/livechatd/livechatd/host"
)

// SignatureHeader carries the signature of a delivery to channel_url and of
// an event from a channel_url bot's channel (docs/events.md):
// t=<unix seconds>,v1=<hex HMAC-SHA256(channel_secret, "<t>.<exact body>")>.
const SignatureHeader = "X-Livechat-Signature"

// DefaultEventTolerance is how far an event's signed timestamp may be from
// livechatd's clock, either way, when the bot sets no event_tolerance.
const DefaultEventTolerance = 5 * time.Minute

// Reasons VerifyAt gives, to match with errors.Is; the error's text says
// more.
var (
	ErrSignatureMissing   = errors.New("missing " + SignatureHeader)
	ErrSignatureMalformed = errors.New("malformed " + SignatureHeader)
	ErrSignatureMismatch  = errors.New(SignatureHeader + " does not match")
	ErrSignatureStale     = errors.New(SignatureHeader + " is out of date")
)

// Sign is the hex HMAC-SHA256 of "<timestamp>.<body>" with secret: the v1
// part of X-Livechat-Signature.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Signature is the whole X-Livechat-Signature of body signed with secret at
// time at: "t=<unix>,v1=<hex>".
func Signature(secret string, body []byte, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	return "t=" + ts + ",v1=" + Sign(secret, ts, body)
}

// Verify reports whether header, an X-Livechat-Signature, signs body with
// secret. It does not judge the timestamp's age: VerifyAt does.
func Verify(secret, header string, body []byte) bool {
	return VerifyAt(secret, header, body, time.Time{}, 0) == nil
}

// VerifyAt checks that header, an X-Livechat-Signature, signs body with
// secret, and that its timestamp is within tolerance of now, before or
// after (tolerance <= 0: any age). Any v1 that matches will do, so that a
// signer can send two while its secret is rotated. The error wraps one of
// the ErrSignature reasons and says what is missing or wrong, never what
// the signature should have been.
func VerifyAt(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	const form = `t=<unix seconds>,v1=<hex HMAC-SHA256(channel_secret, "<t>.<body>")>`
	header = strings.TrimSpace(header)
	if header == "" {
		return fmt.Errorf("%w: sign the exact body as %s", ErrSignatureMissing, form)
	}
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	switch {
	case ts == "":
		return fmt.Errorf("%w: no t=; want %s", ErrSignatureMalformed, form)
	case len(sigs) == 0:
		return fmt.Errorf("%w: no v1=; want %s", ErrSignatureMalformed, form)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || unix < 0 {
		return fmt.Errorf("%w: t= must be a Unix time in seconds", ErrSignatureMalformed)
	}
	want, _ := hex.DecodeString(Sign(secret, ts, body))
	matched := false
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err != nil || len(got) != sha256.Size {
			return fmt.Errorf("%w: v1= must be %d hex characters", ErrSignatureMalformed, 2*sha256.Size)
		}
		if hmac.Equal(got, want) {
			matched = true
		}
	}
	if !matched {
		return fmt.Errorf("%w the body: sign the exact bytes sent, with this bot's channel_secret", ErrSignatureMismatch)
	}
	if tolerance <= 0 {
		return nil
	}
	// Seconds since 1970 fit in 11 digits until the year 5138; more is a
	// clock in milliseconds or finer.
	if len(ts) > 11 {
		return fmt.Errorf("%w: t=%s is not in seconds since 1970 (milliseconds?)", ErrSignatureStale, ts)
	}
	age := now.Sub(time.Unix(unix, 0)).Truncate(time.Second)
	switch {
	case age > tolerance:
		return fmt.Errorf("%w: too old, t is %s before livechatd's clock and at most %s is accepted; sign each request when it is sent, and check the channel's clock", ErrSignatureStale, age, tolerance)
	case -age > tolerance:
		return fmt.Errorf("%w: t is %s in the future of livechatd's clock and at most %s is accepted; check the channel's clock", ErrSignatureStale, -age, tolerance)
	}
	return nil
}

// VerifyEvent authenticates an event posted for bot b with signature (the
// X-Livechat-Signature header, "" when absent) over the exact body
// received, on the engine's clock. Webchat bots' events carry user tokens
// instead, which the webchat checks; a bot with insecure_events takes
// events unauthenticated. The error is EUNAUTHORIZED on
// X-Livechat-Signature.
func (e *Engine) VerifyEvent(b *Bot, signature string, body []byte) error {
	if b.Webchat || b.InsecureEvents {
		return nil
	}
	if b.ChannelSecret == "" {
		// The config refuses this; an empty key would be a key anyone has.
		return &host.Error{Code: host.EUNAUTHORIZED, Field: SignatureHeader,
			Message: fmt.Sprintf("bot %q has no channel_secret to check signatures with: its events are refused", b.Name)}
	}
	tolerance := b.EventTolerance
	if tolerance <= 0 {
		tolerance = DefaultEventTolerance
	}
	if err := VerifyAt(b.ChannelSecret, signature, body, e.now(), tolerance); err != nil {
		return &host.Error{Code: host.EUNAUTHORIZED, Field: SignatureHeader, Message: err.Error(), Err: err}
	}
	return nil
}
