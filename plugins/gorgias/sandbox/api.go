package sandbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// routes builds the whole handler: /api/ behind auth and the rate limit,
// /sandbox/ and the desk open.
func (s *Sandbox) routes() http.Handler {
	api := mux.NewRouter()
	api.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, ErrNotFound)
	})
	api.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody("The specified HTTP method is not allowed.", nil))
	})
	s.registerAccount(api)
	s.registerCustomers(api)
	s.registerTickets(api)
	s.registerIntegrations(api)
	s.registerUploads(api)

	other := mux.NewRouter()
	other.NotFoundHandler = api.NotFoundHandler
	other.MethodNotAllowedHandler = api.MethodNotAllowedHandler
	s.registerSandbox(other)
	s.registerDesk(other)
	other.HandleFunc("/uploads/{id:[0-9]+}/{name}", s.getUpload).Methods(http.MethodGet)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Gorgias answers with and without the trailing slash.
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimRight(p, "/")
			r.URL.RawPath = ""
		}
		if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
			s.serveAPI(w, r, api)
			return
		}
		other.ServeHTTP(w, r)
	})
}

// accountKey is where serveAPI leaves the authenticated user.
type accountKey struct{}

// serveAPI wraps every REST call: basic auth, injected faults, the leaky
// bucket, body checks, and the request log. Handlers write to a buffer so
// that an AfterApply fault can replace their answer.
func (s *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request, api http.Handler) {
	rec := &bufferedWriter{header: http.Header{}}
	body, account, status := s.admit(rec, r)
	if status == 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r = r.WithContext(contextWithAccount(r.Context(), account))
		api.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
	}
	s.mu.Lock()
	var after Fault
	if status == 0 && rec.status < 500 {
		if f, ok := s.takeAfterApplyFault(r.Method, r.URL.Path); ok {
			after = f
			if f.Reset {
				status = statusReset
			} else if f.Status != 0 {
				rec = &bufferedWriter{header: http.Header{}}
				s.writeFault(rec, f)
			}
		}
	}
	rec.header.Set("X-Gorgias-Account-Api-Call-Limit", s.bucket.header())
	email := ""
	if account != nil {
		email = account.Email
	}
	logged := rec.status
	if status < 0 {
		logged = 0 // no answer
	}
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Body: string(body), Status: logged, Email: email})
	s.touch()
	s.mu.Unlock()
	if after.Delay > 0 || after.Reset {
		s.log.Info("injected fault after apply", "method", r.Method, "path", r.URL.Path,
			"status", after.Status, "delay", after.Delay, "reset", after.Reset)
	}
	if after.Delay > 0 {
		_ = s.pause(r.Context(), after.Delay)
	}
	switch status {
	case statusReset:
		resetConn(w)
		return
	case statusAbandoned:
		return
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// admit's statuses for calls that get no answer: the connection is reset,
// or the client gave up during an injected delay.
const (
	statusReset     = -1
	statusAbandoned = -2
)

// admit runs the checks before the handler; a non-zero status means the
// answer is already written to w (or, negative, that there is none).
func (s *Sandbox) admit(w *bufferedWriter, r *http.Request) (body []byte, account *User, status int) {
	account = s.authenticate(r)
	if account == nil {
		w.header.Set("WWW-Authenticate", `Basic realm="Gorgias API"`)
		writeJSON(w, http.StatusUnauthorized, errorBody("Unauthorized", nil))
		return nil, nil, http.StatusUnauthorized
	}
	s.mu.Lock()
	f, faulted := s.takeFault(r.Method, r.URL.Path, false)
	s.mu.Unlock()
	if faulted {
		s.log.Info("injected fault", "method", r.Method, "path", r.URL.Path, "status", f.Status, "delay", f.Delay, "reset", f.Reset)
		if f.Delay > 0 {
			// With the body read, the server watches the connection and
			// cancels the request's context when the client hangs up.
			pre, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.opts.MaxBodyBytes))
			r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(pre), errReader{err}))
			if !s.pause(r.Context(), f.Delay) {
				return nil, account, statusAbandoned
			}
		}
		switch {
		case f.Reset:
			return nil, account, statusReset
		case f.Status != 0:
			s.writeFault(w, f)
			return nil, account, f.Status
		}
		// Only slow: the call goes on as any other.
	}
	s.mu.Lock() // a refused call does not fill the bucket
	now := s.now()
	ok, wait := s.bucket.take(now)
	if ok {
		s.countCall(account.Email, now)
	}
	s.mu.Unlock()
	if !ok {
		w.header.Set("Retry-After", retryAfterSeconds(wait))
		writeJSON(w, http.StatusTooManyRequests, errorBody("Too many requests", nil))
		return nil, account, http.StatusTooManyRequests
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody("Payload too large.", nil))
			return nil, account, http.StatusRequestEntityTooLarge
		}
		writeJSON(w, http.StatusBadRequest, errorBody("Failed to read the request body.", nil))
		return nil, account, http.StatusBadRequest
	}
	if len(bytes.TrimSpace(body)) > 0 {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/json" && !(mt == "multipart/form-data" && r.URL.Path == "/api/upload") {
			writeJSON(w, http.StatusUnsupportedMediaType, errorBody("Request bodies must be JSON (Content-Type: application/json).", nil))
			return body, account, http.StatusUnsupportedMediaType
		}
	}
	return body, account, 0
}

