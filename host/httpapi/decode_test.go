package httpapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
)

// TestDecodeErrorsSpeakJSON: a body that is not what the API takes is
// answered in the client's terms — JSON types and field paths — never with
// Go's type names or encoding/json's wording.
func TestDecodeErrorsSpeakJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body, field, message string
	}{
		{"number for a string", `{"client": {"user_id": 5}}`, "client.user_id", "client.user_id must be a string, not a number"},
		{"object for a string", `{"request_id": {}}`, "request_id", "request_id must be a string, not an object"},
		{"string for an object", `{"client": "u1"}`, "client", "client must be an object, not a string"},
		{"array for an object", `{"metadata": [1]}`, "metadata", "metadata must be an object, not an array"},
		{"bool for an object", `{"payload": true}`, "payload", "payload must be an object, not a boolean"},
		{"not an object", `[1, 2]`, "", "the body must be a JSON object, not an array"},
		{"a string", `"hi"`, "", "the body must be a JSON object, not a string"},
		{"truncated", `{"client": {"user_id": "u1"`, "", "malformed JSON: the body ends too early"},
		{"syntax", `{"client": {"user_id": "u1"}}}`, "", "malformed JSON at byte 30: invalid character '}' after top-level value"},
		{"bad token", `{"client": nope}`, "", "malformed JSON at byte 13: invalid character 'o' in literal null (expecting 'u')"},
		{"empty", ` `, "", "request body is empty; send a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev engine.Event
			err := decodeJSON([]byte(tc.body), &ev)
			var he *host.Error
			if !errors.As(err, &he) {
				t.Fatalf("decodeJSON(%s) = %v, want a *host.Error", tc.body, err)
			}
			if he.Code != host.EINVALID || he.Field != tc.field || he.Message != tc.message {
				t.Errorf("decodeJSON(%s) = {code %s, field %q, message %q}, want {invalid, %q, %q}", tc.body, he.Code, he.Field, he.Message, tc.field, tc.message)
			}
			for _, goism := range []string{"Go ", "engine.", "interface {}", "map[", "[]", "struct", "json: ", "float64", "int64"} {
				if strings.Contains(he.Message, goism) {
					t.Errorf("message %q shows Go's vocabulary (%q)", he.Message, goism)
				}
			}
		})
	}
}
