package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// GET /v1/stats gives the outcome figures of the sessions started in a
// range, from the store: a session the echo agent greeted (its first agent
// message) and the user ended counts once, with its time to the first agent
// message and its length; the range, the bot and the parameters are
// checked. The answers are validated against docs/openapi.yaml by the
// stack's client.
func TestStatsEndpoint(t *testing.T) {
	s := newStack(t, stackOptions{})
	before := s.clock.Now().Add(-time.Minute).UTC()
	id := s.startSession("u1", 1)
	s.click("u1", "LIVECHAT_SESSION_END")
	s.waitDone("end:" + id)
	after := s.clock.Now().Add(time.Minute).UTC()

	q := url.Values{"from": {before.Format(time.RFC3339)}, "to": {after.Format(time.RFC3339)}, "bot": {"shop"}}
	r := s.admin(http.MethodGet, "/v1/stats?"+q.Encode())
	if r.Status != 200 {
		t.Fatalf("stats: %d %s", r.Status, r.Raw)
	}
	if r.Body["sessions"] != 1.0 || r.Body["open"] != 0.0 {
		t.Errorf("sessions: %s", r.Raw)
	}
	if reasons := r.Body["end_reasons"].(map[string]any); reasons["user"] != 1.0 || len(reasons) != 1 {
		t.Errorf("end reasons: %v", reasons)
	}
	for _, h := range []string{"first_agent_seconds", "session_seconds"} {
		hist := r.Body[h].(map[string]any)
		buckets := hist["buckets"].([]any)
		last := buckets[len(buckets)-1].(map[string]any)
		if hist["count"] != 1.0 || last["count"] != 1.0 {
			t.Errorf("%s: %v", h, hist)
		}
	}

	// Nothing started in another range, or for another bot.
	q.Set("from", after.Format(time.RFC3339))
	q.Set("to", after.Add(time.Hour).Format(time.RFC3339))
	if r := s.admin(http.MethodGet, "/v1/stats?"+q.Encode()); r.Status != 200 || r.Body["sessions"] != 0.0 {
		t.Errorf("an empty range: %d %s", r.Status, r.Raw)
	}

	for _, tc := range []struct {
		name, query, code string
		status            int
	}{
		{"bad from", "from=yesterday", "invalid", 400},
		{"bad to", "to=2026-13-01T00:00:00Z", "invalid", 400},
		{"from after to", "from=2026-11-29T10:00:00Z&to=2026-11-29T09:00:00Z", "invalid", 400},
		{"unknown bot", "bot=nope", "not_found", 404},
	} {
		r := s.admin(http.MethodGet, "/v1/stats?"+tc.query)
		if r.Status != tc.status || r.errorCode() != tc.code {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Raw)
		}
	}
	if r := s.do(http.MethodGet, "/v1/stats", nil, nil); r.Status != 401 {
		t.Errorf("without the admin token: %d", r.Status)
	}
}
