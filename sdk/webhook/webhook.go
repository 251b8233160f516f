// Package webhook checks that a webhook request comes from the platform:
// HMAC signatures over the exact bytes of the body (and a timestamp, within
// a tolerance of now), in the shapes the support platforms use, and
// constant-time comparison of shared tokens.
//
// A provider's HandleWebhook verifies before it parses, and turns a refusal
// into sdk.Unauthorized:
//
//	if err := webhook.Chatwoot.Verify(secret, req.Header, req.Body, time.Now()); err != nil {
//		return sdk.WebhookResult{}, sdk.Unauthorized("chatwoot webhook: %v", err)
//	}
//
// The host has already checked the webhook URL's token by then; a
// signature also proves the body was not changed on the way. Errors never
// contain the secret.
package webhook

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// Encoding is how a signature's bytes are written in its header.
type Encoding int

const (
	// Hex: lower or upper case hexadecimal.
	Hex Encoding = iota
	// Base64: standard or URL-safe, padded or not.
	Base64
)

// TimeFormat is how a platform writes its timestamp header; Verify reads
// the scheme's format only, Timestamp writes it.
type TimeFormat int

const (
	// Unix seconds, e.g. "1741083330".
	Unix TimeFormat = iota
	// UnixMilli: milliseconds, e.g. "1741083330000".
	UnixMilli
	// RFC3339, e.g. "2025-03-04T10:15:30Z".
	RFC3339
)

// Scheme is how one platform signs its webhooks: an HMAC of the body, or of
// the timestamp, Join and the body, under the webhook's secret.
type Scheme struct {
	// Hash is the HMAC's hash, e.g. sha256.New.
	Hash func() hash.Hash
	// Encoding of the signature header's value.
	Encoding Encoding
	// Prefix is stripped from a signature that has it, e.g. "sha256=".
	Prefix string
	// SignatureHeader carries the signature. Several comma-separated
	// signatures are accepted when one matches (a secret being rotated).
	SignatureHeader string
	// TimestampHeader carries the time the platform signed at; "" when the
	// platform signs the body alone.
	TimestampHeader string
	// TimeFormat of TimestampHeader, for Timestamp.
	TimeFormat TimeFormat
	// Join goes between the timestamp and the body in the signed bytes.
	Join string
	// Tolerance is how far the timestamp may be from now, either way; zero
	// does not check it (the timestamp is still signed).
	Tolerance time.Duration
}

// The schemes of the platforms in /work/shared/providers/others.md §9.
var (
	// Chatwoot (v4.13+): X-Chatwoot-Signature: sha256=<hex HMAC-SHA256 of
	// "<unix ts>.<body>">, X-Chatwoot-Timestamp.
	Chatwoot = Scheme{Hash: sha256.New, Encoding: Hex, Prefix: "sha256=",
		SignatureHeader: "X-Chatwoot-Signature", TimestampHeader: "X-Chatwoot-Timestamp", Join: ".", Tolerance: 5 * time.Minute}
	// Zendesk: X-Zendesk-Webhook-Signature: base64 HMAC-SHA256 of
	// timestamp+body, X-Zendesk-Webhook-Signature-Timestamp (ISO 8601).
	Zendesk = Scheme{Hash: sha256.New, Encoding: Base64,
		SignatureHeader: "X-Zendesk-Webhook-Signature", TimestampHeader: "X-Zendesk-Webhook-Signature-Timestamp", TimeFormat: RFC3339, Tolerance: 5 * time.Minute}
	// Intercom: X-Hub-Signature: sha1=<hex HMAC-SHA1 of the body> under the
	// app's client secret; no timestamp.
	Intercom = Scheme{Hash: sha1.New, Encoding: Hex, Prefix: "sha1=", SignatureHeader: "X-Hub-Signature"}
	// Front (application webhooks and channels): X-Front-Signature: base64
	// HMAC-SHA256 of "<ms timestamp>:<body>", X-Front-Request-Timestamp.
	Front = Scheme{Hash: sha256.New, Encoding: Base64,
		SignatureHeader: "X-Front-Signature", TimestampHeader: "X-Front-Request-Timestamp", TimeFormat: UnixMilli, Join: ":", Tolerance: 5 * time.Minute}
)

