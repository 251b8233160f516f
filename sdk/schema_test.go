package sdk

import (
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
