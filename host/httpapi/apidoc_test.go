package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// apiDocPath is the HTTP API's OpenAPI 3.1 document, which the HTTP tests
// hold the server to.
const apiDocPath = "../../docs/openapi.yaml"

func init() {
	// The webchat page and stream are text; kin-openapi knows text/plain's
	// decoder only.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder)
}

// apiDoc is docs/openapi.yaml with its router, loaded once for every test.
type apiDoc struct {
	doc    *openapi3.T
	router routers.Router
}

var loadAPIDoc = sync.OnceValues(func() (*apiDoc, error) {
	doc, err := openapi3.NewLoader().LoadFromFile(apiDocPath)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", apiDocPath, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("%s is not a valid OpenAPI document: %w", apiDocPath, err)
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", apiDocPath, err)
	}
	return &apiDoc{doc: doc, router: r}, nil
})

// theAPIDoc is docs/openapi.yaml, or the test fails.
func theAPIDoc(t testing.TB) *apiDoc {
	t.Helper()
	d, err := loadAPIDoc()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// exchange is one request and its answer as they crossed the wire.
type exchange struct {
	req    *http.Request
	body   []byte // the request's
	status int
	header http.Header
	// resp is the answer's body; for a stream, what the test read of it
	// is checked entry by entry instead (see checkStream).
	resp []byte
}

var filterOptions = &openapi3filter.Options{
	// The server checks credentials; the document only names them.
	AuthenticationFunc:                openapi3filter.NoopAuthenticationFunc,
	IncludeResponseStatus:             true,
	RejectWhenRequestBodyNotSpecified: true,
	MultiError:                        true,
}

// check holds one exchange to the document: the route and method must be
// documented (or the server must have refused them as unknown, with the
// error body); a request the document refuses must have been refused by
// the server (4xx); the answer's status must be documented for the
// operation and its headers and body must match the schema.
func (d *apiDoc) check(x exchange) error {
	what := x.req.Method + " " + x.req.URL.Path
	// A copy whose body can be read again: the round tripper's caller has
	// the original.
	req := x.req.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(x.body))
	if req.Header.Get("Content-Type") == "" && len(x.body) > 0 {
		// The server reads any body as JSON, whatever it is labelled.
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := d.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound) && x.status == http.StatusNotFound,
		errors.Is(err, routers.ErrMethodNotAllowed) && x.status == http.StatusMethodNotAllowed:
		// A route the server does not serve either: its refusal is the
		// usual error.
		if err := d.checkSchema("Error", x.resp); err != nil {
			return fmt.Errorf("%s: the %d answer is not the error shape: %w", what, x.status, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("%s answered %d but is not in %s: %w", what, x.status, apiDocPath, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: filterOptions}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && (x.status < 400 || x.status >= 500) {
		return fmt.Errorf("%s: the document refuses this request, but the server answered %d: %w", what, x.status, err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.status, Header: x.header, Options: filterOptions}
	if isStream(x.header) {
		opts := *filterOptions
		opts.ExcludeResponseBody = true
		out.Options = &opts
	}
	out.SetBodyBytes(x.resp)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s: the %d answer drifted from %s: %w\nbody: %s", what, x.status, apiDocPath, err, x.resp)
	}
	return nil
}

// checkSchema validates a JSON document against components.schemas[name].
func (d *apiDoc) checkSchema(name string, body []byte) error {
	s := d.doc.Components.Schemas[name]
	if s == nil {
		return fmt.Errorf("no schema %s in %s", name, apiDocPath)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("not JSON: %w: %q", err, body)
	}
	return s.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors())
}

// checkWebhook validates what livechatd sends to a bot or a channel
// against the request body of webhooks[name] (botEvent, channelDelivery).
func (d *apiDoc) checkWebhook(name string, body []byte) error {
	item := d.doc.Webhooks[name]
	if item == nil || item.Post == nil {
		return fmt.Errorf("no webhook %s in %s", name, apiDocPath)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("not JSON: %w: %q", err, body)
	}
	s := item.Post.RequestBody.Value.Content.Get("application/json").Schema
	return s.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors())
}

func isStream(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "text/event-stream"
}

// validating is an http.RoundTripper that holds every exchange to the
// document and reports each drift to fail (t.Errorf, which may be called
// from any goroutine).
type validating struct {
	doc  *apiDoc
	next http.RoundTripper
	fail func(format string, args ...any)
}

// validatingClient is an HTTP client whose exchanges are checked against
// docs/openapi.yaml; a drift fails t. A benchmark's client checks nothing:
// it measures livechatd, not the checks.
func validatingClient(t testing.TB, next http.RoundTripper) *http.Client {
	t.Helper()
	if next == nil {
		next = http.DefaultTransport
	}
	if _, bench := t.(*testing.B); bench {
		return &http.Client{Transport: next}
	}
	return &http.Client{Transport: &validating{doc: theAPIDoc(t), next: next, fail: t.Errorf}}
}

func (v *validating) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	x := exchange{req: req, body: body, status: resp.StatusCode, header: resp.Header}
	if isStream(resp.Header) {
		// A stream does not end while the test reads it: its status and
		// headers are checked now, each entry as the test reads it.
		if err := v.doc.check(x); err != nil {
			v.fail("%v", err)
		}
		resp.Body = &streamChecker{ReadCloser: resp.Body, doc: v.doc, fail: v.fail, what: req.URL.Path}
		return resp, nil
	}
	x.resp, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(x.resp))
	if err := v.doc.check(x); err != nil {
		v.fail("%v", err)
	}
	return resp, nil
}

// streamChecker checks each `data:` line of a Server-Sent Events stream,
// as it is read, against the StreamEntry schema.
type streamChecker struct {
	io.ReadCloser
	doc     *apiDoc
	fail    func(format string, args ...any)
	what    string
	partial []byte
}

func (s *streamChecker) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	s.partial = append(s.partial, p[:n]...)
	for {
		line, rest, ok := bytes.Cut(s.partial, []byte("\n"))
		if !ok {
			break
		}
		s.partial = rest
		if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			if err := s.doc.checkSchema("StreamEntry", data); err != nil {
				s.fail("%s: a stream entry drifted from %s: %v\nentry: %s", s.what, apiDocPath, err, data)
			}
		}
	}
	return n, err
}

// CloseIdleConnections passes on to the transport underneath.
func (v *validating) CloseIdleConnections() {
	if c, ok := v.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// outgoing checks what livechatd sends out against the document's
// webhooks: a delivery to channel_url (it carries X-Livechat-Delivery)
// against channelDelivery, anything else, a post to bot_url, against
// botEvent.
type outgoing struct {
	doc  *apiDoc
	next http.RoundTripper
	fail func(format string, args ...any)
}

// outgoingClient is the engine's HTTP client in the tests (a benchmark's
// is the plain one: it measures livechatd, not the checks).
func outgoingClient(t testing.TB) *http.Client {
	t.Helper()
	c := &http.Client{Timeout: 15 * time.Second}
	if _, bench := t.(*testing.B); !bench {
		c.Transport = &outgoing{doc: theAPIDoc(t), next: http.DefaultTransport, fail: t.Errorf}
	}
	return c
}

func (o *outgoing) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		name := "botEvent"
		if req.Header.Get("X-Livechat-Delivery") != "" {
			name = "channelDelivery"
		}
		if err := o.doc.checkWebhook(name, b); err != nil {
			o.fail("livechatd's %s to %s drifted from %s: %v\nbody: %s", name, req.URL.Path, apiDocPath, err, b)
		}
	}
	return o.next.RoundTrip(req)
}