// errReader returns err (or EOF) at the end of a body read ahead.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	return 0, io.EOF
}

// pause waits d in real time (an injected delay is about the client's
// timeouts, not the sandbox's clock); false when ctx ends first or the
// sandbox closes.
func (s *Sandbox) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.ctx.Done():
		return false
	}
}

// resetConn drops the client's connection with a TCP RST: the client sees
// "connection reset by peer" instead of an answer.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server closes the connection unanswered
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close sends RST, not FIN
	}
	_ = conn.Close()
}

// takeAfterApplyFault uses up a matching AfterApply fault. Callers hold mu.
func (s *Sandbox) takeAfterApplyFault(method, path string) (Fault, bool) {
	return s.takeFault(method, path, true)
}

// writeFault answers with an injected fault.
func (s *Sandbox) writeFault(w http.ResponseWriter, f Fault) {
	if f.RetryAfter > 0 || f.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", retryAfterSeconds(f.RetryAfter))
	}
	msg := http.StatusText(f.Status)
	switch f.Status {
	case http.StatusTooManyRequests:
		msg = "Too many requests"
	case http.StatusServiceUnavailable:
		msg = "An external service had an issue."
	case http.StatusNotFound:
		msg = "Resource not found."
	}
	if msg == "" {
		msg = "Error"
	}
	writeJSON(w, f.Status, errorBody(msg, nil))
}

// authenticate checks HTTP Basic email:api_key.
func (s *Sandbox) authenticate(r *http.Request) *User {
	email, key, ok := r.BasicAuth()
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want, known := s.accounts[strings.ToLower(email)]
	if !known || want != key || key == "" {
		return nil
	}
	return s.userByEmail(email)
}

// ---- encoding

type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func errorBody(msg string, data map[string][]string) map[string]any {
	e := map[string]any{"msg": msg}
	if len(data) > 0 {
		e["data"] = data
	}
	return map[string]any{"error": e}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"error": {"msg": "Internal server error."}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// writeError maps an error to Gorgias's status and body.
func writeError(w http.ResponseWriter, err error) {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		writeJSON(w, http.StatusBadRequest, errorBody(ve.Msg, ve.Fields))
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody("Resource not found.", nil))
	case errors.Is(err, ErrConflict):
		writeJSON(w, http.StatusConflict, errorBody("The resource already exists.", nil))
	default:
		writeJSON(w, http.StatusInternalServerError, errorBody("Internal server error.", nil))
	}
}

