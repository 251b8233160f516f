package sandbox

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

func testVars() map[string]any {
	var v map[string]any
	dec := json.NewDecoder(strings.NewReader(`{
		"ticket": {"id": 200001, "external_id": null, "status": "open", "spam": false,
		           "tags": [{"name": "livechat", "id": 501}], "meta": {"bot": "acme", "n": 1.5},
		           "customer": {"email": "jane@example.com", "name": "Jane O'Neil"}},
		"message": {"id": 300001, "from_agent": true, "public": false, "body_text": "a \"b\" & c\nd"},
		"event": {"id": 700001, "type": "ticket-message-created"}}`))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		panic(err)
	}
	return v
}

func TestRender(t *testing.T) {
	vars := testVars()
	tests := []struct{ tmpl, want string }{
		{"{{ticket.id}}", "200001"},
		{"{{ ticket.id }}", "200001"},
		{"{{\tticket.customer.email\n}}", "jane@example.com"},
		{"{{message.from_agent}}/{{message.public}}/{{ticket.spam}}", "True/False/False"},
		{"{{ticket.external_id}}", "None"},
		{"{{ticket.nope}}|{{nope.nope}}|{{message.body_text.x}}", "||"},
		{"{{ticket.tags}}", "[{'id': 501, 'name': 'livechat'}]"},
		{"{{ticket.tags.0.name}}", "livechat"},
		{"{{ticket.meta}}", "{'bot': 'acme', 'n': 1.5}"},
		{"{{ticket.customer.name}}", "Jane O'Neil"},
		{"{{ ticket.id | upper }}", ""},
		{"{{}}", ""},
		{"no braces", "no braces"},
		{"{{ticket.id", "{{ticket.id"},
		{"a }} b {{ticket.status}} {{", "a }} b open {{"},
		{"{% if x %}{{event.type}}{% endif %}", "{% if x %}ticket-message-created{% endif %}"},
		{"{{{ticket.id}}}", "}"},
	}
	for _, tt := range tests {
		if got := render(tt.tmpl, vars, nil); got != tt.want {
			t.Errorf("render(%q) = %q, want %q", tt.tmpl, got, tt.want)
		}
	}
}

func TestRenderContexts(t *testing.T) {
	vars := testVars()
	u := renderURL("http://h/p/{{message.body_text}}?t={{message.body_text}}&id={{ticket.id}}", vars)
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Path != "/p/a \"b\" & c\nd" || parsed.Query().Get("t") != "a \"b\" & c\nd" || parsed.Query().Get("id") != "200001" {
		t.Errorf("URL %q: path %q query %q", u, parsed.Path, parsed.Query())
	}
	body := render(`{"text": "{{message.body_text}}", "who": "{{ticket.customer.name}}", "fa": "{{message.from_agent}}"}`, vars, escapeJSONString)
	var m map[string]string
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if m["text"] != "a \"b\" & c\nd" || m["who"] != "Jane O'Neil" || m["fa"] != "True" {
		t.Errorf("body %q", m)
	}
	if h := render("{{message.body_text}}", vars, escapeHeader); strings.ContainsAny(h, "\r\n") {
		t.Errorf("header %q", h)
	}
}

func TestTimeFormat(t *testing.T) {
	ts := Time{time.Date(2024, 2, 14, 21, 30, 50, 201204000, time.FixedZone("X", 3600))}
	b, err := json.Marshal(ts)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `"2024-02-14T20:30:50.201204+00:00"` {
		t.Errorf("got %s", b)
	}
	for _, s := range []string{`"2020-01-27T10:42:21.468912"`, `"2024-02-14T20:30:50.201204+00:00"`, `"2024-02-14T20:30:50Z"`} {
		var back Time
		if err := json.Unmarshal([]byte(s), &back); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// FuzzRender: the renderer never panics, leaves text without {{ alone, and
// a value JSON-escaped into a JSON string template decodes back to itself.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"", "{{", "}}", "{{ticket.id}}", "{{ a.b.c }}", "{{ticket.tags.0}}", "{{ticket.tags.99}}",
		"x{{message.body_text}}y{{", "{{{{}}}}", "{{ticket..id}}", "{{.}}", "{{ticket.meta}}", "\xff{{\xfe}}", "{{ticket.tags.-1}}"} {
		f.Add(s, "a \"b\"\n\\c\x00\u2028")
	}
	vars := testVars()
	f.Fuzz(func(t *testing.T, tmpl, value string) {
		vars["message"].(map[string]any)["body_text"] = value
		out := render(tmpl, vars, nil)
		if !strings.Contains(tmpl, "{{") && out != tmpl {
			t.Errorf("render(%q) = %q", tmpl, out)
		}
		_ = render(tmpl, vars, escapeJSONString)
		_ = render(tmpl, vars, escapeHeader)
		_ = renderURL(tmpl, vars)
		_ = renderURL("http://h/?q="+tmpl, vars)
		doc := render(`{"v": "{{message.body_text}}"}`, vars, escapeJSONString)
		var m map[string]string
		if err := json.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		var want string // what encoding/json makes of invalid UTF-8
		b, _ := json.Marshal(value)
		_ = json.Unmarshal(b, &want)
		if m["v"] != want {
			t.Errorf("JSON round trip %q, want %q", m["v"], want)
		}
		u := renderURL("http://h/p?v={{message.body_text}}", vars)
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatalf("%q: %v", u, err)
		}
		if got := parsed.Query().Get("v"); got != value {
			t.Errorf("URL round trip %q, want %q", got, value)
		}
	})
}
