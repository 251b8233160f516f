package gorgias

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

const (
	testEmail = "ops@acme.test"
	testKey   = "k3y-very-secret-0123"
)

// fakeGorgias is the slice of the Gorgias REST API the provider uses, with
// the real API's status codes and error bodies, recording every call.
// Objects are kept as JSON-shaped maps, as the API would send them.
type fakeGorgias struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	nextID    int64
	customers []map[string]any
	tickets   []map[string]any
	messages  map[int64][]map[string]any
	uploads   []upload
	calls     []call
	// intercept, when set, may answer a request itself (return true) before
	// the fake does, or after: see afterCreate.
	intercept func(w http.ResponseWriter, r *http.Request, c call) bool
	// afterCreate, when set, may replace the answer of a successful POST
	// (the object is created anyway): a timeout after the fact, say.
	afterCreate func(w http.ResponseWriter, c call) bool
}

type call struct {
	Method, Path, Query string
	Body                map[string]any
}

func (c call) String() string { return c.Method + " " + c.Path }

func newFake(t *testing.T) *fakeGorgias {
	f := &fakeGorgias{t: t, nextID: 100, messages: map[int64][]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/customers", f.listCustomers)
	mux.HandleFunc("POST /api/customers", f.createCustomer)
	mux.HandleFunc("PUT /api/customers/{id}/data", f.setData)
	mux.HandleFunc("GET /api/tickets", f.listTickets)
	mux.HandleFunc("POST /api/tickets", f.createTicket)
	mux.HandleFunc("GET /api/tickets/{id}", f.getTicket)
	mux.HandleFunc("PUT /api/tickets/{id}", f.updateTicket)
	mux.HandleFunc("GET /api/tickets/{id}/messages", f.listMessages)
	mux.HandleFunc("GET /api/tickets/{id}/messages/{mid}", f.getMessage)
	mux.HandleFunc("POST /api/tickets/{id}/messages", f.addMessage)
	mux.HandleFunc("POST /api/upload", f.upload)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Gorgias-Account-Api-Call-Limit", "1/40")
		if u, k, ok := r.BasicAuth(); !ok || u != testEmail || k != testKey {
			apiError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		c := call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			// An upload: the handler reads the form.
			f.mu.Lock()
			f.calls = append(f.calls, c)
			f.mu.Unlock()
			mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callKey{}, c)))
			return
		}
		b, _ := io.ReadAll(r.Body)
		if len(b) > 0 {
			if err := json.Unmarshal(b, &c.Body); err != nil {
				apiError(w, http.StatusBadRequest, "Invalid JSON")
				return
			}
		}
		f.mu.Lock()
		f.calls = append(f.calls, c)
		intercept := f.intercept
		f.mu.Unlock()
		if intercept != nil && intercept(w, r, c) {
			return
		}
		own := c // the handlers' copy of the body, which they may change
		own.Body = nil
		if len(b) > 0 {
			_ = json.Unmarshal(b, &own.Body)
		}
		r = r.WithContext(context.WithValue(r.Context(), callKey{}, own))
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

type callKey struct{}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"msg": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func page(items []map[string]any) map[string]any {
	if items == nil {
		items = []map[string]any{}
	}
	return map[string]any{"data": items, "object": "list", "meta": map[string]any{"next_cursor": nil, "prev_cursor": nil}}
}

func (f *fakeGorgias) id() int64 { f.nextID++; return f.nextID }

