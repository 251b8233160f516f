package sdk

import (
	"fmt"
	"sort"
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
// attribute present, every value of its attribute's type. Diagnostics are in
// a stable order: unknown keys, then missing ones, then type errors.
func (s Schema) Validate(cfg Config) Diagnostics {
	var diags Diagnostics
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
		if err := a.Type.check(v); err != nil {
			diags = append(diags, Diagnostic{
				Severity:  SeverityError,
				Attribute: a.Name,
				Summary:   fmt.Sprintf("attribute %q: %v", a.Name, err),
			})
		}
	}
	return diags
}

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