var errBadJSON = &ValidationError{Msg: "Request body must be a valid JSON object."}

// readObject decodes a JSON object body, numbers kept as json.Number.
func readObject(r *http.Request) (map[string]any, error) {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, errBadJSON
	}
	if dec.More() {
		return nil, errBadJSON
	}
	return m, nil
}

func pathID(r *http.Request, name string) int64 {
	n, _ := strconv.ParseInt(mux.Vars(r)[name], 10, 64)
	return n
}

// ---- pagination (§1.3)

type listMeta struct {
	PrevCursor *string `json:"prev_cursor"`
	NextCursor *string `json:"next_cursor"`
}

type listEnvelope struct {
	Data   any      `json:"data"`
	Object string   `json:"object"`
	URI    string   `json:"uri"`
	Meta   listMeta `json:"meta"`
}

func encodeCursor(dir string, id int64) *string {
	b, _ := json.Marshal([]any{dir, id})
	s := base64.StdEncoding.EncodeToString(b)
	return &s
}

func decodeCursor(c string) (dir string, id int64, ok bool) {
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		b, err = base64.URLEncoding.DecodeString(c)
	}
	if err != nil {
		return "", 0, false
	}
	var v []any
	if json.Unmarshal(b, &v) != nil || len(v) < 2 {
		return "", 0, false
	}
	dir, _ = v[0].(string)
	f, isNum := v[1].(float64)
	if (dir != "next" && dir != "prev") || !isNum {
		return "", 0, false
	}
	return dir, int64(f), true
}

// listQuery is a list call's pagination and filters.
type listQuery struct {
	limit   int
	cursor  string
	orderBy string // field
	desc    bool
	filters url.Values
}

// parseListQuery checks the query: allowed filters, limit 1..100, order_by
// one of orderFields with :asc or :desc.
func parseListQuery(r *http.Request, defaultOrder string, orderFields []string, filters ...string) (listQuery, error) {
	q := r.URL.Query()
	errs := map[string][]string{}
	lq := listQuery{limit: 30, filters: url.Values{}}
	for k, v := range q {
		switch {
		case k == "limit":
			n, err := strconv.Atoi(v[0])
			if err != nil {
				errs[k] = []string{msgNotInt}
			} else if n < 1 || n > 100 {
				errs[k] = []string{"Must be greater than or equal to 1 and less than or equal to 100."}
			}
			lq.limit = n
		case k == "cursor":
			lq.cursor = v[0]
			if _, _, ok := decodeCursor(v[0]); !ok && v[0] != "" {
				errs[k] = []string{"Invalid cursor."}
			}
		case k == "order_by":
			defaultOrder = v[0]
		case contains(filters, k):
			lq.filters[k] = v
		default:
			errs[k] = []string{msgUnknown}
		}
	}
	field, dir, _ := strings.Cut(defaultOrder, ":")
	if dir == "" {
		dir = "asc"
	}
	if !contains(orderFields, field) || (dir != "asc" && dir != "desc") {
		var choices []string
		for _, f := range orderFields {
			choices = append(choices, f+":asc", f+":desc")
		}
		errs["order_by"] = []string{msgOneOf(choices...)}
	}
	lq.orderBy, lq.desc = field, dir == "desc"
	if len(errs) > 0 {
		return lq, &ValidationError{Msg: "Invalid query parameters.", Fields: errs}
	}
	return lq, nil
}

// item is what paginate sorts: an id and sort keys.
type item struct {
	id   int64
	keys map[string]string // order field → sortable value
	v    any
}

