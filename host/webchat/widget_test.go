package webchat_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/host/webchat"
)

func get(t *testing.T, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// widget.js is JavaScript, cacheable for a while and revalidated by its
// ETag, loadable by any site, with the bot's appearance filled in.
func TestWidgetScript(t *testing.T) {
	c := webchat.New(nil, map[string]string{"shop": "secret", "help": ""}, nil,
		webchat.WithAppearance("shop", webchat.Appearance{Title: "Shop </script> help", Color: "#0b7a53", Position: "left"}))
	srv := serve(t, c)
	resp, body := get(t, srv.URL+"/chat/shop/widget.js", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("widget.js: %d %s", resp.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Content-Type":                 "text/javascript; charset=utf-8",
		"Cache-Control":                webchat.WidgetCacheControl,
		"X-Content-Type-Options":       "nosniff",
		"Cross-Origin-Resource-Policy": "cross-origin",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	etag := resp.Header.Get("ETag")
	if len(etag) < 10 || !strings.HasPrefix(etag, `"`) {
		t.Errorf("ETag = %q, want a strong quoted tag", etag)
	}
	if strings.Contains(body, "/*DEFAULTS*/") || !strings.Contains(body, `"bot":"shop"`) ||
		!strings.Contains(body, `"color":"#0b7a53"`) || !strings.Contains(body, `"position":"left"`) {
		t.Errorf("the bot's defaults are not in the script:\n%.400s", body)
	}
	if strings.Contains(body, "Shop </script>") || !strings.Contains(body, `"title":"Shop \u003c/script\u003e help"`) {
		t.Error("the title's </script> reaches the script unescaped")
	}
	if r, b := get(t, srv.URL+"/chat/shop/widget.js", map[string]string{"If-None-Match": etag}); r.StatusCode != http.StatusNotModified || b != "" {
		t.Errorf("revalidation with the ETag: %d %q, want 304 and no body", r.StatusCode, b)
	}

	// Another bot has its own defaults, hence its own ETag.
	r2, body2 := get(t, srv.URL+"/chat/help/widget.js", nil)
	if r2.StatusCode != http.StatusOK || !strings.Contains(body2, `"title":"Chat with help"`) ||
		!strings.Contains(body2, `"color":"`+webchat.DefaultColor+`"`) || !strings.Contains(body2, `"position":"right"`) || r2.Header.Get("ETag") == etag {
		t.Errorf("help's widget: %d, ETag %q:\n%.300s", r2.StatusCode, r2.Header.Get("ETag"), body2)
	}
	if r, b := get(t, srv.URL+"/chat/nobot/widget.js", nil); r.StatusCode != http.StatusNotFound || !strings.Contains(b, "not_found") {
		t.Errorf("a bot without the webchat: %d %s", r.StatusCode, b)
	}
}

// The appearance's checks name the field; values that are not valid keep
// the defaults.
func TestAppearance(t *testing.T) {
	for _, tc := range []struct {
		a     webchat.Appearance
		field string
	}{
		{webchat.Appearance{}, ""},
		{webchat.Appearance{Title: "Help", Color: "#abc", Position: "right"}, ""},
		{webchat.Appearance{Color: "red"}, "color"},
		{webchat.Appearance{Color: "#12345"}, "color"},
		{webchat.Appearance{Color: "#fff;background:url(x)"}, "color"},
		{webchat.Appearance{Position: "top"}, "position"},
		{webchat.Appearance{Title: strings.Repeat("é", webchat.MaxTitle+1)}, "title"},
	} {
		if field, problem := tc.a.Check(); field != tc.field || (field != "" && problem == "") {
			t.Errorf("%+v: Check = %q %q, want field %q", tc.a, field, problem, tc.field)
		}
	}
	c := webchat.New(nil, map[string]string{"shop": "secret"}, nil,
		webchat.WithAppearance("shop", webchat.Appearance{Color: "red", Position: "top"}))
	srv := serve(t, c)
	_, body := get(t, srv.URL+"/chat/shop/widget.js", nil)
	if !strings.Contains(body, `"color":"`+webchat.DefaultColor+`"`) || !strings.Contains(body, `"position":"right"`) {
		t.Errorf("values that are not valid must keep the defaults:\n%.300s", body)
	}
}

// The chat page in the widget: embed mode, the widget's title and colour
// when valid, the bot's otherwise; framable (no frame-ancestors).
func TestPageEmbedded(t *testing.T) {
	c := webchat.New(nil, map[string]string{"shop": "secret"}, nil, webchat.WithAppearance("shop", webchat.Appearance{Title: "Shop help"}))
	srv := serve(t, c)
	resp, body := get(t, srv.URL+"/chat/shop?embed=1&title=Ask+us&color=%23ff0000", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `data-embed="1"`) || !strings.Contains(body, "<title>Ask us</title>") ||
		!strings.Contains(body, `data-color="#ff0000"`) || !strings.Contains(body, `id="widget-close"`) {
		t.Errorf("embedded page:\n%s", body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "frame-ancestors") || resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("the page must be framable by the widget: CSP %q", csp)
	}
	_, body = get(t, srv.URL+"/chat/shop?color=red;x&title="+strings.Repeat("x", webchat.MaxTitle+1), nil)
	if strings.Contains(body, "data-embed") || !strings.Contains(body, "<title>Shop help</title>") || !strings.Contains(body, `data-color="`+webchat.DefaultColor+`"`) {
		t.Errorf("a colour or a title that is not valid must keep the bot's:\n%s", body)
	}
}
