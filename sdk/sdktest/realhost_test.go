package sdktest_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

var realChecks = []string{sdktest.CheckRealStart, sdktest.CheckRealAgentReply, sdktest.CheckRealReplay, sdktest.CheckRealToken,
	sdktest.CheckRealNotesIgnored, sdktest.CheckRealEchoes, sdktest.CheckRealAgentClose}

// wrongTokenDesk points the real host's webhooks at livechatd with a token
// that is not the bot's, as an operator who pasted a stale URL does.
type wrongTokenDesk struct{ deskPlatform }

func (p wrongTokenDesk) PointWebhooks(bot, url string) error {
	if bot == "realhost" {
		url = strings.Replace(url, "token=", "token=stale-", 1)
	}
	return p.deskPlatform.PointWebhooks(bot, url)
}

// TestConformanceThroughLivechatd runs the suite with Suite.Livechatd: the
// livechatd-* checks go through a built livechatd, not the suite's stand-in
// of the host. The good desk passes them; with its webhooks carrying a
// wrong token, livechatd answers them 401 and every check after the start
// fails — while the stand-in's own checks, which never see that URL, pass.
func TestConformanceThroughLivechatd(t *testing.T) {
	bin := deskBinary(t)
	livechatd := builds.Binary(t, "github.com/livechatd/livechatd/host/cmd/livechatd")
	tests := []struct {
		name     string
		platform func(t *testing.T) sdktest.Platform
		want     []string
		advice   string
	}{
		{name: "good", platform: func(t *testing.T) sdktest.Platform { return deskPlatform{d: newFakeDesk(t)} }},
		{name: "wrong-token", platform: func(t *testing.T) sdktest.Platform { return wrongTokenDesk{deskPlatform{d: newFakeDesk(t)}} },
			want: realChecks[1:], advice: "livechatd answered the platform's webhooks 401"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			rep := sdktest.Check(ctx, sdktest.Suite{Binary: bin, Livechatd: livechatd, Platform: tc.platform(t),
				Options: sdktest.Options{Timeout: 3 * time.Second, ShutdownDeadline: time.Second}})
			var out bytes.Buffer
			rep.Write(&out)
			t.Log(out.String())
			if diff := cmp.Diff(tc.want, rep.Failed()); diff != "" {
				t.Fatalf("failing checks (-want +got):\n%s\nreport:\n%s", diff, out.String())
			}
			ran := 0
			for _, r := range rep {
				if strings.HasPrefix(r.Name, "livechatd-") {
					ran++
				}
				if r.Status == sdktest.NotApplicable {
					t.Errorf("check %s not applicable: %v", r.Name, r.Problems)
				}
				if r.Name == sdktest.CheckRealAgentReply && tc.advice != "" && !strings.Contains(strings.Join(r.Problems, " "), tc.advice) {
					t.Errorf("check %s: advice %q lacks %q", r.Name, r.Problems, tc.advice)
				}
			}
			if ran != len(realChecks) {
				t.Errorf("%d livechatd-* checks ran, want %d:\n%s", ran, len(realChecks), out.String())
			}
		})
	}
}

// TestNoLivechatdNoRealChecks: without Suite.Livechatd the report is as
// before, without livechatd-* checks.
func TestNoLivechatdNoRealChecks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep := sdktest.Check(ctx, sdktest.Suite{Binary: deskBinary(t), Platform: deskPlatform{d: newFakeDesk(t)},
		Options: sdktest.Options{ShutdownDeadline: time.Second}})
	for _, r := range rep {
		if strings.HasPrefix(r.Name, "livechatd-") {
			t.Errorf("check %s ran without Suite.Livechatd", r.Name)
		}
	}
	if len(rep.Failed()) > 0 {
		t.Errorf("failed: %v", rep.Failed())
	}
}