// paginate orders items, then cuts the page the cursor points at.
func paginate(items []item, lq listQuery, uri string) listEnvelope {
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		ka, kb := a.keys[lq.orderBy], b.keys[lq.orderBy]
		if ka == kb {
			if lq.desc {
				return a.id > b.id
			}
			return a.id < b.id
		}
		if lq.desc {
			return ka > kb
		}
		return ka < kb
	})
	start, end := 0, min(lq.limit, len(items))
	if dir, id, ok := decodeCursor(lq.cursor); ok {
		pos := -1
		for i, it := range items {
			if it.id == id {
				pos = i
			}
		}
		if dir == "next" {
			start = pos + 1
			end = min(start+lq.limit, len(items))
		} else {
			end = max(pos, 0)
			start = max(end-lq.limit, 0)
		}
	}
	data := make([]any, 0, end-start)
	for _, it := range items[start:end] {
		data = append(data, it.v)
	}
	env := listEnvelope{Data: data, Object: "list", URI: uri}
	if end < len(items) && end > start {
		env.Meta.NextCursor = encodeCursor("next", items[end-1].id)
	}
	if start > 0 && end > start {
		env.Meta.PrevCursor = encodeCursor("prev", items[start].id)
	}
	return env
}

func listURI(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return r.URL.Path
	}
	return r.URL.Path + "?" + r.URL.RawQuery
}

func idKey(id int64) string { return fmt.Sprintf("%020d", id) }

// ---- account

func (s *Sandbox) registerAccount(r *mux.Router) {
	r.HandleFunc("/api/account", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"domain": "sandbox", "status": map[string]any{"status": "active"}})
	}).Methods(http.MethodGet)
}

// ---- customers (§1.5)

func (s *Sandbox) registerCustomers(r *mux.Router) {
	r.HandleFunc("/api/customers", s.listCustomers).Methods(http.MethodGet)
	r.HandleFunc("/api/customers", s.postCustomer).Methods(http.MethodPost)
	r.HandleFunc("/api/customers/{id:[0-9]+}", s.getCustomer).Methods(http.MethodGet)
	r.HandleFunc("/api/customers/{id:[0-9]+}", s.putCustomer).Methods(http.MethodPut)
	r.HandleFunc("/api/customers/{id:[0-9]+}", s.deleteCustomer).Methods(http.MethodDelete)
	r.HandleFunc("/api/customers/{id:[0-9]+}/data", s.putCustomerData).Methods(http.MethodPut)
}

func (s *Sandbox) listCustomers(w http.ResponseWriter, r *http.Request) {
	lq, err := parseListQuery(r, "created_datetime:desc", []string{"created_datetime", "updated_datetime", "id", "name"},
		"email", "external_id", "name", "language", "timezone")
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	var items []item
	for _, c := range s.customers {
		if !matchFilter(lq.filters, "email", string(c.Email), true) ||
			!matchFilter(lq.filters, "external_id", string(c.ExternalID), false) ||
			!matchFilter(lq.filters, "name", string(c.Name), false) ||
			!matchFilter(lq.filters, "language", string(c.Language), false) ||
			!matchFilter(lq.filters, "timezone", string(c.Timezone), false) {
			continue
		}
		items = append(items, item{id: c.ID, v: s.customerView(c), keys: map[string]string{
			"created_datetime": idKey(c.ID), "id": idKey(c.ID), "name": strings.ToLower(string(c.Name)),
			"updated_datetime": c.UpdatedDatetime.Format(timeLayout)}})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, paginate(items, lq, listURI(r)))
}

func matchFilter(f url.Values, key, value string, fold bool) bool {
	want, ok := f[key]
	if !ok {
		return true
	}
	if fold {
		return strings.EqualFold(want[0], value)
	}
	return want[0] == value
}

func (s *Sandbox) postCustomer(w http.ResponseWriter, r *http.Request) {
	body, err := readObject(r)
	if err != nil {
		writeError(w, err)
		return
	}
	in, err := parseCustomer(body, "Failed to create customer")
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := in.str["email"]; e != nil && *e != "" && s.emailTaken(*e, 0) {
		writeError(w, ErrConflict)
		return
	}
	email := ""
	if e := in.str["email"]; e != nil {
		email = *e
	}
	c := s.newCustomer(email)
	if email != "" {
		c.Meta = map[string]any{"name_set_via": "api"}
	}
	s.applyCustomer(c, in)
	s.touch()
	writeJSON(w, http.StatusCreated, s.customerView(c))
}

