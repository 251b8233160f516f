package sandbox

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Gorgias validates with marshmallow; these are its messages.
const (
	msgMissing    = "Missing data for required field."
	msgNull       = "Field may not be null."
	msgNotString  = "Not a valid string."
	msgNotBool    = "Not a valid boolean."
	msgNotInt     = "Not a valid integer."
	msgNotList    = "Not a valid list."
	msgNotObject  = "Invalid input type."
	msgNotTime    = "Not a valid datetime."
	msgUnknown    = "Unknown field."
	msgNotFoundID = "Object does not exist."
)

func msgMaxLen(n int) string { return fmt.Sprintf("Longer than maximum length %d.", n) }

func msgOneOf(choices ...string) string {
	return "Must be one of: " + strings.Join(choices, ", ") + "."
}

// fields reads a JSON object decoded with UseNumber and collects errors
// under flat field names, like Gorgias's documented 400 bodies.
type fields struct {
	m    map[string]any
	errs map[string][]string
}

func newFields(m map[string]any, errs map[string][]string) *fields {
	return &fields{m: m, errs: errs}
}

func (f *fields) fail(field, msg string) {
	if !contains(f.errs[field], msg) {
		f.errs[field] = append(f.errs[field], msg)
	}
}

func (f *fields) has(key string) bool {
	_, ok := f.m[key]
	return ok
}

// raw returns the value; present is false when the key is absent.
func (f *fields) raw(key string, required bool) (v any, present bool) {
	v, ok := f.m[key]
	if !ok {
		if required {
			f.fail(key, msgMissing)
		}
		return nil, false
	}
	if v == nil && required {
		f.fail(key, msgNull)
		return nil, false
	}
	return v, true
}

// str reads a string; null reads as "" (nullable fields). maxLen 0: any.
func (f *fields) str(key string, required bool, maxLen int) (string, bool) {
	v, ok := f.raw(key, required)
	if !ok {
		return "", false
	}
	if v == nil {
		return "", true
	}
	s, isStr := v.(string)
	if !isStr {
		f.fail(key, msgNotString)
		return "", false
	}
	if maxLen > 0 && len([]rune(s)) > maxLen {
		f.fail(key, msgMaxLen(maxLen))
		return "", false
	}
	return s, true
}

func (f *fields) oneOf(key string, required bool, choices ...string) (string, bool) {
	s, ok := f.str(key, required, 0)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if s == c {
			return s, true
		}
	}
	f.fail(key, msgOneOf(choices...))
	return "", false
}

func (f *fields) boolean(key string, required bool) (bool, bool) {
	v, ok := f.raw(key, required)
	if !ok {
		return false, false
	}
	if v == nil {
		f.fail(key, msgNull)
		return false, false
	}
	b, isBool := v.(bool)
	if !isBool {
		f.fail(key, msgNotBool)
		return false, false
	}
	return b, true
}

func (f *fields) object(key string, required bool) (map[string]any, bool) {
	v, ok := f.raw(key, required)
	if !ok || v == nil {
		return nil, ok
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		f.fail(key, msgNotObject)
		return nil, false
	}
	return m, true
}

func (f *fields) list(key string, required bool) ([]any, bool) {
	v, ok := f.raw(key, required)
	if !ok || v == nil {
		return nil, ok
	}
	l, isList := v.([]any)
	if !isList {
		f.fail(key, msgNotList)
		return nil, false
	}
	return l, true
}

func (f *fields) datetime(key string) (*time.Time, bool) {
	s, ok := f.str(key, false, 0)
	if !ok || s == "" {
		return nil, ok
	}
	t, err := parseTime(s)
	if err != nil {
		f.fail(key, msgNotTime)
		return nil, false
	}
	return &t, true
}

