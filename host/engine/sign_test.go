package engine_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/engine"
)

func TestVerifyAt(t *testing.T) {
	const secret = "s3cret"
	body := []byte(`{"client":{"user_id":"u1"}}`)
	now := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) string { return engine.Signature(secret, body, now.Add(d)) }
	for _, tc := range []struct {
		name      string
		header    string
		tolerance time.Duration
		want      error // nil: accepted
	}{
		{"now", at(0), 5 * time.Minute, nil},
		{"at the tolerance, before", at(-5 * time.Minute), 5 * time.Minute, nil},
		{"at the tolerance, after", at(5 * time.Minute), 5 * time.Minute, nil},
		{"past it, before", at(-5*time.Minute - time.Second), 5 * time.Minute, engine.ErrSignatureStale},
		{"past it, after", at(5*time.Minute + time.Second), 5 * time.Minute, engine.ErrSignatureStale},
		{"any age without a tolerance", at(-1000 * time.Hour), 0, nil},
		{"spaces around parts", " t=" + strconv.FormatInt(now.Unix(), 10) + " , v1=" + engine.Sign(secret, strconv.FormatInt(now.Unix(), 10), body) + " ", time.Minute, nil},
		{"uppercase hex", "t=" + strconv.FormatInt(now.Unix(), 10) + ",v1=" + strings.ToUpper(engine.Sign(secret, strconv.FormatInt(now.Unix(), 10), body)), time.Minute, nil},
		{"empty", "", time.Minute, engine.ErrSignatureMissing},
		{"blank", "  ", time.Minute, engine.ErrSignatureMissing},
		{"no t", "v1=" + strings.Repeat("0", 64), time.Minute, engine.ErrSignatureMalformed},
		{"no v1", "t=1", time.Minute, engine.ErrSignatureMalformed},
		{"negative t", "t=-1,v1=" + engine.Sign(secret, "-1", body), 0, engine.ErrSignatureMalformed},
		{"short v1", "t=1,v1=abcd", 0, engine.ErrSignatureMalformed},
		{"wrong secret", engine.Signature("other", body, now), time.Minute, engine.ErrSignatureMismatch},
		{"another body", engine.Signature(secret, []byte(`{}`), now), time.Minute, engine.ErrSignatureMismatch},
		// The time is judged only once the signature is known good: a
		// forger learns nothing from the clock check.
		{"stale and wrong", engine.Signature("other", body, now.Add(-time.Hour)), time.Minute, engine.ErrSignatureMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := engine.VerifyAt(secret, tc.header, body, now, tc.tolerance)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("VerifyAt = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), engine.Sign(secret, strconv.FormatInt(now.Unix(), 10), body)) {
				t.Errorf("the error shows the expected signature: %v", err)
			}
			if got := engine.Verify(secret, tc.header, body); got != (tc.want == nil || errors.Is(tc.want, engine.ErrSignatureStale)) {
				t.Errorf("Verify = %v; it checks the signature only", got)
			}
		})
	}
}