func (s *Sandbox) getCustomer(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.customerByID(pathID(r, "id"))
	if c == nil {
		writeError(w, ErrNotFound)
		return
	}
	writeJSON(w, http.StatusOK, s.customerView(c))
}

func (s *Sandbox) putCustomer(w http.ResponseWriter, r *http.Request) {
	body, err := readObject(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.customerByID(pathID(r, "id"))
	if c == nil {
		writeError(w, ErrNotFound)
		return
	}
	in, err := parseCustomer(body, "Failed to update customer")
	if err != nil {
		writeError(w, err)
		return
	}
	if e := in.str["email"]; e != nil && *e != "" && s.emailTaken(*e, c.ID) {
		writeError(w, ErrConflict)
		return
	}
	s.applyCustomer(c, in)
	s.touch()
	writeJSON(w, http.StatusOK, s.customerView(c))
}

func (s *Sandbox) deleteCustomer(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := pathID(r, "id")
	for i, c := range s.customers {
		if c.ID == id {
			s.customers = append(s.customers[:i], s.customers[i+1:]...)
			s.touch()
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeError(w, ErrNotFound)
}

// putCustomerData sets the customer's free-form data: {"data": {...},
// "version": "<ISO datetime>"}; a version older than the last one is
// silently ignored.
func (s *Sandbox) putCustomerData(w http.ResponseWriter, r *http.Request) {
	body, err := readObject(r)
	if err != nil {
		writeError(w, err)
		return
	}
	errs := map[string][]string{}
	f := newFields(body, errs)
	data, _ := f.raw("data", true)
	version, _ := f.datetime("version")
	if len(errs) > 0 {
		writeError(w, &ValidationError{Msg: "Failed to update customer data", Fields: errs})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.customerByID(pathID(r, "id"))
	if c == nil {
		writeError(w, ErrNotFound)
		return
	}
	last, seen := s.customerData[c.ID]
	if version == nil || !seen || !version.Before(last) {
		c.Data = cloneJSON(data)
		c.UpdatedDatetime = Time{s.now().UTC()}
		if version != nil {
			s.customerData[c.ID] = *version
		}
		s.touch()
	}
	writeJSON(w, http.StatusOK, s.customerView(c))
}

// ---- tickets (§1.6–1.8)

func (s *Sandbox) registerTickets(r *mux.Router) {
	r.HandleFunc("/api/tickets", s.listTickets).Methods(http.MethodGet)
	r.HandleFunc("/api/tickets", s.postTicket).Methods(http.MethodPost)
	r.HandleFunc("/api/tickets/{id:[0-9]+}", s.getTicket).Methods(http.MethodGet)
	r.HandleFunc("/api/tickets/{id:[0-9]+}", s.putTicket).Methods(http.MethodPut)
	r.HandleFunc("/api/tickets/{id:[0-9]+}", s.deleteTicketHandler).Methods(http.MethodDelete)
	r.HandleFunc("/api/tickets/{id:[0-9]+}/messages", s.listTicketMessages).Methods(http.MethodGet)
	r.HandleFunc("/api/tickets/{id:[0-9]+}/messages", s.postMessage).Methods(http.MethodPost)
	r.HandleFunc("/api/tickets/{id:[0-9]+}/messages/{mid:[0-9]+}", s.getMessage).Methods(http.MethodGet)
	r.HandleFunc("/api/tickets/{id:[0-9]+}/tags", s.ticketTags).Methods(http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete)
	r.HandleFunc("/api/messages", s.listMessages).Methods(http.MethodGet)
}

func (s *Sandbox) listTickets(w http.ResponseWriter, r *http.Request) {
	lq, err := parseListQuery(r, "created_datetime:desc", []string{"created_datetime", "updated_datetime", "id", "last_message_datetime"},
		"external_id", "customer_id")
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	var items []item
	for _, t := range s.tickets {
		if !matchFilter(lq.filters, "external_id", string(t.ExternalID), false) ||
			!matchFilter(lq.filters, "customer_id", strconv.FormatInt(t.customerID, 10), false) {
			continue
		}
		last := ""
		if t.LastMessageDatetime != nil {
			last = t.LastMessageDatetime.UTC().Format(timeLayout)
		}
		items = append(items, item{id: t.ID, v: s.ticketView(t, false), keys: map[string]string{
			"created_datetime": idKey(t.ID), "id": idKey(t.ID), "last_message_datetime": last,
			"updated_datetime": t.UpdatedDatetime.UTC().Format(timeLayout)}})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, paginate(items, lq, listURI(r)))
}

func (s *Sandbox) postTicket(w http.ResponseWriter, r *http.Request) {
	body, err := readObject(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.createTicket(body, accountFrom(r.Context()))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.ticketView(t, true))
}

func (s *Sandbox) getTicket(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ticketOr404(w, r)
	if t == nil {
		return
	}
	out := s.ticketView(t, true)
	if n := s.opts.TicketMessages; n > 0 && len(out.Messages) > n {
		out.Messages = out.Messages[:n]
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sandbox) putTicket(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ticketOr404(w, r)
	if t == nil {
		return
	}
	body, err := readObject(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.updateTicket(t, body); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.ticketView(t, true))
}

func (s *Sandbox) deleteTicketHandler(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.deleteTicket(pathID(r, "id")) {
		writeError(w, ErrNotFound)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) postMessage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ticketOr404(w, r)
	if t == nil {
		return
	}
	body, err := readObject(r)
	if err != nil {
		writeError(w, err)
		return
	}
	m, err := s.addMessage(t, body, accountFrom(r.Context()))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, messageView(m))
}

// listTicketMessages is the legacy unpaginated list: every message, oldest
// first, in the list envelope.
func (s *Sandbox) listTicketMessages(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ticketOr404(w, r)
	if t == nil {
		return
	}
	data := []Message{}
	for _, m := range t.messages {
		data = append(data, messageView(m))
	}
	writeJSON(w, http.StatusOK, listEnvelope{Data: data, Object: "list", URI: listURI(r)})
}

func (s *Sandbox) getMessage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, m := s.findMessage(pathID(r, "mid"))
	if m == nil || t.ID != pathID(r, "id") {
		writeError(w, ErrNotFound)
		return
	}
	writeJSON(w, http.StatusOK, messageView(m))
}

func (s *Sandbox) listMessages(w http.ResponseWriter, r *http.Request) {
	lq, err := parseListQuery(r, "created_datetime:asc", []string{"created_datetime", "id"}, "ticket_id")
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	var items []item
	for _, t := range s.tickets {
		if !matchFilter(lq.filters, "ticket_id", strconv.FormatInt(t.ID, 10), false) {
			continue
		}
		for _, m := range t.messages {
			items = append(items, item{id: m.ID, v: messageView(m), keys: map[string]string{
				"created_datetime": m.CreatedDatetime.UTC().Format(timeLayout) + idKey(m.ID), "id": idKey(m.ID)}})
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, paginate(items, lq, listURI(r)))
}

// ticketTags: GET lists, POST adds, PUT replaces, DELETE removes, with
// {"names": [...]} or {"ids": [...]}.
func (s *Sandbox) ticketTags(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.ticketOr404(w, r)
	if t == nil {
		return
	}
	if r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, listEnvelope{Data: append([]Tag{}, t.Tags...), Object: "list", URI: listURI(r)})
		return
	}
	body, err := readObject(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var names []string
	errs := map[string][]string{}
	f := newFields(body, errs)
	if l, ok := f.list("names", false); ok {
		for _, v := range l {
			if n, isStr := v.(string); isStr && n != "" {
				names = append(names, n)
			} else {
				f.fail("names", msgNotString)
			}
		}
	}
	if l, ok := f.list("ids", false); ok {
		for _, v := range l {
			id, isInt := asInt(v)
			tag := s.tagByID(id)
			if !isInt || tag == nil {
				f.fail("ids", msgNotFoundID)
				continue
			}
			names = append(names, tag.Name)
		}
	}
	if len(errs) > 0 {
		writeError(w, &ValidationError{Msg: "Failed to update ticket tags", Fields: errs})
		return
	}
	var next []string
	status := http.StatusCreated
	switch r.Method {
	case http.MethodPost:
		next = append(tagList(t.Tags), names...)
	case http.MethodPut:
		next, status = names, http.StatusAccepted
	case http.MethodDelete:
		for _, n := range tagList(t.Tags) {
			if !containsFold(names, n) {
				next = append(next, n)
			}
		}
		status = http.StatusNoContent
	}
	if s.setTags(t, next) {
		t.UpdatedDatetime = Time{s.now().UTC()}
		s.emit(TriggerTicketUpdated, t, nil, nil)
		s.touch()
	}
	w.WriteHeader(status)
}

func tagList(tags []Tag) []string {
	var out []string
	for _, t := range tags {
		out = append(out, t.Name)
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// ---- integrations (§1.9)

func (s *Sandbox) registerIntegrations(r *mux.Router) {
	r.HandleFunc("/api/integrations", s.listIntegrations).Methods(http.MethodGet)
	r.HandleFunc("/api/integrations", s.postIntegration).Methods(http.MethodPost)
	r.HandleFunc("/api/integrations/{id:[0-9]+}", s.getIntegration).Methods(http.MethodGet)
	r.HandleFunc("/api/integrations/{id:[0-9]+}", s.putIntegration).Methods(http.MethodPut)
	r.HandleFunc("/api/integrations/{id:[0-9]+}", s.deleteIntegration).Methods(http.MethodDelete)
}

func (s *Sandbox) listIntegrations(w http.ResponseWriter, r *http.Request) {
	lq, err := parseListQuery(r, "id:asc", []string{"id", "created_datetime"}, "type")
	if err != nil {
		writeError(w, err)
		return
	}
	var items []item
	for _, in := range s.Integrations() {
		if !matchFilter(lq.filters, "type", in.Type, false) {
			continue
		}
		items = append(items, item{id: in.ID, v: in, keys: map[string]string{"id": idKey(in.ID), "created_datetime": idKey(in.ID)}})
	}
	writeJSON(w, http.StatusOK, paginate(items, lq, listURI(r)))
}

func (s *Sandbox) postIntegration(w http.ResponseWriter, r *http.Request) {
	var in Integration
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeError(w, invalid("Failed to create integration", "http", err.Error()))
		return
	}
	out, err := s.CreateIntegration(in)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Sandbox) getIntegration(w http.ResponseWriter, r *http.Request) {
	in, err := s.Integration(pathID(r, "id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (s *Sandbox) putIntegration(w http.ResponseWriter, r *http.Request) {
	body, err := readObject(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.integrationByID(pathID(r, "id"))
	if in == nil {
		writeError(w, ErrNotFound)
		return
	}
	if err := s.updateIntegration(in, body); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, integrationView(&in.Integration))
}

func (s *Sandbox) deleteIntegration(w http.ResponseWriter, r *http.Request) {
	if err := s.DeleteIntegration(pathID(r, "id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ticketOr404 returns the ticket named by the path's {id}, or answers 404
// and returns nil. Callers hold s.mu.
func (s *Sandbox) ticketOr404(w http.ResponseWriter, r *http.Request) *ticket {
	t := s.ticketByID(pathID(r, "id"))
	if t == nil {
		writeError(w, ErrNotFound)
	}
	return t
}
