package platform

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ParseRetryAfter reads a Retry-After value, in seconds ("7", "0.5") or as
// an HTTP date, against now. It reports false when v is absent, unreadable
// or not in the future; a wait longer than an hour is cut to an hour.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	const most = time.Hour
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		switch {
		case math.IsNaN(secs) || secs <= 0:
			return 0, false
		case secs >= most.Seconds():
			return most, true
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	switch {
	case d <= 0:
		return 0, false
	case d > most:
		return most, true
	}
	return d, true
}

// ErrorMessage reads a platform's error message out of an error answer's
// body. It knows the shapes of Gorgias ({"error": {"msg", "data"}}),
// Chatwoot ({"error": "..."}, {"message"}, {"errors": [...]}), Zendesk
// ({"error", "description", "details"}), Freshdesk and Intercom ({"errors":
// [{"field"|"code", "message"}]}) and Front ({"_error": {"message"}}),
// and gives the text of a body that is not JSON unless it is an HTML page.
// Field details follow in parentheses: "Validation failed (email: It should
// be a valid email address)".
func ErrorMessage(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		if strings.HasPrefix(s, "<") {
			return "" // an HTML error page: the status says as much
		}
		return oneLine(s)
	}
	var msg string
	var details []json.RawMessage
	for _, k := range []string{"error", "_error"} {
		raw, ok := top[k]
		if !ok {
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) == nil {
			msg = first(obj, "msg", "message", "description", "title")
			details = append(details, obj["data"], obj["details"], obj["errors"])
		} else if str := text(raw); str != "" {
			msg = str
		}
		break
	}
	if desc := first(top, "description", "error_description"); msg != "" && desc != "" && desc != msg {
		msg += ": " + desc
	}
	if msg == "" {
		msg = first(top, "message", "msg", "description", "error_description", "title", "detail")
	}
	details = append(details, top["details"], top["errors"])
	var parts []string
	for _, d := range details {
		if p := detail(d); p != "" {
			parts = append(parts, p)
		}
	}
	switch d := strings.Join(parts, ", "); {
	case msg == "":
		return oneLine(d)
	case d != "":
		return oneLine(msg + " (" + d + ")")
	}
	return oneLine(msg)
}

// first is the first of keys of obj that holds a non-empty string.
func first(obj map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		if s := text(obj[k]); s != "" {
			return s
		}
	}
	return ""
}

// text is raw as a string when it is a JSON string or number.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// detail renders field errors: {"field": ["msg", ...]} as "field: msg;
// msg", [{"field"|"code", "message"}] as "field: message", ["msg"] as
// "msg".
func detail(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) == nil {
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			if m := messages(fields[k]); m != "" {
				parts = append(parts, k+": "+m)
			}
		}
		return strings.Join(parts, ", ")
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, e := range list {
			var obj map[string]json.RawMessage
			if json.Unmarshal(e, &obj) == nil {
				m := first(obj, "message", "description", "detail", "msg")
				if f := first(obj, "field", "attribute", "code"); f != "" && m != "" {
					m = f + ": " + m
				}
				if m != "" {
					parts = append(parts, m)
				}
			} else if s := text(e); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "; ")
	}
	return text(raw)
}

// messages renders one field's errors: a string, or a list of strings or
// of {"description"|"message"} objects.
func messages(raw json.RawMessage) string {
	if s := text(raw); s != "" {
		return s
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return oneLine(fmt.Sprint(string(raw)))
	}
	parts := make([]string, 0, len(list))
	for _, e := range list {
		var obj map[string]json.RawMessage
		if json.Unmarshal(e, &obj) == nil {
			if m := first(obj, "description", "message", "msg"); m != "" {
				parts = append(parts, m)
			}
		} else if s := text(e); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

// ResetHeader is an Options.RetryAfter for platforms that say when their
// rate window resets instead of how long to wait: name holds a Unix time
// in seconds (e.g. Intercom's X-RateLimit-Reset). Retry-After still wins
// when the answer has one.
func ResetHeader(name string) func(h http.Header, now time.Time) (time.Duration, bool) {
	return func(h http.Header, now time.Time) (time.Duration, bool) {
		if d, ok := ParseRetryAfter(h.Get("Retry-After"), now); ok {
			return d, true
		}
		secs, err := strconv.ParseInt(strings.TrimSpace(h.Get(name)), 10, 64)
		if err != nil || secs <= 0 {
			return 0, false
		}
		// A reset a second or less away still needs that second: the
		// window's edge is rounded down to the second.
		d := time.Unix(secs, 0).Sub(now) + time.Second
		switch {
		case d <= time.Second:
			return time.Second, true
		case d > time.Hour:
			return time.Hour, true
		}
		return d, true
	}
}
