package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/httpapi"
)

// fakeStore answers the admin API's session list and the readiness ping
// with what the test sets; the rest of host.Store is never called here.
type fakeStore struct {
	host.Store
	list func() ([]*host.Session, error)
	ping func() error
}

var _ host.Store = fakeStore{}

func (f fakeStore) ListSessions(context.Context, host.SessionFilter) ([]*host.Session, error) {
	return f.list()
}

func (f fakeStore) Ping(context.Context) error { return f.ping() }

// logBuf is a log output that tests can read while the server writes.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serve runs a Server on store and returns its URL and its log.
func serve(t *testing.T, store host.Store) (string, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	srv := &httpapi.Server{Store: store, AdminToken: adminToken, Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL, logs
}

// get GETs url and decodes the JSON body; reused reports whether the
// request went on a connection an earlier request had used.
func get(t *testing.T, client *http.Client, url string, admin bool) (resp *http.Response, body map[string]any, reused bool) {
	t.Helper()
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url, nil)
	if admin {
		req.Header.Set("Authorization", "Bearer "+adminToken)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	return resp, body, reused
}

// A panic in a handler is a logged 500 with the usual body, on a
// connection that stays open for the next request; the process goes on.
func TestPanicIsA500(t *testing.T) {
	var healthy atomic.Bool
	url, logs := serve(t, fakeStore{ping: func() error {
		if !healthy.Load() {
			panic("store exploded")
		}
		return nil
	}})
	client := validatingClient(t, &http.Transport{})
	t.Cleanup(client.CloseIdleConnections)

	resp, body, _ := get(t, client, url+"/readyz", false)
	want := map[string]any{"error": map[string]any{"code": "internal", "message": "internal error"}}
	if resp.StatusCode != http.StatusInternalServerError || !cmp.Equal(body, want) {
		t.Errorf("after a panic: %d %v, want 500 %v", resp.StatusCode, body, want)
	}
	if l := logs.String(); !strings.Contains(l, "handler panicked") || !strings.Contains(l, "store exploded") || !strings.Contains(l, "/readyz") {
		t.Errorf("the panic was not logged with its request:\n%s", l)
	}

	healthy.Store(true)
	resp, body, reused := get(t, client, url+"/readyz", false)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the next request: %d %v", resp.StatusCode, body)
	}
	if !reused {
		t.Error("the panic cost the connection: the next request needed a new one")
	}
}

// Each error code has one status; a busy store is 503 with Retry-After.
func TestErrorStatuses(t *testing.T) {
	for _, tc := range []struct {
		code       string
		status     int
		retryAfter string
	}{
		{host.EINVALID, 400, ""},
		{host.EUNAUTHORIZED, 401, ""},
		{host.EFORBIDDEN, 403, ""},
		{host.ENOTFOUND, 404, ""},
		{host.ECONFLICT, 409, ""},
		{host.ETOOLARGE, 413, ""},
		{host.EUNAVAILABLE, 502, ""},
		{host.EBUSY, 503, "1"},
		{host.EINTERNAL, 500, ""},
		{"", 500, ""}, // an error that is not a *host.Error
	} {
		t.Run(fmt.Sprint(tc.status, tc.code), func(t *testing.T) {
			err := error(&host.Error{Code: tc.code, Message: "it went wrong"})
			wantCode, wantMsg := tc.code, "it went wrong"
			if tc.code == "" {
				err, wantCode = fmt.Errorf("database is locked"), host.EINTERNAL
			}
			if wantCode == host.EINTERNAL {
				wantMsg = "internal error"
			}
			url, _ := serve(t, fakeStore{list: func() ([]*host.Session, error) { return nil, err }})
			resp, body, _ := get(t, http.DefaultClient, url+"/v1/sessions", true)
			want := map[string]any{"error": map[string]any{"code": wantCode, "message": wantMsg}}
			if resp.StatusCode != tc.status || !cmp.Equal(body, want) {
				t.Errorf("got %d %v, want %d %v", resp.StatusCode, body, tc.status, want)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
		})
	}
}