func (f *fakeGorgias) created(w http.ResponseWriter, r *http.Request, v map[string]any) {
	f.mu.Lock()
	after := f.afterCreate
	f.mu.Unlock()
	if after != nil && after(w, r.Context().Value(callKey{}).(call)) {
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (f *fakeGorgias) listCustomers(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	var out []map[string]any
	for _, c := range f.customers {
		if e := q.Get("email"); e != "" && !strings.EqualFold(str(c["email"]), e) {
			continue
		}
		if x := q.Get("external_id"); x != "" && str(c["external_id"]) != x {
			continue
		}
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, page(out))
}

func (f *fakeGorgias) createCustomer(w http.ResponseWriter, r *http.Request) {
	c := r.Context().Value(callKey{}).(call)
	f.mu.Lock()
	for _, ex := range f.customers {
		if e := str(c.Body["email"]); e != "" && strings.EqualFold(str(ex["email"]), e) {
			f.mu.Unlock()
			apiError(w, http.StatusConflict, "The resource already exists.")
			return
		}
	}
	cust := map[string]any{"id": f.id(), "data": nil, "external_id": nil}
	for k, v := range c.Body {
		cust[k] = v
	}
	f.customers = append(f.customers, cust)
	f.mu.Unlock()
	f.created(w, r, cust)
}

// addCustomer stores a customer as if made in the helpdesk.
func (f *fakeGorgias) addCustomer(fields map[string]any) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := map[string]any{"id": f.id(), "data": nil, "external_id": nil}
	for k, v := range fields {
		c[k] = v
	}
	f.customers = append(f.customers, c)
	return c["id"].(int64)
}

func (f *fakeGorgias) setData(w http.ResponseWriter, r *http.Request) {
	c := r.Context().Value(callKey{}).(call)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cust := range f.customers {
		if idOf(cust) == pathID(r, "id") {
			cust["data"] = c.Body["data"]
			writeJSON(w, http.StatusOK, cust)
			return
		}
	}
	apiError(w, http.StatusNotFound, "Resource not found.")
}

func (f *fakeGorgias) listTickets(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]any
	for _, t := range f.tickets {
		if x := r.URL.Query().Get("external_id"); x != "" && str(t["external_id"]) != x {
			continue
		}
		out = append(out, t)
	}
	writeJSON(w, http.StatusOK, page(out))
}

func (f *fakeGorgias) createTicket(w http.ResponseWriter, r *http.Request) {
	c := r.Context().Value(callKey{}).(call)
	msgs, _ := c.Body["messages"].([]any)
	if len(msgs) == 0 || len(msgs) > 500 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"msg": "Failed to create ticket", "data": map[string]any{"messages": []string{"Length must be between 1 and 500."}}}})
		return
	}
	for _, m := range msgs {
		mm, _ := m.(map[string]any)
		for _, k := range []string{"channel", "via", "from_agent", "sender"} {
			if _, ok := mm[k]; !ok {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"msg": "Failed to create ticket", "data": map[string]any{k: []string{"Missing data for required field."}}}})
				return
			}
		}
	}
	f.mu.Lock()
	t := map[string]any{"id": f.id(), "status": "open"}
	for k, v := range c.Body {
		if k != "messages" {
			t[k] = v
		}
	}
	tid := t["id"].(int64)
	for _, m := range msgs {
		mm := m.(map[string]any)
		mm["id"], mm["ticket_id"] = f.id(), tid
		if _, ok := mm["public"]; !ok {
			mm["public"] = true
		}
		f.messages[tid] = append(f.messages[tid], mm)
	}
	f.tickets = append(f.tickets, t)
	f.mu.Unlock()
	f.created(w, r, t)
}

// addTicket stores a ticket as if opened in the helpdesk.
func (f *fakeGorgias) addTicket(fields map[string]any) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := map[string]any{"id": f.id(), "status": "open", "external_id": nil}
	for k, v := range fields {
		t[k] = v
	}
	f.tickets = append(f.tickets, t)
	return t["id"].(int64)
}

// addMessageTo stores a message as if written in the helpdesk.
func (f *fakeGorgias) addMessageTo(ticket int64, fields map[string]any) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]any{"id": f.id(), "ticket_id": ticket, "public": true, "channel": "api", "via": "helpdesk", "from_agent": true}
	for k, v := range fields {
		m[k] = v
	}
	f.messages[ticket] = append(f.messages[ticket], m)
	return m["id"].(int64)
}

func (f *fakeGorgias) findTicket(r *http.Request) map[string]any {
	for _, t := range f.tickets {
		if idOf(t) == pathID(r, "id") {
			return t
		}
	}
	return nil
}

