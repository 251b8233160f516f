package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// The profiler is an admin route: without the admin token it shows
// nothing, with it every profile BENCHMARKS.md's how-to reads.
func TestProfilerIsBehindTheAdminToken(t *testing.T) {
	s := newStack(t, stackOptions{})
	for _, path := range []string{"/debug/pprof/heap", "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1"} {
		r := s.raw(http.MethodGet, path, nil, nil)
		if r.Status != http.StatusUnauthorized || r.errorCode() != "unauthorized" {
			t.Errorf("%s without the token: %d %.200s, want 401 unauthorized", path, r.Status, r.Raw)
		}
		r = s.raw(http.MethodGet, path, nil, map[string]string{"Authorization": "Bearer wrong"})
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", path, r.Status)
		}
	}
	if r := s.admin(http.MethodGet, "/debug/pprof/heap?debug=1"); r.Status != http.StatusOK || !strings.Contains(r.Raw, "heap profile:") {
		t.Errorf("the heap profile: %d %.200s", r.Status, r.Raw)
	}
	if r := s.admin(http.MethodGet, "/debug/pprof/goroutine?debug=1"); r.Status != http.StatusOK || !strings.Contains(r.Raw, "goroutine profile:") {
		t.Errorf("the goroutine profile: %d %.200s", r.Status, r.Raw)
	}
	// A CPU profile is gzipped protobuf.
	if r := s.admin(http.MethodGet, "/debug/pprof/profile?seconds=1"); r.Status != http.StatusOK || !strings.HasPrefix(r.Raw, "\x1f\x8b") {
		t.Errorf("the CPU profile: %d, %d bytes, want 200 and a gzipped profile", r.Status, len(r.Raw))
	}
}
