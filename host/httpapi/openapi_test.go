package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/mux"
	"github.com/livechatd/livechatd/host/httpapi"
	"github.com/livechatd/livechatd/host/webchat"
	"github.com/prometheus/client_golang/prometheus"
)

// TestAPIDocIsValidOpenAPI31: docs/openapi.yaml parses, is OpenAPI 3.1 and
// passes kin-openapi's validation, examples included.
func TestAPIDocIsValidOpenAPI31(t *testing.T) {
	d := theAPIDoc(t) // loads and validates
	if !strings.HasPrefix(d.doc.OpenAPI, "3.1.") || !d.doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi: %q, want 3.1.x", d.doc.OpenAPI)
	}
	for _, name := range []string{"botEvent", "channelDelivery"} {
		if d.doc.Webhooks[name] == nil {
			t.Errorf("webhooks.%s is missing: what livechatd sends out is part of the contract", name)
		}
	}
	for _, name := range []string{"adminToken", "channelSignature", "webchatUserToken", "webhookToken", "webhookTokenHeader"} {
		if d.doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("components.securitySchemes.%s is missing", name)
		}
	}
}

// TestAPIDocValidationCatchesMistakes: the loader and Validate used above
// refuse a document that is not valid OpenAPI 3.1, so the test above
// means something.
func TestAPIDocValidationCatchesMistakes(t *testing.T) {
	src, err := os.ReadFile(apiDocPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new string }{
		{"an example that breaks its schema", "payload: {content_type: text, content: {text: hello}}", "payload: {content_type: text, content: {text: 42}}"},
		{"a dangling $ref", "$ref: '#/components/schemas/Reply'", "$ref: '#/components/schemas/Replies'"},
		{"an unknown type", "Busy:\n      description:", "Busy:\n      type: nothing\n      description:"},
		{"an OpenAPI 3.0 boolean exclusiveMinimum", "restarts: {type: integer, minimum: 0}", "restarts: {type: integer, minimum: 0, exclusiveMinimum: true}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(src, []byte(tc.old)) {
				t.Fatalf("%q is not in %s any more: update this case", tc.old, apiDocPath)
			}
			broken := bytes.Replace(src, []byte(tc.old), []byte(tc.new), 1)
			doc, err := openapi3.NewLoader().LoadFromData(broken)
			if err == nil {
				err = doc.Validate(context.Background())
			}
			if err == nil {
				t.Fatal("the broken document passed")
			}
		})
	}
}

// routerOf builds the server's handler with every optional part (metrics,
// webchat) and returns its router: the webchat registers its routes on the
// router itself, last, which is where the spy takes it.
func routerOf(t *testing.T) *mux.Router {
	t.Helper()
	spy := &routerSpy{Channel: webchat.New(nil, map[string]string{"shop": "secret"}, nil)}
	srv := &httpapi.Server{Gatherer: prometheus.NewRegistry(), AdminToken: adminToken, Webchat: spy}
	srv.Handler()
	if spy.r == nil {
		t.Fatal("the server did not register the webchat's routes: routerOf cannot see its router")
	}
	return spy.r
}

type routerSpy struct {
	*webchat.Channel
	r *mux.Router
}

func (s *routerSpy) Register(r *mux.Router) {
	s.Channel.Register(r)
	s.r = r
}

var muxVar = regexp.MustCompile(`\{([^}:]+)(:[^}]*)?\}`)