func (f *fakeGorgias) getTicket(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.findTicket(r)
	if t == nil {
		apiError(w, http.StatusNotFound, "Resource not found.")
		return
	}
	out := map[string]any{}
	for k, v := range t {
		out[k] = v
	}
	if c, ok := t["customer"].(map[string]any); ok {
		for _, cust := range f.customers {
			if idOf(cust) == idOf(c) {
				out["customer"] = cust
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *fakeGorgias) updateTicket(w http.ResponseWriter, r *http.Request) {
	c := r.Context().Value(callKey{}).(call)
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.findTicket(r)
	if t == nil {
		apiError(w, http.StatusNotFound, "Resource not found.")
		return
	}
	for k, v := range c.Body {
		t[k] = v
	}
	writeJSON(w, http.StatusOK, t)
}

func (f *fakeGorgias) listMessages(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.findTicket(r) == nil {
		apiError(w, http.StatusNotFound, "Resource not found.")
		return
	}
	writeJSON(w, http.StatusOK, page(f.messages[pathID(r, "id")]))
}

func (f *fakeGorgias) getMessage(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.messages[pathID(r, "id")] {
		if idOf(m) == pathID(r, "mid") {
			writeJSON(w, http.StatusOK, m)
			return
		}
	}
	apiError(w, http.StatusNotFound, "Resource not found.")
}

func (f *fakeGorgias) addMessage(w http.ResponseWriter, r *http.Request) {
	c := r.Context().Value(callKey{}).(call)
	f.mu.Lock()
	if f.findTicket(r) == nil {
		f.mu.Unlock()
		apiError(w, http.StatusNotFound, "Resource not found.")
		return
	}
	if _, ok := c.Body["sender"]; !ok {
		f.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"msg": "Failed to create message", "data": map[string]any{"sender": []string{"Missing data for required field."}}}})
		return
	}
	tid := pathID(r, "id")
	m := map[string]any{"id": f.id(), "ticket_id": tid, "public": true}
	for k, v := range c.Body {
		m[k] = v
	}
	f.messages[tid] = append(f.messages[tid], m)
	f.mu.Unlock()
	f.created(w, r, m)
}

// Calls returns the calls made so far, as "METHOD /path".
func (f *fakeGorgias) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.calls))
	for i, c := range f.calls {
		out[i] = c.String()
	}
	return out
}

func (f *fakeGorgias) allCalls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// count is how many calls were "METHOD /path".
func (f *fakeGorgias) count(what string) int {
	n := 0
	for _, c := range f.Calls() {
		if c == what {
			n++
		}
	}
	return n
}

// bodies are the bodies of the calls "METHOD /path".
func (f *fakeGorgias) bodies(what string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]any
	for _, c := range f.calls {
		if c.String() == what {
			out = append(out, c.Body)
		}
	}
	return out
}

func (f *fakeGorgias) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

func (f *fakeGorgias) messagesOf(ticket int64) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.messages[ticket]...)
}

func (f *fakeGorgias) ticketStatus(ticket int64) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.tickets {
		if idOf(t) == ticket {
			return str(t["status"])
		}
	}
	return ""
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func idOf(m map[string]any) int64 {
	switch v := m["id"].(type) {
	case int64:
		return v
	case float64:
		return int64(v)
	}
	return 0
}

func pathID(r *http.Request, name string) int64 {
	n, _ := strconv.ParseInt(r.PathValue(name), 10, 64)
	return n
}

// clock is a fake clock whose sleeps advance it at once and are recorded.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newClock() *clock { return &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *clock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

type discard struct{}

func (discard) Info(string, ...any) {}
func (discard) Warn(string, ...any) {}

// testProvider is a Provider with bot "shop" configured against f, with
// extra config on top of a valid one.
func testProvider(t *testing.T, f *fakeGorgias, extra sdk.Config) (*Provider, *clock) {
	t.Helper()
	clk := newClock()
	p := New(WithClock(clk.Now, clk.Sleep), WithLogger(discard{}))
	cfg := sdk.Config{"base_url": f.srv.URL + "/api/", "email": testEmail, "api_key": testKey}
	for k, v := range extra {
		cfg[k] = v
	}
	if err := p.Configure(context.Background(), "shop", cfg, nil); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return p, clk
}

// upload is POST /api/upload?type=attachment: multipart files ("file"),
// answered with the list of files uploaded, each {url, name, size,
// content_type}, the URL on Gorgias's upload host.
func (f *fakeGorgias) upload(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		apiError(w, http.StatusBadRequest, "Invalid form")
		return
	}
	var out []any
	for _, fh := range r.MultipartForm.File["file"] {
		file, err := fh.Open()
		if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		data, _ := io.ReadAll(file)
		file.Close()
		f.mu.Lock()
		n := f.id()
		f.uploads = append(f.uploads, upload{Name: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Data: data})
		f.mu.Unlock()
		out = append(out, map[string]any{"url": "https://uploads.gorgias.io/" + strconv.FormatInt(n, 10) + "/" + fh.Filename,
			"name": fh.Filename, "size": len(data), "content_type": fh.Header.Get("Content-Type")})
	}
	if len(out) == 0 {
		apiError(w, http.StatusBadRequest, "No file")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// upload is a file the fake received.
type upload struct {
	Name, ContentType string
	Data              []byte
}

// setTicket changes a ticket's fields, as an agent in the helpdesk would.
func (f *fakeGorgias) setTicket(id int64, fields map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.tickets {
		if idOf(t) == id {
			for k, v := range fields {
				t[k] = v
			}
		}
	}
}
