package sdktest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// A plugin launched through sdktest.Launch keeps plugin state
// (sdk.StateOf) in the test Host's memory, within livechatd's rules: only
// sessions the test declared, of their own bot, within the bounds. The
// stateful plugin remembers each post under its idempotency key, so a
// retried send posts once on a platform without idempotency keys.
func TestHostKeepsPluginState(t *testing.T) {
	var posts atomic.Int64
	plat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "msg-%d", posts.Add(1))
	}))
	t.Cleanup(plat.Close)
	p := sdktest.Launch(t, sdktest.Install(t, builds.Binary(t, "../testdata/stateful"), t.TempDir(), "stateful"))
	p.Host.AddSession("shop", "s1")
	p.Host.AddSession("other", "s2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.Configure(ctx, "shop", sdk.Config{"platform_url": plat.URL}); err != nil {
		t.Fatal(err)
	}
	send := func(text, key string) (string, error) {
		res, err := p.SendMessage(ctx, sdk.SendRequest{Bot: "shop", SessionID: "s1", IdempotencyKey: key, Message: sdk.Text(text)})
		return res.PlatformMessageID, err
	}

	for range 2 {
		if id, err := send("hello", "k1"); err != nil || id != "msg-1" {
			t.Fatalf("send k1 = %q, %v; want msg-1 (once posted, then remembered)", id, err)
		}
	}
	if n := posts.Load(); n != 1 {
		t.Errorf("platform got %d posts for one idempotency key, want 1", n)
	}
	if diff := cmp.Diff(map[string][]byte{"sent:k1": []byte("msg-1")}, p.Host.State("shop", "s1")); diff != "" {
		t.Errorf("state of s1 (-want +got):\n%s", diff)
	}

	tests := []struct {
		cmd, want string
		kind      sdk.ErrorKind
		errHas    string
	}{
		{cmd: "state set shop s1 note hi", want: "ok"},
		{cmd: "state get shop s1 note", want: "hi"},
		{cmd: "state del shop s1 note", want: "ok"},
		{cmd: "state get shop s1 note", want: "<absent>"},
		{cmd: "state del shop s1 never-set", want: "ok"},
		{cmd: "state set shop s2 x y", kind: sdk.KindInvalid, errHas: "session s2 is not a session of bot \"shop\""},
		{cmd: "state get ghost s9 x", kind: sdk.KindInvalid, errHas: "bot \"ghost\""},
		{cmd: "state set shop nosuch x y", kind: sdk.KindNotFound, errHas: "nosuch"},
		{cmd: fmt.Sprintf("state fill shop s1 big %d", sdk.MaxStateValue+1), kind: sdk.KindInvalid, errHas: "value"},
		{cmd: "state set shop s1 " + strings.Repeat("k", sdk.MaxStateKey+1) + " v", kind: sdk.KindInvalid, errHas: "key"},
	}
	for _, tt := range tests {
		got, err := send(tt.cmd, tt.cmd)
		if tt.errHas == "" {
			if err != nil || got != tt.want {
				t.Errorf("%.60s = %q, %v; want %q", tt.cmd, got, err, tt.want)
			}
			continue
		}
		if err == nil || sdk.KindOf(err) != tt.kind || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("%.60s = %v (kind %v); want a %v error saying %q", tt.cmd, err, sdk.KindOf(err), tt.kind, tt.errHas)
		}
	}

	// The bound on a session's state: 16 values of 16 KiB fill it.
	var err error
	for i := 0; err == nil && i < sdk.MaxStateSession/sdk.MaxStateValue+1; i++ {
		_, err = send(fmt.Sprintf("state fill shop s1 f%d %d", i, sdk.MaxStateValue), fmt.Sprintf("fill-%d", i))
	}
	if err == nil || sdk.KindOf(err) != sdk.KindInvalid || !strings.Contains(err.Error(), "delete the keys it no longer needs") {
		t.Errorf("filling a session past %d bytes: %v, want a permanent error", sdk.MaxStateSession, err)
	}
}