// Why a request was refused; match with errors.Is.
var (
	ErrNoSecret  = errors.New("no webhook secret configured")
	ErrUnsigned  = errors.New("unsigned request")
	ErrMismatch  = errors.New("signature does not match")
	ErrMalformed = errors.New("malformed timestamp")
	ErrStale     = errors.New("timestamp outside the tolerance")
)

// Verify checks a request's signature: header holds the request's headers
// (any case), body its exact bytes. The signature is checked before the
// timestamp's age, so a forged request learns nothing about the clock.
func (s Scheme) Verify(secret string, header map[string][]string, body []byte, now time.Time) error {
	sig := strings.TrimSpace(Header(header, s.SignatureHeader))
	ts := ""
	if s.TimestampHeader != "" {
		ts = strings.TrimSpace(Header(header, s.TimestampHeader))
	}
	switch {
	case secret == "":
		return ErrNoSecret
	case sig == "":
		return fmt.Errorf("%w: no %s", ErrUnsigned, s.SignatureHeader)
	case s.TimestampHeader != "" && ts == "":
		return fmt.Errorf("%w: no %s", ErrUnsigned, s.TimestampHeader)
	}
	want := s.mac(secret, ts, body)
	ok := false
	for _, cand := range strings.Split(sig, ",") {
		got, err := s.decode(strings.TrimSpace(cand))
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrMismatch, s.SignatureHeader)
	}
	if s.TimestampHeader == "" || s.Tolerance <= 0 {
		return nil
	}
	at, err := s.parseTime(ts)
	if err != nil {
		return fmt.Errorf("%w: %s %.40q", ErrMalformed, s.TimestampHeader, ts)
	}
	if d := now.Sub(at); d > s.Tolerance || d < -s.Tolerance {
		return fmt.Errorf("%w: %s is %s from now (tolerance %s)", ErrStale, s.TimestampHeader, d.Round(time.Second), s.Tolerance)
	}
	return nil
}

// Sign returns the signature header's value for body at timestamp ts (""
// when the scheme has none), with the Prefix: what the platform sends. For
// fakes and tests.
func (s Scheme) Sign(secret, ts string, body []byte) string {
	mac := s.mac(secret, ts, body)
	if s.Encoding == Base64 {
		return s.Prefix + base64.StdEncoding.EncodeToString(mac)
	}
	return s.Prefix + hex.EncodeToString(mac)
}

// Timestamp writes t as the platform writes its timestamp header.
func (s Scheme) Timestamp(t time.Time) string {
	switch s.TimeFormat {
	case UnixMilli:
		return strconv.FormatInt(t.UnixMilli(), 10)
	case RFC3339:
		return t.UTC().Format(time.RFC3339)
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func (s Scheme) mac(secret, ts string, body []byte) []byte {
	h := s.Hash
	if h == nil {
		h = sha256.New
	}
	m := hmac.New(h, []byte(secret))
	if s.TimestampHeader != "" {
		m.Write([]byte(ts))
		m.Write([]byte(s.Join))
	}
	m.Write(body)
	return m.Sum(nil)
}

func (s Scheme) decode(v string) ([]byte, error) {
	if s.Prefix != "" && len(v) >= len(s.Prefix) && strings.EqualFold(v[:len(s.Prefix)], s.Prefix) {
		v = v[len(s.Prefix):]
	}
	if s.Encoding == Hex {
		return hex.DecodeString(v)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// parseTime reads v in the scheme's format only: a Chatwoot timestamp in
// milliseconds is thousands of years ahead, not "close enough".
func (s Scheme) parseTime(v string) (time.Time, error) {
	if s.TimeFormat == RFC3339 {
		return time.Parse(time.RFC3339Nano, v)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	if s.TimeFormat == UnixMilli {
		return time.UnixMilli(n), nil
	}
	return time.Unix(n, 0), nil
}

// TokenEqual reports whether got is the shared token want, in time that
// does not depend on where they differ, nor on their lengths. An empty want
// (no token configured) matches nothing.
func TokenEqual(got, want string) bool {
	if want == "" {
		return false
	}
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// Header returns the first value of key in h, whatever the case of its
// name: a plugin's WebhookRequest.Header is a plain map.
func Header(h map[string][]string, key string) string {
	if vs := h[key]; len(vs) > 0 {
		return vs[0]
	}
	for k, vs := range h {
		if strings.EqualFold(k, key) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}
