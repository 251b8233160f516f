// Package httpapi is livechatd's HTTP API (docs/events.md) on gorilla/mux:
// channel events, provider webhooks, the admin API, health and metrics.
// Handlers parse the request, call the engine or the store, and encode the
// result or the error; every error is {"error": {"code", "message"}}.
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/pluginhost"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Body limits.
const (
	MaxEventBytes   = 256 << 10
	MaxWebhookBytes = 1 << 20
)

// Plugins reports the plugins' states.
type Plugins interface {
	Statuses() []pluginhost.Status
}

// Webchat is the built-in webchat channel as the API uses it: events of its
// bots need the user's token, and what they exchange goes to the user's
// stream.
type Webchat interface {
	Serves(bot string) bool
	Verify(bot, user, token string) bool
	BeginExchange(bot, user string) (done func())
	// Admit answers an event over the user's rate limits itself (429) and
	// returns false; the caller then stops.
	Admit(w http.ResponseWriter, bot string, ev engine.Event) bool
	RecordExchange(ctx context.Context, bot string, ev engine.Event, reply engine.Reply) error
	Register(r *mux.Router)
	// Shutdown ends the open streams: Close calls it, so that they do not
	// hold the graceful shutdown.
	Shutdown()
}

// Server is the HTTP API.
type Server struct {
	Engine     *engine.Engine
	Store      host.Store
	Plugins    Plugins
	AdminToken string
	Gatherer   prometheus.Gatherer
	Logger     hclog.Logger
	// Webchat is the built-in webchat channel, when a bot uses it; its
	// routes are registered too.
	Webchat Webchat

	handler http.Handler
	srv     *http.Server
	ln      net.Listener
}

// Handler builds the router, behind the recovery of panics.
func (s *Server) Handler() http.Handler {
	if s.handler != nil {
		return s.handler
	}
	if s.Logger == nil {
		s.Logger = hclog.NewNullLogger()
	}
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.error(w, req, &host.Error{Code: host.ENOTFOUND, Message: "no route " + req.Method + " " + req.URL.Path})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: errorDetail{Code: "method_not_allowed",
			Message: "method " + req.Method + " is not allowed on " + req.URL.Path}})
	})
	s.registerEvents(r)
	s.registerWebhooks(r)
	s.registerAdmin(r)
	s.registerHealth(r)
	if s.Webchat != nil {
		s.Webchat.Register(r)
	}
	s.handler = s.recoverPanics(r)
	return s.handler
}

// recoverPanics turns a panic in a handler into a logged failure and, when
// nothing was written yet, a 500 with the usual error body, instead of the
// dropped connection net/http gives. http.ErrAbortHandler keeps its meaning.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rw := &recorder{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.Logger.Error("handler panicked", "method", req.Method, "path", req.URL.Path, "panic", v, "stack", string(debug.Stack()))
			if rw.wrote {
				return // the status is gone; the response ends where it stopped
			}
			writeJSON(w, http.StatusInternalServerError, errorBody{Error: errorDetail{Code: host.EINTERNAL, Message: "internal error"}})
		}()
		next.ServeHTTP(rw, req)
	})
}

// recorder notes whether the response has started. It passes Flush on (the
// webchat streams need it) and unwraps for http.ResponseController.
type recorder struct {
	http.ResponseWriter
	wrote bool
}

func (r *recorder) WriteHeader(status int) {
	// 1xx headers are informational: the real status is still to come.
	if status >= 200 {
		r.wrote = true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	r.wrote = true
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Open listens on addr (":0" picks a port) and serves in the background.
func (s *Server) Open(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	if s.Webchat != nil {
		// Shutdown closes the listeners, then runs this: the streams end
		// and their connections drain like any other.
		s.srv.RegisterOnShutdown(s.Webchat.Shutdown)
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Error("http server", "error", err)
		}
	}()
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting requests, ends the webchat streams and waits for
// the requests in flight until ctx is done; then it closes the connections
// still open, so that no request outlives it by more than its handler's
// reaction to a cancelled context.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("http: requests still running when the grace ended: %w", err)
	}
	return nil
}

