package sdk

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// WithDefaults returns a copy of cfg with the schema's defaults filled in for
// absent attributes.
func (s Schema) WithDefaults(cfg Config) Config {
	out := make(Config, len(cfg))
	for k, v := range cfg {
		out[k] = v
	}
	for _, a := range s.Attributes {
		if _, ok := out[a.Name]; !ok && a.Default != nil {
			out[a.Name] = a.Default
		}
	}
	return out
}

// Validate checks cfg against the schema: every key known, every required
// attribute present, every value of its attribute's type and within its
// rules (Enum, Pattern, URL, ConflictsWith; Deprecated is a warning), then
// each ExactlyOneOf set. Every diagnostic names its attribute, so the host
// points at its line. They come in a stable order: unknown keys, then each
// attribute's in schema order, then the ExactlyOneOf sets'.
func (s Schema) Validate(cfg Config) Diagnostics {
	var diags Diagnostics
	conflicts := map[[2]string]bool{}
	for _, k := range sortedKeys(cfg) {
		if _, ok := s.Attribute(k); !ok {
			diags = append(diags, Diagnostic{
				Severity:  SeverityError,
				Attribute: k,
				Summary:   fmt.Sprintf("unknown attribute %q", k),
				Detail:    "this provider accepts: " + strings.Join(s.names(), ", "),
			})
		}
	}
	for _, a := range s.Attributes {
		v, ok := cfg[a.Name]
		if !ok || v == nil {
			if a.Required {
				diags = append(diags, Diagnostic{
					Severity:  SeverityError,
					Attribute: a.Name,
					Summary:   fmt.Sprintf("missing required attribute %q", a.Name),
					Detail:    a.Description,
				})
			}
			continue
		}
		if a.Deprecated != "" {
			diags = append(diags, Diagnostic{
				Severity:  SeverityWarning,
				Attribute: a.Name,
				Summary:   fmt.Sprintf("attribute %q is deprecated", a.Name),
				Detail:    a.Deprecated,
			})
		}
		if err := a.Type.check(v); err != nil {
			diags = append(diags, Diagnostic{
				Severity:  SeverityError,
				Attribute: a.Name,
				Summary:   fmt.Sprintf("attribute %q: %v", a.Name, err),
			})
			continue
		}
		diags = append(diags, a.checkRules(v)...)
		for _, other := range a.ConflictsWith {
			pair := [2]string{min(a.Name, other), max(a.Name, other)}
			if ov, ok := cfg[other]; !ok || ov == nil || conflicts[pair] {
				continue
			}
			conflicts[pair] = true
			diags = append(diags, Diagnostic{
				Severity:  SeverityError,
				Attribute: other,
				Summary:   fmt.Sprintf("attributes %q and %q conflict", a.Name, other),
				Detail:    "set one of them, not both",
			})
		}
	}
	for _, set := range s.ExactlyOneOf {
		if len(set) == 0 {
			continue
		}
		var present []string
		for _, name := range set {
			if v, ok := cfg[name]; ok && v != nil {
				present = append(present, name)
			}
		}
		if len(present) == 1 {
			continue
		}
		d := Diagnostic{Severity: SeverityError, Attribute: set[0], Summary: "set exactly one of " + quoteList(set)}
		if len(present) == 0 {
			d.Detail = "none is set"
		} else {
			d.Attribute = present[len(present)-1]
			d.Detail = strings.Join(quoteEach(present[:len(present)-1]), ", ") + " and " + strconv.Quote(present[len(present)-1]) + " are set"
		}
		diags = append(diags, d)
	}
	return diags
}

// checkRules checks a value of the right type against Enum, Pattern and URL.
func (a Attribute) checkRules(v any) Diagnostics {
	if len(a.Enum) == 0 && a.Pattern == "" && !a.URL {
		return nil
	}
	var re *regexp.Regexp
	if a.Pattern != "" {
		var err error
		if re, err = regexp.Compile(a.Pattern); err != nil {
			return Diagnostics{{Severity: SeverityError, Attribute: a.Name,
				Summary: fmt.Sprintf("attribute %q: the provider's schema has a bad pattern: %v", a.Name, err)}}
		}
	}
	check := func(s string) *Diagnostic {
		switch {
		case len(a.Enum) > 0 && !slices.Contains(a.Enum, s):
			return &Diagnostic{Summary: fmt.Sprintf("%q is not one of %s", s, quoteList(a.Enum))}
		case re != nil && !re.MatchString(s):
			return &Diagnostic{Summary: fmt.Sprintf("%q does not match %s", s, a.Pattern)}
		case a.URL && !isHTTPURL(s):
			return &Diagnostic{Summary: fmt.Sprintf("%q is not an http(s) URL", s), Detail: "for example https://example.com/path"}
		}
		return nil
	}
	var values []string
	switch l := v.(type) {
	case string:
		values = []string{l}
	case []string:
		values = l
	case []any:
		for _, e := range l {
			s, _ := e.(string)
			values = append(values, s)
		}
	}
	var diags Diagnostics
	for i, s := range values {
		d := check(s)
		if d == nil {
			continue
		}
		prefix := fmt.Sprintf("attribute %q: ", a.Name)
		if _, list := v.(string); !list {
			prefix += fmt.Sprintf("element %d: ", i)
		}
		d.Severity, d.Attribute, d.Summary = SeverityError, a.Name, prefix+d.Summary
		diags = append(diags, *d)
	}
	return diags
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func quoteEach(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strconv.Quote(n)
	}
	return out
}

func quoteList(names []string) string { return strings.Join(quoteEach(names), ", ") }

func (s Schema) names() []string {
	names := make([]string, 0, len(s.Attributes))
	for _, a := range s.Attributes {
		names = append(names, a.Name)
	}
	sort.Strings(names)
	return names
}

// check reports whether v, a JSON-shaped value, is of type t.
func (t AttributeType) check(v any) error {
	switch t {
	case String:
		if _, ok := v.(string); ok {
			return nil
		}
	case Duration:
		s, ok := v.(string)
		if !ok {
			break
		}
		if _, err := time.ParseDuration(s); err != nil {
			return fmt.Errorf("%q is not a duration (examples: 30s, 5m, 2h)", s)
		}
		return nil
	case Number:
		switch v.(type) {
		case float64, float32, int, int64, int32:
			return nil
		}
	case Bool:
		if _, ok := v.(bool); ok {
			return nil
		}
	case ListOfString:
		switch l := v.(type) {
		case []string:
			return nil
		case []any:
			for i, e := range l {
				if _, ok := e.(string); !ok {
					return fmt.Errorf("element %d is %T, want a string", i, e)
				}
			}
			return nil
		}
	case MapOfString:
		switch m := v.(type) {
		case map[string]string:
			return nil
		case map[string]any:
			for k, e := range m {
				if _, ok := e.(string); !ok {
					return fmt.Errorf("key %q is %T, want a string", k, e)
				}
			}
			return nil
		}
	default:
		return fmt.Errorf("unknown attribute type %q", t)
	}
	return fmt.Errorf("got %s, want %s", jsonTypeName(v), t)
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a bool"
	case float64, float32, int, int64, int32:
		return "a number"
	case []any, []string:
		return "a list"
	case map[string]any, map[string]string:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
