package engine

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzSignature checks X-Livechat-Signature (VerifyAt), on channel events and
// deliveries alike, against any header, body, clock and tolerance. It never
// panics; it accepts a header only when one of its v1 values is the HMAC of
// "<t>.<body>" under the secret and, with a tolerance, t is within it of
// now; a refusal wraps one of the ErrSignature reasons and never shows the
// signature it wanted; and what Signature makes at now verifies at now.
func FuzzSignature(f *testing.F) {
	const secret = "channel-secret"
	f.Add("t=1741083330,v1=00", []byte(`{}`), int64(1741083330), int64(300))
	f.Fuzz(func(t *testing.T, header string, body []byte, now, tolerance int64) {
		clock := time.Unix(now, 0)
		tol := time.Duration(tolerance) * time.Second
		if tolerance > 1<<32 || tolerance < -1<<32 {
			tol = time.Duration(tolerance) // nanoseconds, never overflowing
		}
		err := VerifyAt(secret, header, body, clock, tol)
		ts, sigs := splitSignature(header)
		want := Sign(secret, ts, body)
		if err != nil {
			reasons := []error{ErrSignatureMissing, ErrSignatureMalformed, ErrSignatureMismatch, ErrSignatureStale}
			known := false
			for _, r := range reasons {
				known = known || errors.Is(err, r)
			}
			if !known {
				t.Fatalf("refusal %q wraps no ErrSignature reason", err)
			}
			if strings.Contains(strings.ToLower(err.Error()), want) {
				t.Fatalf("refusal %q shows the signature it wanted", err)
			}
		} else {
			matched := false
			for _, s := range sigs {
				matched = matched || strings.EqualFold(s, want)
			}
			if !matched {
				t.Fatalf("accepted %q for %q: no v1 is the body's signature", header, body)
			}
			if tol > 0 {
				sec, perr := strconv.ParseInt(ts, 10, 64)
				age := clock.Sub(time.Unix(sec, 0))
				if perr != nil || age > tol+time.Second || -age > tol+time.Second {
					t.Fatalf("accepted t=%s at now=%d with a tolerance of %s", ts, now, tol)
				}
			}
		}
		if now < 0 {
			return // t= is a Unix time after 1970
		}
		if err := VerifyAt(secret, Signature(secret, body, clock), body, clock, tol); err != nil {
			t.Fatalf("a signature made now is refused now: %v", err)
		}
		if err := VerifyAt("another", Signature(secret, body, clock), body, clock, tol); !errors.Is(err, ErrSignatureMismatch) {
			t.Fatalf("a signature made with another secret: %v, want a mismatch", err)
		}
	})
}

// splitSignature reads "t=<unix>,v1=<hex>[,v1=<hex>...]" on its own, to
// check VerifyAt by another reading: the last t, every v1.
func splitSignature(header string) (ts string, sigs []string) {
	for _, part := range strings.Split(strings.TrimSpace(header), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	return ts, sigs
}
