package platform_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/platform"
)

// A provider's client: one per bot, sharing the account's Limiter.
func Example() {
	// A fake platform: tickets are created, and a rate limit is hit once.
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 2 {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id": 42}`)
	}))
	defer srv.Close()

	api, err := platform.New(platform.Options{
		Name:    "acme",
		BaseURL: srv.URL + "/api/v2/",
		Auth:    platform.BasicAuth("agent@example.com", "the-api-key"),
		Limiter: platform.NewLimiter(40, 20*time.Second),
	})
	if err != nil {
		panic(err)
	}
	var ticket struct {
		ID int64 `json:"id"`
	}
	err = api.Do(context.Background(), http.MethodPost, "tickets", nil, map[string]any{"subject": "Live chat"}, &ticket)
	fmt.Println(ticket.ID, err)

	err = api.Do(context.Background(), http.MethodPost, "tickets", nil, map[string]any{"subject": "Live chat"}, &ticket)
	retry, after := sdk.IsRetryable(err)
	fmt.Println(sdk.KindOf(err), retry, after)
	fmt.Println(err)
	// Output:
	// 42 <nil>
	// rate_limited true 30s
	// acme: POST /api/v2/tickets: 429 Too Many Requests
}

// A platform error keeps its status for the provider's own decisions, and
// names the call and the platform's message, never the query or the key.
func ExampleStatusOf() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `{"error": {"msg": "The resource already exists.", "data": {"email": ["taken"]}}}`)
	}))
	defer srv.Close()
	api, _ := platform.New(platform.Options{Name: "acme", BaseURL: srv.URL, Auth: platform.BearerToken("tok-123456")})

	err := api.Do(context.Background(), http.MethodPost, "customers", url.Values{"email": {"jane@example.com"}}, map[string]string{"email": "jane@example.com"}, nil)
	fmt.Println(platform.StatusOf(err), sdk.KindOf(err))
	fmt.Println(err)
	// Output:
	// 409 invalid
	// acme: POST /customers: 409 Conflict: The resource already exists. (email: taken)
}

func ExampleParseRetryAfter() {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{"7", "Sat, 01 Mar 2025 12:00:30 GMT", "", "soon"} {
		d, ok := platform.ParseRetryAfter(v, now)
		fmt.Printf("%q: %s %v\n", v, d, ok)
	}
	// Output:
	// "7": 7s true
	// "Sat, 01 Mar 2025 12:00:30 GMT": 30s true
	// "": 0s false
	// "soon": 0s false
}

func ExampleErrorMessage() {
	fmt.Println(platform.ErrorMessage([]byte(`{"description": "Validation failed", "errors": [{"field": "email", "message": "It should be a valid email address", "code": "invalid_value"}]}`)))
	fmt.Println(platform.ErrorMessage([]byte(`<html><body>502 Bad Gateway</body></html>`)) == "")
	// Output:
	// Validation failed (email: It should be a valid email address)
	// true
}

// Two bots on one account share its budget: here 2 calls a minute. The
// third call would have to wait longer than MaxWait, so it fails at once
// and the host's outbox tries it again after RetryAfter.
func ExampleNewLimiter() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{}`) }))
	defer srv.Close()
	lim := platform.NewLimiter(2, time.Minute)
	bot1, _ := platform.New(platform.Options{BaseURL: srv.URL, Limiter: lim})
	bot2, _ := platform.New(platform.Options{BaseURL: srv.URL, Limiter: lim})
	for _, c := range []*platform.Client{bot1, bot2, bot1} {
		err := c.Do(context.Background(), http.MethodGet, "tickets", nil, nil, nil)
		_, after := sdk.IsRetryable(err)
		fmt.Println(sdk.KindOf(err), after.Round(time.Minute))
	}
	// Output:
	// unknown 0s
	// unknown 0s
	// rate_limited 1m0s
}