func (s *Server) registerHealth(r *mux.Router) {
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}).Methods(http.MethodGet)
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet)
	if s.Gatherer != nil {
		r.Handle("/metrics", promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	}
}

// readyz: the store answers and every plugin a bot uses is ready.
func (s *Server) readyz(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ready := true
	if err := s.Store.Ping(ctx); err != nil {
		checks["store"] = "unreachable"
		ready = false
	} else {
		checks["store"] = "ok"
	}
	if s.Plugins != nil {
		for _, st := range s.Plugins.Statuses() {
			checks["plugin:"+st.Name] = string(st.State)
			if len(st.Bots) > 0 && st.State != pluginhost.StateReady {
				ready = false
			}
		}
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ready, "checks": checks})
}

var statusOf = map[string]int{
	host.EINVALID:      http.StatusBadRequest,
	host.EUNAUTHORIZED: http.StatusUnauthorized,
	host.EFORBIDDEN:    http.StatusForbidden,
	host.ENOTFOUND:     http.StatusNotFound,
	host.ECONFLICT:     http.StatusConflict,
	host.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	host.EUNAVAILABLE:  http.StatusBadGateway,
	host.EBUSY:         http.StatusServiceUnavailable,
	host.EINTERNAL:     http.StatusInternalServerError,
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// error writes err as JSON with its status; internal errors are logged and
// shown as "internal error". A busy store asks the caller to retry in a
// second: the condition is livechatd's own and passes quickly.
func (s *Server) error(w http.ResponseWriter, req *http.Request, err error) {
	code := host.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		s.Logger.Error("request failed", "method", req.Method, "path", req.URL.Path, "status", status, "error", err)
	} else {
		s.Logger.Debug("request refused", "method", req.Method, "path", req.URL.Path, "status", status, "error", err)
	}
	if code == host.EBUSY {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: host.ErrorMessage(err), Field: host.ErrorField(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// readBody reads at most limit bytes; more is ETOOLARGE.
func readBody(w http.ResponseWriter, req *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, req.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, &host.Error{Code: host.ETOOLARGE, Message: fmt.Sprintf("request body over %d bytes", limit)}
	}
	if err != nil {
		return nil, &host.Error{Code: host.EINVALID, Message: "read request body: " + err.Error()}
	}
	return b, nil
}

// decodeJSON decodes a JSON body into v, naming where it is malformed.
func decodeJSON(b []byte, v any) error {
	if len(strings.TrimSpace(string(b))) == 0 {
		return &host.Error{Code: host.EINVALID, Message: "request body is empty; send a JSON object"}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError rewords an encoding/json error in the client's terms: JSON
// types and the field's path, never Go's type names.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		got, _, _ := strings.Cut(typeErr.Value, " ") // "number 300" when out of range
		if got == "bool" {
			got = "boolean"
		}
		field := typeErr.Field
		what := field
		if field == "" {
			what = "the body"
		}
		want := jsonKind(typeErr.Type)
		if field == "" && want == "an object" {
			want = "a JSON object"
		}
		return &host.Error{Code: host.EINVALID, Field: field, Message: fmt.Sprintf("%s must be %s, not %s", what, want, article(got))}
	case errors.As(err, &syntaxErr):
		if syntaxErr.Offset == 0 || strings.Contains(syntaxErr.Error(), "unexpected end") {
			return &host.Error{Code: host.EINVALID, Message: "malformed JSON: the body ends too early"}
		}
		return &host.Error{Code: host.EINVALID, Message: fmt.Sprintf("malformed JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())}
	}
	return &host.Error{Code: host.EINVALID, Message: "malformed JSON"}
}

// jsonKind names what JSON value decodes into t.
func jsonKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another type"
}

// article puts "a" or "an" before a JSON type's name.
func article(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

// equalSecret compares secrets in constant time.
func equalSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
