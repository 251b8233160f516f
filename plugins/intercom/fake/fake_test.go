package fake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livechatd/livechatd/plugins/intercom/fake"
	"github.com/livechatd/livechatd/sdk/webhook"
)

func call(t *testing.T, s *fake.Server, method, path, token string, in any) (*http.Response, map[string]any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.URL+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Intercom-Version", "2.14")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

// errorCode is the first error's code and message of an error list.
func errorCode(t *testing.T, body map[string]any) (string, string) {
	t.Helper()
	errs, _ := body["errors"].([]any)
	if body["type"] != "error.list" || len(errs) != 1 {
		t.Fatalf("not an error list: %v", body)
	}
	e := errs[0].(map[string]any)
	return e["code"].(string), e["message"].(string)
}

func TestFakeErrorsAsIntercom(t *testing.T) {
	s := fake.New(t, fake.Options{})
	resp, body := call(t, s, http.MethodGet, "/conversations/1", "wrong", nil)
	if code, msg := errorCode(t, body); resp.StatusCode != 401 || code != "unauthorized" || msg != "Access Token Invalid" || resp.Header.Get("X-RateLimit-Limit") != "" {
		t.Errorf("bad token: %d %v %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = call(t, s, http.MethodGet, "/conversations/1", s.Token(), nil)
	if code, msg := errorCode(t, body); resp.StatusCode != 404 || code != "not_found" || msg != "Resource Not Found" {
		t.Errorf("no conversation: %d %v", resp.StatusCode, body)
	}
	resp, body = call(t, s, http.MethodGet, "/contacts/find_by_external_id/nobody", s.Token(), nil)
	if code, msg := errorCode(t, body); resp.StatusCode != 404 || code != "not_found" || msg != "User Not Found" {
		t.Errorf("no contact: %d %v", resp.StatusCode, body)
	}
	_, c := call(t, s, http.MethodPost, "/contacts", s.Token(), map[string]string{"role": "user", "external_id": "u1"})
	resp, body = call(t, s, http.MethodPost, "/contacts", s.Token(), map[string]string{"role": "user", "external_id": "u1"})
	if code, msg := errorCode(t, body); resp.StatusCode != 409 || code != "conflict" || msg != "A contact matching those details already exists with id="+c["id"].(string) {
		t.Errorf("duplicate: %d %v", resp.StatusCode, body)
	}
	resp, body = call(t, s, http.MethodPost, "/conversations", s.Token(), map[string]any{"from": map[string]string{"type": "user", "id": "123_doesnt_exist"}, "body": "Hello there"})
	if code, msg := errorCode(t, body); resp.StatusCode != 404 || code != "not_found" || msg != "User Not Found" {
		t.Errorf("conversation from nobody: %d %v", resp.StatusCode, body)
	}
	resp, body = call(t, s, http.MethodPost, "/conversations", s.Token(), map[string]any{"from": map[string]string{"type": "user", "id": c["id"].(string)}, "body": "Hello there"})
	if resp.StatusCode != 200 || body["type"] != "user_message" || body["message_type"] != "inapp" || body["conversation_id"] == "" {
		t.Errorf("conversation: %d %v", resp.StatusCode, body)
	}
}

func TestFakeRateLimitWindows(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_004, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := fake.New(t, fake.Options{RateLimit: 2, Now: clock})
	for i, want := range []string{"1", "0"} {
		resp, _ := call(t, s, http.MethodGet, "/conversations/1", s.Token(), nil)
		if resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Remaining") != want || resp.Header.Get("X-RateLimit-Reset") != "1800000010" {
			t.Errorf("call %d: headers %v", i+1, resp.Header)
		}
	}
	resp, body := call(t, s, http.MethodGet, "/conversations/1", s.Token(), nil)
	if code, msg := errorCode(t, body); resp.StatusCode != 429 || code != "rate_limit_exceeded" || msg != "Exceeded rate limit of 2 in 10_seconds" ||
		resp.Header.Get("Retry-After") != "" || resp.Header.Get("X-RateLimit-Remaining") != "0" || resp.Header.Get("X-RateLimit-Reset") != "1800000010" {
		t.Errorf("over the limit: %d %v %v", resp.StatusCode, body, resp.Header)
	}
	mu.Lock()
	now = now.Add(6 * time.Second) // the next window
	mu.Unlock()
	if resp, _ := call(t, s, http.MethodGet, "/conversations/1", s.Token(), nil); resp.StatusCode != 404 || resp.Header.Get("X-RateLimit-Reset") != "1800000020" {
		t.Errorf("next window: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestFakeNotifications: signed as Intercom signs; a 5xx answer is not
// retried, a 429 is after the throttle delay.
func TestFakeNotifications(t *testing.T) {
	s := fake.New(t, fake.Options{ThrottleDelay: 50 * time.Millisecond})
	var mu sync.Mutex
	var statuses []int
	answers := []int{200, 503, 429, 200}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := webhook.Intercom.Verify(s.ClientSecret(), r.Header, b, time.Now()); err != nil {
			t.Errorf("signature: %v", err)
		}
		mu.Lock()
		st := answers[len(statuses)]
		statuses = append(statuses, st)
		mu.Unlock()
		w.WriteHeader(st)
	}))
	defer srv.Close()
	s.SetWebhookURL(srv.URL)
	_, c := call(t, s, http.MethodPost, "/contacts", s.Token(), map[string]string{"external_id": "u1"})
	_, m := call(t, s, http.MethodPost, "/conversations", s.Token(), map[string]any{"from": map[string]string{"type": "user", "id": c["id"].(string)}, "body": "hi"})
	conv := m["conversation_id"].(string)
	a := s.AgentReply(conv, "Ann", "one")
	b := s.AgentReply(conv, "Ann", "two")
	d := s.AgentReply(conv, "Ann", "three")
	s.Wait(t, "the throttled notification sent again", func() bool {
		return len(s.DeliveryOf(t, d.ID).Attempts) == 2
	})
	if at := s.DeliveryOf(t, a.ID).Attempts; len(at) != 1 || at[0].Status != 200 {
		t.Errorf("one: %+v", at)
	}
	if at := s.DeliveryOf(t, b.ID).Attempts; len(at) != 1 || at[0].Status != 503 {
		t.Errorf("two: %+v, want one attempt, not retried", at)
	}
	if at := s.DeliveryOf(t, d.ID).Attempts; at[0].Status != 429 || at[1].Status != 200 || at[1].At.Sub(at[0].At) < 50*time.Millisecond {
		t.Errorf("three: %+v, want 429 then 200 after the throttle delay", at)
	}
	var n map[string]any
	_ = json.Unmarshal(s.DeliveryOf(t, a.ID).Body, &n)
	item := n["data"].(map[string]any)["item"].(map[string]any)
	parts := item["conversation_parts"].(map[string]any)["conversation_parts"].([]any)
	if n["type"] != "notification_event" || n["topic"] != "conversation.admin.replied" || n["app_id"] != s.AppID() || !strings.HasPrefix(n["id"].(string), "notif_") ||
		item["type"] != "conversation" || len(parts) != 1 || parts[0].(map[string]any)["body"] != "<p>one</p>" {
		t.Errorf("notification = %v", n)
	}
}

// TestFakeHoldAndDrop: held notifications wait for Release (here in
// reverse order, as a late delivery may come); dropped ones are never
// sent.
func TestFakeHoldAndDrop(t *testing.T) {
	s := fake.New(t, fake.Options{})
	var mu sync.Mutex
	var order []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct {
			Data struct {
				Item struct {
					Parts struct {
						Parts []struct{ ID string } `json:"conversation_parts"`
					} `json:"conversation_parts"`
				} `json:"item"`
			} `json:"data"`
		}
		_ = json.NewDecoder(r.Body).Decode(&n)
		mu.Lock()
		order = append(order, n.Data.Item.Parts.Parts[0].ID)
		mu.Unlock()
	}))
	defer srv.Close()
	s.SetWebhookURL(srv.URL)
	_, c := call(t, s, http.MethodPost, "/contacts", s.Token(), map[string]string{"external_id": "u1"})
	_, m := call(t, s, http.MethodPost, "/conversations", s.Token(), map[string]any{"from": map[string]string{"type": "user", "id": c["id"].(string)}, "body": "hi"})
	conv := m["conversation_id"].(string)
	s.DropWebhooks(true)
	lost := s.AgentReply(conv, "Ann", "lost")
	s.DropWebhooks(false)
	s.HoldWebhooks()
	a := s.AgentReply(conv, "Ann", "a")
	b := s.AgentReply(conv, "Ann", "b")
	s.WaitIdle(t)
	mu.Lock()
	if len(order) != 0 {
		t.Errorf("sent while held or dropped: %v", order)
	}
	mu.Unlock()
	s.Release(true)
	s.WaitIdle(t)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, ",") != b.ID+","+a.ID {
		t.Errorf("order = %v, want %s,%s", order, b.ID, a.ID)
	}
	if d := s.DeliveryOf(t, lost.ID); !d.Dropped || len(d.Attempts) != 0 {
		t.Errorf("dropped: %+v", d)
	}
}
