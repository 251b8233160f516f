package config

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/livechatd/livechatd/sdk"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// DecodeConfig decodes the bot's `config {}` block against schema, the
// provider's, into the JSON shapes of sdk.Config, with the schema's defaults
// applied. Unknown attributes, missing required ones and values of the wrong
// type are reported at their position in the file; values of sensitive
// attributes never appear in a message. A null value counts as absent.
func (b *Bot) DecodeConfig(schema sdk.Schema) (sdk.Config, hcl.Diagnostics) {
	in := fmt.Sprintf(" in bot %q config", b.Name)
	src := b.src
	if src == nil {
		src = &botSource{}
	}
	blockRange := b.configRange()
	cfg := sdk.Config{}
	var diags hcl.Diagnostics
	// present are the attributes written with a value, even a wrong one.
	present := map[string]bool{}
	nulls := map[string]hcl.Range{}

	var attrs []*hclsyntax.Attribute
	if src.config != nil {
		attrs = attributes(src.config)
		for _, blk := range src.config.Blocks {
			diags = append(diags, errorAt(blk.TypeRange, "unexpected block %q%s; provider settings are attributes: name = value", blk.Type, in))
		}
	}
	names := make([]string, 0, len(schema.Attributes))
	for _, a := range schema.Attributes {
		names = append(names, a.Name)
	}
	for _, attr := range attrs {
		a, ok := schema.Attribute(attr.Name)
		if !ok {
			diags = append(diags, unknownNameDiag(attr.NameRange, "attribute", attr.Name, in, names))
			continue
		}
		v, ds := eval(attr.Expr, src.ctx)
		diags = append(diags, ds...)
		if ds.HasErrors() || !v.IsWhollyKnown() {
			present[a.Name] = true
			continue
		}
		if v.IsNull() {
			nulls[a.Name] = attr.SrcRange
			continue
		}
		present[a.Name] = true
		jv, problem := toJSON(v, a)
		if problem != "" {
			diags = append(diags, errorAt(attr.Expr.Range(), "%s%s %s", a.Name, in, problem))
			continue
		}
		cfg[a.Name] = jv
	}
	for _, a := range schema.Attributes {
		if present[a.Name] {
			continue
		}
		switch {
		case a.Required:
			r, ok := nulls[a.Name]
			if !ok {
				r = blockRange
			}
			diags = append(diags, errorAt(r, "missing required attribute %q%s", a.Name, in))
		case a.Default != nil:
			cfg[a.Name] = jsonDefault(a.Default)
		}
	}
	return cfg, finish(diags)
}

// ConfigDiagnostics places diagnostics a provider returned about this bot's
// config (ValidateConfig, Configure) in the file: at the attribute each one
// names, or at the config block (the bot block when there is none).
func (b *Bot) ConfigDiagnostics(ds sdk.Diagnostics) hcl.Diagnostics {
	diags := make(hcl.Diagnostics, 0, len(ds))
	for _, d := range ds {
		r := b.configRange()
		if b.src != nil && b.src.config != nil && d.Attribute != "" {
			if a, ok := b.src.config.Attributes[d.Attribute]; ok {
				r = a.SrcRange
			}
		}
		msg := d.Summary
		if d.Attribute != "" && !strings.Contains(msg, d.Attribute) {
			msg = fmt.Sprintf("attribute %q: %s", d.Attribute, msg)
		}
		sev := hcl.DiagError
		if d.Severity == sdk.SeverityWarning {
			sev = hcl.DiagWarning
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: sev,
			Summary:  fmt.Sprintf("bot %q config: %s", b.Name, msg),
			Detail:   d.Detail,
			Subject:  subject(r),
		})
	}
	return diags
}

// configRange is the config block's header, or the bot's without one.
func (b *Bot) configRange() hcl.Range {
	if b.src != nil && b.src.config != nil {
		return b.src.configRange
	}
	return b.DeclRange
}

// toJSON converts v to the JSON shape of a's type, or says what is wrong
// with it, as the end of a sentence that starts with the attribute's name.
func toJSON(v cty.Value, a sdk.Attribute) (any, string) {
	want, ok := ctyType(a.Type)
	if !ok {
		return nil, fmt.Sprintf("has the type %q in the provider's schema, which the host does not know", a.Type)
	}
	if outOfRange(v) {
		return nil, "holds a number out of range"
	}
	cv, err := convert.Convert(v, want)
	if err != nil || cv.IsNull() {
		return nil, fmt.Sprintf("must be %s, got %s", attrTypeName(a.Type), typeName(v.Type()))
	}
	switch a.Type {
	case sdk.String:
		return cv.AsString(), ""
	case sdk.Duration:
		s := cv.AsString()
		if _, err := time.ParseDuration(s); err != nil {
			if a.Sensitive {
				return nil, "must be a duration such as 30s, 5m or 2h"
			}
			return nil, fmt.Sprintf("must be a duration such as 30s, 5m or 2h, got %q", s)
		}
		return s, ""
	case sdk.Number:
		f, _ := cv.AsBigFloat().Float64()
		if math.IsInf(f, 0) {
			return nil, "holds a number out of range"
		}
		return f, ""
	case sdk.Bool:
		return cv.True(), ""
	case sdk.ListOfString:
		list := make([]any, 0, cv.LengthInt())
		for it := cv.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() {
				return nil, "must not hold null"
			}
			list = append(list, e.AsString())
		}
		return list, ""
	case sdk.MapOfString:
		m := make(map[string]any, cv.LengthInt())
		for it := cv.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if e.IsNull() {
				return nil, "must not hold null"
			}
			m[k.AsString()] = e.AsString()
		}
		return m, ""
	}
	return nil, fmt.Sprintf("has the type %q in the provider's schema, which the host does not know", a.Type)
}

func ctyType(t sdk.AttributeType) (cty.Type, bool) {
	switch t {
	case sdk.String, sdk.Duration:
		return cty.String, true
	case sdk.Number:
		return cty.Number, true
	case sdk.Bool:
		return cty.Bool, true
	case sdk.ListOfString:
		return cty.List(cty.String), true
	case sdk.MapOfString:
		return cty.Map(cty.String), true
	}
	return cty.NilType, false
}

func attrTypeName(t sdk.AttributeType) string {
	if t == sdk.Duration {
		return "a duration string"
	}
	ct, _ := ctyType(t)
	return typeName(ct)
}

// jsonDefault converts a schema default to the JSON shapes of sdk.Config.
// Other values are passed on as they are: the schema is the plugin's.
func jsonDefault(v any) any {
	switch d := v.(type) {
	case int:
		return float64(d)
	case int32:
		return float64(d)
	case int64:
		return float64(d)
	case float32:
		return float64(d)
	case []string:
		l := make([]any, len(d))
		for i, s := range d {
			l[i] = s
		}
		return l
	case map[string]string:
		m := make(map[string]any, len(d))
		for k, s := range d {
			m[k] = s
		}
		return m
	}
	return v
}