// servedRoutes lists "METHOD /path" for every route of r, with mux's
// {name:pattern} written as OpenAPI's {name}; a prefix route (PathPrefix)
// is "METHOD /prefix/*".
func servedRoutes(t *testing.T, r *mux.Router) []string {
	t.Helper()
	var out []string
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return fmt.Errorf("a route without a path: %w", err)
		}
		re, err := route.GetPathRegexp()
		if err != nil {
			return err
		}
		path := muxVar.ReplaceAllString(tpl, "{$1}")
		if !strings.HasSuffix(re, "$") {
			path += "*"
		}
		methods, err := route.GetMethods()
		if err != nil {
			return fmt.Errorf("%s answers every method: give it .Methods(...)", path)
		}
		for _, m := range methods {
			out = append(out, m+" "+path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// documentedRoutes lists "METHOD /path" for every operation of doc; a path
// ending in one parameter marked x-path-prefix is a prefix: "/prefix/*".
func documentedRoutes(doc *openapi3.T) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		if item.Extensions["x-path-prefix"] == true {
			path = path[:strings.LastIndex(path, "{")] + "*"
		}
		for m := range item.Operations() {
			out = append(out, m+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// routeDrift names the routes served but not documented, and documented
// but not served.
func routeDrift(served, documented []string) (undocumented, unserved []string) {
	for _, r := range served {
		if !slices.Contains(documented, r) {
			undocumented = append(undocumented, r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			unserved = append(unserved, r)
		}
	}
	return undocumented, unserved
}

// TestEveryRouteIsDocumented: the router and docs/openapi.yaml list the
// same paths with the same methods.
func TestEveryRouteIsDocumented(t *testing.T) {
	served := servedRoutes(t, routerOf(t))
	documented := documentedRoutes(theAPIDoc(t).doc)
	undocumented, unserved := routeDrift(served, documented)
	for _, r := range undocumented {
		t.Errorf("%s is served but not in %s: document it", r, apiDocPath)
	}
	for _, r := range unserved {
		t.Errorf("%s is in %s but not served: remove it or serve it", r, apiDocPath)
	}
	if len(served) < 10 {
		t.Errorf("only %d routes served: %v; the walk missed some", len(served), served)
	}
}

// TestRouteDriftIsCaught: a route added to the router without documenting
// it, or removed from it while still documented, is reported.
func TestRouteDriftIsCaught(t *testing.T) {
	doc := theAPIDoc(t).doc

	r := routerOf(t)
	r.HandleFunc("/v1/bots/{bot}/secret", func(http.ResponseWriter, *http.Request) {}).Methods(http.MethodPut)
	r.HandleFunc("/v1/sessions/{id:[0-9]+}/reopen", func(http.ResponseWriter, *http.Request) {}).Methods(http.MethodPost)
	undocumented, unserved := routeDrift(servedRoutes(t, r), documentedRoutes(doc))
	if diff := cmp.Diff([]string{"POST /v1/sessions/{id}/reopen", "PUT /v1/bots/{bot}/secret"}, undocumented); diff != "" {
		t.Errorf("added routes (-want +reported):\n%s", diff)
	}
	if len(unserved) != 0 {
		t.Errorf("unserved: %v", unserved)
	}

	// A route served with a method fewer: the router without
	// POST /v1/sessions/{id}/end, and the webhook with GET only.
	served := servedRoutes(t, routerOf(t))
	served = slices.DeleteFunc(served, func(s string) bool {
		return s == "POST /v1/sessions/{id}/end" || s == "POST /v1/livechat/{provider}/receive"
	})
	undocumented, unserved = routeDrift(served, documentedRoutes(doc))
	if diff := cmp.Diff([]string{"POST /v1/livechat/{provider}/receive", "POST /v1/sessions/{id}/end"}, unserved); diff != "" {
		t.Errorf("removed routes (-want +reported):\n%s", diff)
	}
	if len(undocumented) != 0 {
		t.Errorf("undocumented: %v", undocumented)
	}
}

// TestValidatorCatchesDrift: the round tripper every HTTP test goes
// through reports a request or an answer that drifted from the document,
// and lets a faithful one pass.
func TestValidatorCatchesDrift(t *testing.T) {
	event := `{"client": {"user_id": "u1"}, "payload": {"content_type": "text", "content": {"text": "hi"}}}`
	errorBody := `{"error": {"code": "invalid", "field": "payload.content.text", "message": "no"}}`
	for _, tc := range []struct {
		name         string
		method, path string
		body         string
		status       int
		header       http.Header
		answer       string
		drift        string // what the report says; "" for none
	}{
		{name: "faithful event", method: "POST", path: "/v1/bots/shop/events", body: event, status: 200,
			answer: `{"messages": [{"payload": {"content_type": "text", "content": {"text": "hi"}}}], "livechat": {"session_id": "s1", "state": "active"}}`},
		{name: "bot's extra keys pass", method: "POST", path: "/v1/bots/shop/events", body: event, status: 200,
			answer: `{"messages": [], "conversation_end": false}`},
		{name: "refused bad event", method: "POST", path: "/v1/bots/shop/events", body: `{"client": {}}`, status: 400, answer: errorBody},
		{name: "bad event accepted", method: "POST", path: "/v1/bots/shop/events", body: `{"client": {"user_id": "u1"}, "payload": {"content_type": "text", "content": {"payload": "hi"}}}`,
			status: 200, answer: `{"messages": []}`, drift: "the document refuses this request"},
		{name: "unknown content_type accepted", method: "POST", path: "/v1/bots/shop/events", body: `{"client": {"user_id": "u1"}, "payload": {"content_type": "sticker", "content": {"id": "x"}}}`,
			status: 200, answer: `{"messages": []}`, drift: "the document refuses this request"},
		{name: "messages missing", method: "POST", path: "/v1/bots/shop/events", body: event, status: 200,
			answer: `{"livechat": {"session_id": "s1", "state": "active"}}`, drift: "messages"},
		{name: "unknown session state", method: "POST", path: "/v1/bots/shop/events", body: event, status: 200,
			answer: `{"messages": [], "livechat": {"session_id": "s1", "state": "paused"}}`, drift: "state"},
		{name: "error without code", method: "POST", path: "/v1/bots/shop/events", body: `{}`, status: 400,
			answer: `{"error": {"message": "no"}}`, drift: "code"},
		{name: "error with an unknown key", method: "POST", path: "/v1/bots/shop/events", body: `{}`, status: 400,
			answer: `{"error": {"code": "invalid", "message": "no", "detail": "x"}}`, drift: "detail"},
		{name: "undocumented status", method: "POST", path: "/v1/bots/shop/events", body: event, status: 418, answer: errorBody, drift: "status is not supported"},
		{name: "session time not a string", method: "GET", path: "/v1/sessions/s1", status: 200,
			answer: `{"id": "s1", "bot": "shop", "user_id": "u1", "provider": "echo", "provider_ref": "t1", "state": "active", "created_at": 1, "updated_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T00:00:00Z", "messages": []}`,
			drift:  "created_at"},
		{name: "session with a new field", method: "POST", path: "/v1/sessions/s1/end", status: 200,
			answer: `{"id": "s1", "bot": "shop", "user_id": "u1", "provider": "echo", "provider_ref": "t1", "state": "ended", "end_reason": "admin", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "expires_at": "2026-01-01T00:00:00Z", "owner": "x"}`,
			drift:  "owner"},
		{name: "rate limited without Retry-After", method: "POST", path: "/chat/shop/identity", status: 429,
			answer: `{"error": {"code": "rate_limited", "message": "later"}}`, drift: "Retry-After"},
		{name: "undocumented route", method: "GET", path: "/v1/secrets", status: 200, answer: `{}`, drift: "is not in"},
		{name: "unknown route refused", method: "GET", path: "/v1/secrets", status: 404, answer: `{"error": {"code": "not_found", "message": "no route GET /v1/secrets"}}`},
		{name: "unknown route refused badly", method: "GET", path: "/v1/secrets", status: 404, answer: `404 page not found`, drift: "error shape"},
		{name: "body on a GET", method: "GET", path: "/v1/plugins", body: `{"x": 1}`, status: 200, answer: `{"plugins": []}`, drift: "the document refuses this request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			if h.Get("Content-Type") == "" {
				h.Set("Content-Type", "application/json")
			}
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range h {
					w.Header()[k] = v
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.answer)
			}))
			defer ts.Close()
			var reports []string
			client := &http.Client{Transport: &validating{doc: theAPIDoc(t), next: http.DefaultTransport,
				fail: func(format string, args ...any) { reports = append(reports, fmt.Sprintf(format, args...)) }}}
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, ts.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != tc.answer {
				t.Errorf("the client read %q, the server sent %q", got, tc.answer)
			}
			switch {
			case tc.drift == "" && len(reports) > 0:
				t.Errorf("a faithful exchange was reported:\n%s", strings.Join(reports, "\n"))
			case tc.drift != "" && len(reports) == 0:
				t.Errorf("the drift (%s) was not reported", tc.drift)
			case tc.drift != "" && !strings.Contains(strings.Join(reports, "\n"), tc.drift):
				t.Errorf("the report does not mention %q:\n%s", tc.drift, strings.Join(reports, "\n"))
			}
		})
	}
}

