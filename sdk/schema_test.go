package sdk

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var testSchema = Schema{Attributes: []Attribute{
	{Name: "domain", Type: String, Required: true},
	{Name: "api_key", Type: String, Required: true, Sensitive: true},
	{Name: "close_on_end", Type: Bool, Default: true},
	{Name: "tags", Type: ListOfString},
	{Name: "headers", Type: MapOfString},
	{Name: "timeout", Type: Duration},
	{Name: "limit", Type: Number},
}}

func TestSchemaValidate(t *testing.T) {
	ok := Config{"domain": "acme", "api_key": "k"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // attribute: summary
	}{
		{"valid", ok, nil},
		{"all types", Config{"domain": "a", "api_key": "k", "close_on_end": false, "tags": []any{"a"},
			"headers": map[string]any{"a": "b"}, "timeout": "5s", "limit": 3.0}, nil},
		{"missing", Config{"domain": "acme"}, []string{`api_key: missing required attribute "api_key"`}},
		{"unknown", Config{"domain": "acme", "api_key": "k", "domian": "x"}, []string{`domian: unknown attribute "domian"`}},
		{"null counts as missing", Config{"domain": "acme", "api_key": nil}, []string{`api_key: missing required attribute "api_key"`}},
		{"wrong types", Config{"domain": 1.0, "api_key": "k", "close_on_end": "yes", "tags": []any{1.0}, "headers": map[string]any{"a": true}, "timeout": "soon", "limit": "3"},
			[]string{
				`domain: attribute "domain": got a number, want string`,
				`close_on_end: attribute "close_on_end": got a string, want bool`,
				`tags: attribute "tags": element 0 is float64, want a string`,
				`headers: attribute "headers": key "a" is bool, want a string`,
				`timeout: attribute "timeout": "soon" is not a duration (examples: 30s, 5m, 2h)`,
				`limit: attribute "limit": got a string, want number`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, d := range testSchema.Validate(tc.cfg) {
				got = append(got, d.Attribute+": "+d.Summary)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSchemaDefaults(t *testing.T) {
	in := Config{"domain": "acme"}
	got := testSchema.WithDefaults(in)
	if diff := cmp.Diff(Config{"domain": "acme", "close_on_end": true}, got); diff != "" {
		t.Error(diff)
	}
	if _, ok := in["close_on_end"]; ok {
		t.Error("WithDefaults changed its input")
	}
	explicit := testSchema.WithDefaults(Config{"close_on_end": false})
	if explicit["close_on_end"] != false {
		t.Error("a default overrode an explicit value")
	}
}

func TestInfoValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		info Info
		ok   bool
	}{
		{"ok", Info{Name: "x", Schema: testSchema}, true},
		{"no name", Info{}, false},
		{"twice", Info{Name: "x", Schema: Schema{Attributes: []Attribute{{Name: "a", Type: String}, {Name: "a", Type: String}}}}, false},
		{"bad type", Info{Name: "x", Schema: Schema{Attributes: []Attribute{{Name: "a", Type: "int"}}}}, false},
		{"bad default", Info{Name: "x", Schema: Schema{Attributes: []Attribute{{Name: "a", Type: Bool, Default: "yes"}}}}, false},
	} {
		if err := tc.info.validate(); (err == nil) != tc.ok {
			t.Errorf("%s: validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestConfigDecode(t *testing.T) {
	var c struct {
		Domain string   `json:"domain"`
		Close  bool     `json:"close_on_end"`
		Tags   []string `json:"tags"`
	}
	err := Config{"domain": "acme", "close_on_end": true, "tags": []any{"a", "b"}}.Decode(&c)
	if err != nil {
		t.Fatal(err)
	}
	if c.Domain != "acme" || !c.Close || len(c.Tags) != 2 {
		t.Errorf("decoded %+v", c)
	}
	if d, err := (Config{"t": "90s"}).Duration("t"); err != nil || d.Seconds() != 90 {
		t.Errorf("Duration = %v, %v", d, err)
	}
}

var rulesSchema = Schema{
	Attributes: []Attribute{
		{Name: "domain", Type: String, Pattern: `^[a-z0-9-]+$`, ConflictsWith: []string{"base_url"}},
		{Name: "base_url", Type: String, URL: true},
		{Name: "region", Type: String, Enum: []string{"us", "eu"}},
		{Name: "scopes", Type: ListOfString, Enum: []string{"read", "write"}},
		{Name: "api_key", Type: String, Sensitive: true},
		{Name: "token", Type: String, Sensitive: true, Deprecated: `use "api_key" instead`},
		{Name: "bad_pattern", Type: String, Pattern: `(`},
	},
	ExactlyOneOf: [][]string{{"api_key", "token"}},
}

func TestSchemaRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // severity attribute: summary (detail)
	}{
		{"valid", Config{"domain": "acme", "region": "eu", "scopes": []any{"read"}, "api_key": "k"}, nil},
		{"base_url instead of domain", Config{"base_url": "https://x.example/api/", "api_key": "k"}, nil},
		{"pattern", Config{"domain": "Acme Corp", "api_key": "k"},
			[]string{`error domain: attribute "domain": "Acme Corp" does not match ^[a-z0-9-]+$`}},
		{"conflict", Config{"domain": "acme", "base_url": "https://x.example/", "api_key": "k"},
			[]string{`error base_url: attributes "domain" and "base_url" conflict (set one of them, not both)`}},
		{"not a URL", Config{"base_url": "x.example/api", "api_key": "k"},
			[]string{`error base_url: attribute "base_url": "x.example/api" is not an http(s) URL (for example https://example.com/path)`}},
		{"not http", Config{"base_url": "ftp://x.example/", "api_key": "k"},
			[]string{`error base_url: attribute "base_url": "ftp://x.example/" is not an http(s) URL (for example https://example.com/path)`}},
		{"enum", Config{"region": "ap", "api_key": "k"},
			[]string{`error region: attribute "region": "ap" is not one of "us", "eu"`}},
		{"enum in a list", Config{"scopes": []any{"read", "admin"}, "api_key": "k"},
			[]string{`error scopes: attribute "scopes": element 1: "admin" is not one of "read", "write"`}},
		{"none of one-of", Config{"domain": "acme"},
			[]string{`error api_key: set exactly one of "api_key", "token" (none is set)`}},
		{"two of one-of, deprecated", Config{"api_key": "k", "token": "t"},
			[]string{
				`warning token: attribute "token" is deprecated (use "api_key" instead)`,
				`error token: set exactly one of "api_key", "token" ("api_key" and "token" are set)`,
			}},
		{"deprecated alone is a warning", Config{"token": "t"},
			[]string{`warning token: attribute "token" is deprecated (use "api_key" instead)`}},
		{"a pattern that does not compile is the plugin's bug", Config{"bad_pattern": "x", "api_key": "k"},
			[]string{"error bad_pattern: attribute \"bad_pattern\": the provider's schema has a bad pattern: error parsing regexp: missing closing ): `(`"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, d := range rulesSchema.Validate(tc.cfg) {
				s := d.Severity.String() + " " + d.Attribute + ": " + d.Summary
				if d.Detail != "" {
					s += " (" + d.Detail + ")"
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

// Rules beyond required and unknown: each diagnostic names its attribute,
// so livechatd points at the line of the operator's config block.
func ExampleSchema_Validate() {
	schema := Schema{
		Attributes: []Attribute{
			{Name: "domain", Type: String, Pattern: `^[a-z0-9-]+$`, Description: `Your subdomain: "acme" for acme.example.com.`},
			{Name: "base_url", Type: String, URL: true},
			{Name: "region", Type: String, Enum: []string{"us", "eu"}},
			{Name: "api_key", Type: String, Sensitive: true},
			{Name: "token", Type: String, Sensitive: true, Deprecated: `use "api_key" instead`, ConflictsWith: []string{"api_key"}},
		},
		ExactlyOneOf: [][]string{{"domain", "base_url"}},
	}
	cfg := Config{"domain": "Acme Corp", "base_url": "acme.example.com", "region": "ap", "token": "t", "api_key": "k"}
	for _, d := range schema.Validate(cfg) {
		fmt.Println(d.Severity, d.Error())
	}
	// Output:
	// error domain: attribute "domain": "Acme Corp" does not match ^[a-z0-9-]+$
	// error base_url: attribute "base_url": "acme.example.com" is not an http(s) URL: for example https://example.com/path
	// error region: attribute "region": "ap" is not one of "us", "eu"
	// warning token: attribute "token" is deprecated: use "api_key" instead
	// error api_key: attributes "token" and "api_key" conflict: set one of them, not both
	// error base_url: set exactly one of "domain", "base_url": "domain" and "base_url" are set
}
