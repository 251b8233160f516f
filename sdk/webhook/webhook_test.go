package webhook_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk/webhook"
)

const secret = "whsec_0123456789"

var (
	now  = time.Unix(1741083330, 0)
	body = []byte(`{"event":"message_created","id":42,"content":"Hi there"}`)
)

// mac is computed here independently of the package, from each
// platform's documentation (see /work/shared/providers/others.md §9).
func mac(h func() hash.Hash, key string, parts ...string) []byte {
	m := hmac.New(h, []byte(key))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func TestVerify(t *testing.T) {
	sha256New, sha1New := sha256.New, sha1.New
	unix := strconv.FormatInt(now.Unix(), 10)
	stale := strconv.FormatInt(now.Add(-6*time.Minute).Unix(), 10)
	future := strconv.FormatInt(now.Add(6*time.Minute).Unix(), 10)
	iso := now.UTC().Format(time.RFC3339)
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	b := string(body)

	chatwoot := func(key, ts, bd string) string {
		return "sha256=" + hex.EncodeToString(mac(sha256New, key, ts, ".", bd))
	}
	zendesk := func(key, ts, bd string) string { return base64.StdEncoding.EncodeToString(mac(sha256New, key, ts, bd)) }
	front := func(key, ts, bd string) string {
		return base64.StdEncoding.EncodeToString(mac(sha256New, key, ts, ":", bd))
	}
	intercom := func(key, bd string) string { return "sha1=" + hex.EncodeToString(mac(sha1New, key, bd)) }

	for _, tc := range []struct {
		name   string
		scheme webhook.Scheme
		header map[string]string
		body   string
		want   error // nil: accepted
	}{
		{"chatwoot good", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": chatwoot(secret, unix, b), "X-Chatwoot-Timestamp": unix}, b, nil},
		{"chatwoot header names in any case", webhook.Chatwoot, map[string]string{"x-chatwoot-signature": chatwoot(secret, unix, b), "x-chatwoot-timestamp": unix}, b, nil},
		{"chatwoot bare hex, upper case", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": strings.ToUpper(strings.TrimPrefix(chatwoot(secret, unix, b), "sha256=")), "X-Chatwoot-Timestamp": unix}, b, nil},
		{"chatwoot rotated secret: one of two", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": chatwoot("old", unix, b) + ", " + chatwoot(secret, unix, b), "X-Chatwoot-Timestamp": unix}, b, nil},
		{"chatwoot wrong secret", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": chatwoot("not-the-secret", unix, b), "X-Chatwoot-Timestamp": unix}, b, webhook.ErrMismatch},
		{"chatwoot stale timestamp", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": chatwoot(secret, stale, b), "X-Chatwoot-Timestamp": stale}, b, webhook.ErrStale},
		{"chatwoot timestamp from the future", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": chatwoot(secret, future, b), "X-Chatwoot-Timestamp": future}, b, webhook.ErrStale},
		{"chatwoot timestamp replaced", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": chatwoot(secret, stale, b), "X-Chatwoot-Timestamp": unix}, b, webhook.ErrMismatch},
		{"chatwoot tampered body", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": chatwoot(secret, unix, b), "X-Chatwoot-Timestamp": unix}, strings.Replace(b, "Hi", "Ho", 1), webhook.ErrMismatch},
		{"chatwoot body with a trailing newline", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": chatwoot(secret, unix, b), "X-Chatwoot-Timestamp": unix}, b + "\n", webhook.ErrMismatch},
		{"chatwoot base64 instead of hex", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": "sha256=" + zendesk(secret, unix+".", b), "X-Chatwoot-Timestamp": unix}, b, webhook.ErrMismatch},
		{"chatwoot unsigned", webhook.Chatwoot, map[string]string{}, b, webhook.ErrUnsigned},
		{"chatwoot no timestamp", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": chatwoot(secret, "", b)}, b, webhook.ErrUnsigned},
		{"chatwoot timestamp in milliseconds", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": chatwoot(secret, ms, b), "X-Chatwoot-Timestamp": ms}, b, webhook.ErrStale},
		{"front timestamp in seconds", webhook.Front, map[string]string{"X-Front-Signature": front(secret, unix, b), "X-Front-Request-Timestamp": unix}, b, webhook.ErrStale},
		{"zendesk unix timestamp", webhook.Zendesk, map[string]string{"X-Zendesk-Webhook-Signature": zendesk(secret, unix, b), "X-Zendesk-Webhook-Signature-Timestamp": unix}, b, webhook.ErrMalformed},
		{"chatwoot signed timestamp that is no time", webhook.Chatwoot, map[string]string{"X-Chatwoot-Signature": chatwoot(secret, "soon", b), "X-Chatwoot-Timestamp": "soon"}, b, webhook.ErrMalformed},

		{"zendesk good, ISO timestamp", webhook.Zendesk, map[string]string{"X-Zendesk-Webhook-Signature": zendesk(secret, iso, b), "X-Zendesk-Webhook-Signature-Timestamp": iso}, b, nil},
		{"zendesk wrong secret", webhook.Zendesk, map[string]string{"X-Zendesk-Webhook-Signature": zendesk("nope", iso, b), "X-Zendesk-Webhook-Signature-Timestamp": iso}, b, webhook.ErrMismatch},
		{"zendesk hex instead of base64", webhook.Zendesk, map[string]string{"X-Zendesk-Webhook-Signature": hex.EncodeToString(mac(sha256New, secret, iso, b)), "X-Zendesk-Webhook-Signature-Timestamp": iso}, b, webhook.ErrMismatch},
		{"zendesk stale", webhook.Zendesk, map[string]string{"X-Zendesk-Webhook-Signature": zendesk(secret, "2025-03-04T09:00:00Z", b), "X-Zendesk-Webhook-Signature-Timestamp": "2025-03-04T09:00:00Z"}, b, webhook.ErrStale},
		{"zendesk tampered body", webhook.Zendesk, map[string]string{"X-Zendesk-Webhook-Signature": zendesk(secret, iso, b), "X-Zendesk-Webhook-Signature-Timestamp": iso}, b + " ", webhook.ErrMismatch},

		{"front good, ms timestamp", webhook.Front, map[string]string{"X-Front-Signature": front(secret, ms, b), "X-Front-Request-Timestamp": ms}, b, nil},
		{"front signed without the colon", webhook.Front, map[string]string{"X-Front-Signature": zendesk(secret, ms, b), "X-Front-Request-Timestamp": ms}, b, webhook.ErrMismatch},

		{"intercom good", webhook.Intercom, map[string]string{"X-Hub-Signature": intercom(secret, b)}, b, nil},
		{"intercom wrong secret", webhook.Intercom, map[string]string{"X-Hub-Signature": intercom("nope", b)}, b, webhook.ErrMismatch},
		{"intercom tampered body", webhook.Intercom, map[string]string{"X-Hub-Signature": intercom(secret, b)}, "{}", webhook.ErrMismatch},
		{"intercom sha256 where sha1 is expected", webhook.Intercom, map[string]string{"X-Hub-Signature": "sha1=" + hex.EncodeToString(mac(sha256New, secret, b))}, b, webhook.ErrMismatch},
		{"intercom not hex at all", webhook.Intercom, map[string]string{"X-Hub-Signature": "sha1=zz"}, b, webhook.ErrMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string][]string{}
			for k, v := range tc.header {
				h[k] = []string{v}
			}
			err := tc.scheme.Verify(secret, h, []byte(tc.body), now)
			if !errors.Is(err, tc.want) || (tc.want != nil && err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("the secret is in the error %q", err)
			}
		})
	}
}

func TestVerifyNeedsASecret(t *testing.T) {
	// A scheme without a secret would accept the HMAC of an empty key,
	// which anyone can make.
	sig := webhook.Intercom.Sign("", "", body)
	err := webhook.Intercom.Verify("", map[string][]string{"X-Hub-Signature": {sig}}, body, now)
	if !errors.Is(err, webhook.ErrNoSecret) {
		t.Errorf("Verify with no secret = %v", err)
	}
}

func TestSignRoundTrips(t *testing.T) {
	for name, s := range map[string]webhook.Scheme{"chatwoot": webhook.Chatwoot, "zendesk": webhook.Zendesk, "front": webhook.Front, "intercom": webhook.Intercom} {
		ts := s.Timestamp(now)
		h := map[string][]string{s.SignatureHeader: {s.Sign(secret, ts, body)}}
		if s.TimestampHeader != "" {
			h[s.TimestampHeader] = []string{ts}
		}
		if err := s.Verify(secret, h, body, now.Add(time.Minute)); err != nil {
			t.Errorf("%s: Verify(Sign) = %v (headers %v)", name, err, h)
		}
	}
}

func TestTokenEqual(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		ok        bool
	}{
		{"tok-123", "tok-123", true},
		{"tok-124", "tok-123", false},
		{"tok-12", "tok-123", false},
		{"", "", false}, // no token configured accepts nothing
		{"x", "", false},
	} {
		if webhook.TokenEqual(tc.got, tc.want) != tc.ok {
			t.Errorf("TokenEqual(%q, %q) = %v", tc.got, tc.want, !tc.ok)
		}
	}
}

// FuzzVerify: whatever the headers and body, Verify never panics and never
// accepts a request without the secret.
func FuzzVerify(f *testing.F) {
	f.Add("sha256=00", "1741083330", []byte(`{}`))
	f.Add("", "", []byte(nil))
	f.Add("sha256=,,", "-9223372036854775808", []byte(`x`))
	f.Add("=", "2025-03-04T10:15:30Z", []byte(`x`))
	f.Fuzz(func(t *testing.T, sig, ts string, b []byte) {
		for _, s := range []webhook.Scheme{webhook.Chatwoot, webhook.Zendesk, webhook.Front, webhook.Intercom} {
			h := map[string][]string{s.SignatureHeader: {sig}, s.TimestampHeader: {ts}}
			if s.Verify(secret, h, b, now) == nil {
				t.Errorf("accepted signature %q at %q without the secret", sig, ts)
			}
		}
	})
}