// TestStreamEntriesAreChecked: each entry of a webchat stream is checked as
// the test reads it.
func TestStreamEntriesAreChecked(t *testing.T) {
	good := `{"type":"message","author":{"type":"user"},"payload":{"content_type":"text","content":{"text":"hi"}}}`
	state := `{"type":"state","state":"active","session_id":"s1"}`
	bad := `{"type":"state","state":"paused","session_id":"s1"}`
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = fmt.Fprintf(w, "retry: 1000\n\nid: 1\nevent: entry\ndata: %s\n\nid: 2\nevent: entry\ndata: %s\n\n: keep-alive\n\nid: 3\nevent: entry\ndata: %s\n\n", good, state, bad)
	}))
	defer ts.Close()
	var reports []string
	client := &http.Client{Transport: &validating{doc: theAPIDoc(t), next: http.DefaultTransport,
		fail: func(format string, args ...any) { reports = append(reports, fmt.Sprintf(format, args...)) }}}
	resp, err := client.Get(ts.URL + "/v1/bots/shop/users/u1/stream?token=t")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(reports) != 1 || !strings.Contains(reports[0], "paused") {
		t.Errorf("want one report, of the entry with state paused; got %q", reports)
	}
}

// TestEventsDocExamplesMatchTheSchemas: every JSON example of
// docs/events.md is valid against the schema it illustrates.
func TestEventsDocExamplesMatchTheSchemas(t *testing.T) {
	d := theAPIDoc(t)
	md, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(md, -1)
	if len(blocks) < 6 {
		t.Fatalf("found %d JSON examples in docs/events.md, want at least 6", len(blocks))
	}
	for _, b := range blocks {
		example := b[1]
		var v map[string]any
		if err := json.Unmarshal(example, &v); err != nil {
			t.Errorf("docs/events.md has an example that is not JSON: %v\n%s", err, example)
			continue
		}
		var check error
		switch {
		case v["session_id"] != nil && v["messages"] != nil:
			check = d.checkWebhook("channelDelivery", example)
		case v["messages"] != nil:
			check = d.checkSchema("Reply", example)
		case v["client"] != nil:
			check = d.checkSchema("Event", example)
		case v["content_type"] != nil:
			check = d.checkSchema("MessagePayload", example)
		default:
			t.Errorf("docs/events.md has an example this test cannot place:\n%s", example)
			continue
		}
		if check != nil {
			t.Errorf("docs/events.md's example drifted from %s: %v\n%s", apiDocPath, check, example)
		}
	}
}

