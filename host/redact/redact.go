// Package redact takes credentials out of URLs before they reach a log, an
// error or any other output: the password of the userinfo (or a lone user
// name, often a token), and the values of query parameters whose names say
// they hold a credential (token, key, secret, password, signature…).
//
// Operators put credentials in bot_url, channel_url and public_url because
// the services behind them ask for it; the host still has to say which URL
// failed, so it says it with the credentials replaced by Mask.
package redact

import (
	"errors"
	"net/url"
	"strings"
)

// Mask replaces each credential.
const Mask = "REDACTED"

// sensitive are substrings of query parameter names (lower-cased) that hold
// credentials: token, access_token, api_key, apikey, key, secret,
// client_secret, password, passwd, pwd, signature, sig, auth, credential…
var sensitive = []string{"token", "key", "secret", "pass", "pwd", "sig", "auth", "credential", "session"}

// IsSensitiveParam reports whether a query parameter called name holds a
// credential.
func IsSensitiveParam(name string) bool {
	n := strings.ToLower(name)
	for _, s := range sensitive {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// URL returns s with its credentials masked, the rest as it was. A string
// that does not parse as a URL is masked whole: what it holds is unknown.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return Mask
	}
	return Of(u).String()
}

// Of returns a copy of u with its credentials masked.
func Of(u *url.URL) *url.URL {
	c := *u
	if c.User != nil {
		if _, ok := c.User.Password(); ok {
			c.User = url.UserPassword(c.User.Username(), Mask)
		} else {
			c.User = url.User(Mask)
		}
	}
	c.RawQuery = query(c.RawQuery)
	if strings.Contains(c.Fragment, "=") { // OAuth's #access_token=…
		f := query(c.EscapedFragment())
		c.Fragment, _ = url.PathUnescape(f)
		c.RawFragment = f
	}
	return &c
}

// query masks the values of sensitive parameters of a raw query, keeping
// the order and the encoding of everything else.
func query(raw string) string {
	if raw == "" {
		return raw
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || v == "" {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if IsSensitiveParam(name) {
			parts[i] = k + "=" + Mask
		}
	}
	return strings.Join(parts, "&")
}

// Err masks the credentials of the URL that net/http and net/url put in
// their errors (*url.Error, as in `Post "https://…?token=…": dial tcp…`),
// in place, and returns err.
func Err(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = URL(ue.URL)
	}
	return err
}
