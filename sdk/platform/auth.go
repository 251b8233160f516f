package platform

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// BasicAuth sets HTTP Basic credentials (Gorgias: the user's email and the
// REST API key; Freshdesk: the API key and "X").
func BasicAuth(user, password string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

// BearerToken sets "Authorization: Bearer <token>" (Intercom, Front, OAuth).
func BearerToken(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// HeaderAuth sets a header of the platform's own, e.g. Chatwoot's
// api_access_token. The name is sent as written.
func HeaderAuth(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.Header[name] = []string{value} }
}

// minSecret is the shortest value redacted: shorter ones would blank out
// ordinary words and are no secret anyway.
const minSecret = 4

// authSecrets are the static secrets plus every header value Auth set or
// changed, and the credentials inside Basic and Bearer values.
func (c *Client) authSecrets(before, after http.Header) []string {
	var found []string
	for k, vs := range after {
		for i, v := range vs {
			if old := before[k]; i < len(old) && old[i] == v {
				continue
			}
			found = append(found, v)
			scheme, cred, ok := strings.Cut(v, " ")
			if !ok {
				continue
			}
			found = append(found, cred)
			if strings.EqualFold(scheme, "Basic") {
				if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
					_, pass, _ := strings.Cut(string(raw), ":")
					found = append(found, string(raw), pass)
				}
			}
		}
	}
	if len(found) == 0 {
		return c.secrets
	}
	return expand(append(found, c.secrets...))
}

// expand adds the URL-escaped forms of each secret and orders them longest
// first, so that a secret inside another is not left half shown.
func expand(secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if len(s) < minSecret {
			continue
		}
		out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
}

// redact replaces every secret in s.
func redact(s string, secrets []string) string {
	for _, k := range secrets {
		s = strings.ReplaceAll(s, k, "[redacted]")
	}
	return s
}

// redactURL is a URL without its userinfo, for an error about the URL.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = url.User("[redacted]")
		return u.String()
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		return "[redacted]" + raw[i:]
	}
	return raw
}

// oneLine is s on one line, cut to a readable length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const most = 300
	if len(s) > most {
		cut := most
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
