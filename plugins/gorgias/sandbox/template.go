package sandbox

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// The template language is the part of Jinja that HTTP integrations use:
// {{ a.b.c }} looks a dotted path up in the event's variables. As in Jinja,
// a missing variable renders as "", None as "None", booleans as
// "True"/"False", and dicts and lists in Python's repr. Anything else inside
// {{ }} (filters, calls) renders as "". {% %} blocks are left as they are.

type segment struct {
	text   string // literal text, or the expression when expr
	expr   bool
	offset int
}

// parseTemplate splits tmpl into literal text and {{ }} expressions. An
// unclosed {{ is literal text.
func parseTemplate(tmpl string) []segment {
	var segs []segment
	pos := 0
	for pos < len(tmpl) {
		i := strings.Index(tmpl[pos:], "{{")
		if i < 0 {
			break
		}
		start := pos + i
		j := strings.Index(tmpl[start+2:], "}}")
		if j < 0 {
			break
		}
		if start > pos {
			segs = append(segs, segment{text: tmpl[pos:start], offset: pos})
		}
		segs = append(segs, segment{text: strings.TrimSpace(tmpl[start+2 : start+2+j]), expr: true, offset: start})
		pos = start + 2 + j + 2
	}
	if pos < len(tmpl) {
		segs = append(segs, segment{text: tmpl[pos:], offset: pos})
	}
	return segs
}

// render renders tmpl, passing each value through esc.
func render(tmpl string, vars map[string]any, esc func(string) string) string {
	var b strings.Builder
	for _, s := range parseTemplate(tmpl) {
		if !s.expr {
			b.WriteString(s.text)
			continue
		}
		v := lookupString(vars, s.text)
		if esc != nil {
			v = esc(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

// renderURL renders a URL template: values are path-escaped before the
// first literal "?" and query-escaped after it, so that a message text with
// "&" or "#" stays one parameter.
func renderURL(tmpl string, vars map[string]any) string {
	var b strings.Builder
	inQuery := false
	for _, s := range parseTemplate(tmpl) {
		if !s.expr {
			b.WriteString(s.text)
			if strings.ContainsAny(s.text, "?") {
				inQuery = true
			}
			continue
		}
		v := lookupString(vars, s.text)
		if inQuery {
			b.WriteString(url.QueryEscape(v))
		} else {
			b.WriteString(url.PathEscape(v))
		}
	}
	return b.String()
}

// escapeHeader keeps a rendered header value on one line.
func escapeHeader(s string) string {
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\x00", "").Replace(s)
}

// escapeJSONString escapes s for use between the quotes of a JSON string.
func escapeJSONString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// lookup resolves a dotted path; ok is false when the path is undefined.
func lookup(vars map[string]any, expr string) (any, bool) {
	parts := strings.Split(expr, ".")
	var cur any = vars
	for i, p := range parts {
		if !isIdent(p) && (i == 0 || !isDigits(p)) {
			return nil, false
		}
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[p]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(c) {
				return nil, false
			}
			cur = c[n]
		default:
			return nil, false
		}
	}
	return cur, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func lookupString(vars map[string]any, expr string) string {
	v, ok := lookup(vars, expr)
	if !ok {
		return ""
	}
	return pyStr(v)
}

// pyStr is Python's str() of a value decoded from JSON.
func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

// pyRepr is Python's repr() of a value decoded from JSON.
func pyRepr(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case string:
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(v) + "'"
	case json.Number:
		return v.String()
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		switch {
		case math.IsInf(v, 1):
			return "inf"
		case math.IsInf(v, -1):
			return "-inf"
		case math.IsNaN(v):
			return "nan"
		case v == math.Trunc(v) && math.Abs(v) < 1e16:
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = pyRepr(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = pyRepr(k) + ": " + pyRepr(v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return fmt.Sprint(v)
	}
}