// TestOutgoingChecks: what livechatd posts to a bot or a channel in the
// tests is checked against the document's webhooks.
func TestOutgoingChecks(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"messages": []}`)
	}))
	defer ts.Close()
	for _, tc := range []struct {
		name     string
		delivery bool
		body     string
		drift    string
	}{
		{name: "bot event", body: `{"client": {"user_id": "u1", "bot_id": "shop"}, "payload": {"content_type": "payload", "content": {"payload": "LIVECHAT_SESSION_EXPIRED"}}}`},
		{name: "bot event without payload", body: `{"client": {"user_id": "u1", "bot_id": "shop"}}`, drift: "payload"},
		{name: "delivery", delivery: true, body: `{"client": {"user_id": "u1"}, "session_id": "s1", "messages": [{"payload": {"content_type": "text", "content": {"text": "hi"}}, "author": {"type": "agent", "name": "Sam"}}]}`},
		{name: "delivery without author", delivery: true, body: `{"client": {"user_id": "u1"}, "messages": [{"payload": {"content_type": "text", "content": {"text": "hi"}}}]}`, drift: "author"},
		{name: "delivery with an unknown author", delivery: true, body: `{"client": {"user_id": "u1"}, "messages": [{"payload": {"content_type": "text", "content": {"text": "hi"}}, "author": {"type": "robot"}}]}`, drift: "robot"},
		{name: "delivery with a new key", delivery: true, body: `{"client": {"user_id": "u1"}, "messages": [], "priority": 1}`, drift: "priority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reports []string
			client := &http.Client{Transport: &outgoing{doc: theAPIDoc(t), next: http.DefaultTransport,
				fail: func(format string, args ...any) { reports = append(reports, fmt.Sprintf(format, args...)) }}}
			req, err := http.NewRequest(http.MethodPost, ts.URL+"/somewhere", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.delivery {
				req.Header.Set("X-Livechat-Delivery", "d1")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			all := strings.Join(reports, "\n")
			switch {
			case tc.drift == "" && all != "":
				t.Errorf("a faithful request was reported:\n%s", all)
			case tc.drift != "" && !strings.Contains(all, tc.drift):
				t.Errorf("want a report mentioning %q, got:\n%s", tc.drift, all)
			}
		})
	}
}