// asInt reads a JSON integer (json.Number, or a string of digits).
func asInt(v any) (int64, bool) {
	switch v := v.(type) {
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// ref is a nested reference, {"id": N} and/or {"email": "…"}, with the
// other fields that update the referenced object (§1.1).
type ref struct {
	id       int64
	hasID    bool
	email    string
	updates  map[string]string // name, firstname, lastname, external_id
	explicit bool              // the object was given (even {"id": null})
}

// parseRef reads a reference; null and {"id": null} are an explicit "none".
func parseRef(f *fields, key string, required bool) (ref, bool) {
	v, ok := f.raw(key, required)
	if !ok {
		return ref{}, false
	}
	if v == nil {
		return ref{explicit: true}, true
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		f.fail(key, msgNotObject)
		return ref{}, false
	}
	r := ref{explicit: true, updates: map[string]string{}}
	if idv, has := m["id"]; has && idv != nil {
		n, isInt := asInt(idv)
		if !isInt {
			f.fail(key, msgNotInt)
			return ref{}, false
		}
		r.id, r.hasID = n, true
	}
	if ev, has := m["email"]; has && ev != nil {
		s, isStr := ev.(string)
		if !isStr {
			f.fail(key, msgNotString)
			return ref{}, false
		}
		if len(s) > 320 {
			f.fail(key, msgMaxLen(320))
			return ref{}, false
		}
		r.email = strings.TrimSpace(s)
	}
	for _, k := range []string{"name", "firstname", "lastname", "external_id"} {
		if s, isStr := m[k].(string); isStr {
			r.updates[k] = s
		}
	}
	return r, true
}

func (r ref) empty() bool { return !r.hasID && r.email == "" }

// messageInput is a validated message of POST /api/tickets or
// POST /api/tickets/{id}/messages.
type messageInput struct {
	channel, via          string
	fromAgent             bool
	public                *bool
	sender, receiver      ref
	hasSender, hasRecv    bool
	bodyText, bodyHTML    string
	hasText, hasHTML      bool
	subject               string
	externalID            string
	source, meta, headers any
	actions               any
	attachments           []any
	macros                []any
	sentDatetime          *time.Time
	createdDatetime       *time.Time
	integrationID         *int64
}

// viaValues are the `via` values of §1.11.
var viaValues = strings.Split("aircall, api, chat, contact_form, email, facebook, facebook-mention, "+
	"facebook-messenger, facebook-recommendations, form, gorgias_chat, help-center, helpdesk, "+
	"instagram, instagram-ad-comment, instagram-comment, instagram-direct-message, instagram-mention, "+
	"internal-note, offline_capture, phone, rule, self_service, shopify, sms, twilio, twitter, "+
	"twitter-direct-message, whatsapp, yotpo, yotpo-review, zendesk", ", ")

// parseMessage validates one message object; errors go to errs under the
// message's field names.
func parseMessage(v any, errs map[string][]string) (messageInput, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		errs["messages"] = append(errs["messages"], msgNotObject)
		return messageInput{}, false
	}
	local := map[string][]string{}
	f := newFields(m, local)
	var in messageInput
	in.channel, _ = f.str("channel", true, 0)
	in.via, _ = f.oneOf("via", true, viaValues...)
	in.fromAgent, _ = f.boolean("from_agent", true)
	if f.has("public") {
		if b, ok := f.boolean("public", false); ok {
			in.public = &b
		}
	}
	if _, has := m["from_agent"]; has {
		if fa, isBool := m["from_agent"].(bool); isBool && !fa {
			// An incoming message must say who the customer is.
			in.sender, in.hasSender = parseRef(f, "sender", true)
			if in.hasSender && (!in.sender.explicit || in.sender.empty()) {
				f.fail("sender", msgMissing)
			}
		} else {
			in.sender, in.hasSender = parseRef(f, "sender", false)
		}
	}
	in.receiver, in.hasRecv = parseRef(f, "receiver", false)
	in.bodyText, in.hasText = f.str("body_text", false, 0)
	in.bodyHTML, in.hasHTML = f.str("body_html", false, 0)
	in.subject, _ = f.str("subject", false, 998)
	in.externalID, _ = f.str("external_id", false, 255)
	if v, ok := f.object("source", false); ok && v != nil {
		in.source = v
	}
	if v, ok := f.raw("meta", false); ok {
		in.meta = v
	}
	if v, ok := f.raw("headers", false); ok {
		in.headers = v
	}
	if v, ok := f.raw("actions", false); ok {
		in.actions = v
	}
	in.attachments, _ = f.list("attachments", false)
	in.macros, _ = f.list("macros", false)
	in.sentDatetime, _ = f.datetime("sent_datetime")
	in.createdDatetime, _ = f.datetime("created_datetime")
	if v, ok := f.raw("integration_id", false); ok && v != nil {
		if n, isInt := asInt(v); isInt {
			in.integrationID = &n
		} else {
			f.fail("integration_id", msgNotInt)
		}
	}
	merge(errs, local)
	return in, len(local) == 0
}

// merge adds src's messages to dst, each once per field.
func merge(dst, src map[string][]string) {
	for k, msgs := range src {
		for _, m := range msgs {
			if !contains(dst[k], m) {
				dst[k] = append(dst[k], m)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
