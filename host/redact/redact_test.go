package redact_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/host/redact"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:9000/events", "http://127.0.0.1:9000/events"},
		{"https://bot.example.com/events?lang=fr&page=2", "https://bot.example.com/events?lang=fr&page=2"},
		{"https://bot.example.com/events?token=SECRET", "https://bot.example.com/events?token=REDACTED"},
		{"https://x/e?lang=fr&api_key=SECRET&b=1", "https://x/e?lang=fr&api_key=REDACTED&b=1"},
		{"https://x/e?access_token=SECRET&Signature=SECRET&X-Amz-Credential=SECRET", "https://x/e?access_token=REDACTED&Signature=REDACTED&X-Amz-Credential=REDACTED"},
		{"https://x/e?client_secret=SECRET&password=SECRET&apikey=SECRET&sig=SECRET&key=SECRET", "https://x/e?client_secret=REDACTED&password=REDACTED&apikey=REDACTED&sig=REDACTED&key=REDACTED"},
		{"https://x/e?TOKEN=SECRET%20x&token=", "https://x/e?TOKEN=REDACTED&token="},
		{"https://x/e?to%6Ben=SECRET", "https://x/e?to%6Ben=REDACTED"},
		{"https://user:SECRET@x/e", "https://user:REDACTED@x/e"},
		{"https://SECRET@x/e", "https://REDACTED@x/e"},
		{"https://x/cb#access_token=SECRET&state=1", "https://x/cb#access_token=REDACTED&state=1"},
		{"http://[::1]:80/%zz", "REDACTED"},
	} {
		if got := redact.URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestErr(t *testing.T) {
	_, err := http.Post("http://127.0.0.1:1/events?token=SECRET", "application/json", nil)
	if err == nil {
		t.Skip("something listens on port 1")
	}
	wrapped := redact.Err(errors.Join(errors.New("bot_url"), err))
	if strings.Contains(wrapped.Error(), "SECRET") || !strings.Contains(wrapped.Error(), "token=REDACTED") {
		t.Errorf("Err: %v", wrapped)
	}
	bad := fmt.Sprintf("http://u:SECRET@x/%s", "%zz") // an escape url.Parse refuses
	if _, perr := url.Parse(bad); !strings.Contains(perr.Error(), "SECRET") {
		t.Fatalf("url.Parse's error no longer holds the URL: %v", perr)
	} else if got := redact.Err(perr).Error(); strings.Contains(got, "SECRET") {
		t.Errorf("Err(parse error) = %v", got)
	}
	if redact.Err(nil) != nil {
		t.Error("Err(nil) != nil")
	}
}
