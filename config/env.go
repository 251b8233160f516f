package config

import (
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// evalContext is what expressions in the file can use: env() and nothing
// else.
func evalContext(lookup func(string) (string, bool)) *hcl.EvalContext {
	return &hcl.EvalContext{Functions: map[string]function.Function{"env": envFunc(lookup)}}
}

// envFunc is env(NAME) or env(NAME, DEFAULT): the environment variable NAME,
// DEFAULT when it is not set, and an error naming NAME when it is not set
// and there is no default. A variable set to "" is "".
func envFunc(lookup func(string) (string, bool)) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable, or the default given as second argument.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		VarParam:    &function.Parameter{Name: "default", Type: cty.String},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if len(args) > 2 {
				return cty.NilVal, envError(`env takes a variable name and an optional default, as in env("NAME", "default")`)
			}
			name := args[0].AsString()
			if name == "" {
				return cty.NilVal, envError("env needs a variable name")
			}
			if v, ok := lookup(name); ok {
				return cty.StringVal(v), nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return cty.NilVal, envError(fmt.Sprintf("environment variable %q is not set", name))
		},
	})
}

// eval evaluates expr. Errors of env() calls are reworded to the function's
// own message, which names the variable, at the call's position.
func eval(expr hcl.Expression, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	v, diags := expr.Value(ctx)
	for _, d := range diags {
		extra, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](d)
		if !ok || extra.CalledFunctionName() != "env" || extra.FunctionCallError() == nil {
			continue
		}
		err := extra.FunctionCallError()
		var own envError
		if errors.As(err, &own) {
			d.Summary, d.Detail = string(own), ""
		} else {
			d.Summary, d.Detail = "invalid env() call", err.Error()
		}
	}
	return v, diags
}

// envError is an error of env() itself, shown as is.
type envError string

func (e envError) Error() string { return string(e) }
