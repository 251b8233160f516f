package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/livechatd/livechatd/config"
)

// bot is a valid bot block with the given provider and webhook_token
// expression.
func bot(name, provider, token string) string {
	return `
bot "` + name + `" {
  provider      = "` + provider + `"
  bot_url       = "http://127.0.0.1:9000/events"
  channel       = "webchat"
  webhook_token = ` + token + `
}
`
}

func TestRetention(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name string
		src  string
		want config.Retention
	}{
		{name: "no block", src: ``, want: config.DefaultRetention},
		{name: "empty block", src: `retention {}`, want: config.DefaultRetention},
		{
			name: "some keys",
			src:  "retention {\n  transcripts = \"30d\"\n  done_work = \"12h\"\n  batch = 50\n}",
			want: func() config.Retention {
				r := config.DefaultRetention
				r.Transcripts, r.DoneWork, r.Batch = 30*day, 12*time.Hour, 50
				return r
			}(),
		},
		{
			name: "days with hours, minutes",
			src:  "retention {\n  requests = \"2d6h\"\n  webchat_streams = \"90m\"\n  interval = \"1s\"\n}",
			want: func() config.Retention {
				r := config.DefaultRetention
				r.Requests, r.WebchatStreams, r.Interval = 54*time.Hour, 90*time.Minute, time.Second
				return r
			}(),
		},
		{
			name: "uploads",
			src:  "retention {\n  uploads = \"720h\"\n}",
			want: func() config.Retention {
				r := config.DefaultRetention
				r.Uploads = 30 * day
				return r
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkBlock(t, tt.src, tt.want, func(f *config.File) config.Retention { return f.Retention })
		})
	}
}

// checkBlock parses src and compares what get reads of it with want.
func checkBlock[T any](t *testing.T, src string, want T, get func(*config.File) T) {
	t.Helper()
	f, err := config.Parse("livechatd.hcl", []byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, get(f), cmpopts.IgnoreTypes(hcl.Range{})); diff != "" {
		t.Errorf("%T mismatch (-want +got):\n%s", want, diff)
	}
}

func TestRetentionDefaults(t *testing.T) {
	day := 24 * time.Hour
	want := config.Retention{
		DoneWork: 7 * day, DeadLetters: 30 * day, ProcessedEvents: 30 * day, Requests: 7 * day,
		Transcripts: 90 * day, WebchatStreams: 30 * day, Uploads: 90 * day, Interval: time.Minute, Batch: 100,
	}
	if diff := cmp.Diff(want, config.DefaultRetention); diff != "" {
		t.Errorf("DefaultRetention changed (-want +got); update README.md's configuration section too:\n%s", diff)
	}
}

func TestRetentionErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"zero", `retention { done_work = "0s" }`, `livechatd.hcl:1:25: done_work in retention must be positive, got "0s"`},
		{"zero days", `retention { dead_letters = "0d" }`, `livechatd.hcl:1:28: dead_letters in retention must be positive, got "0d"`},
		{"negative", `retention { processed_events = "-1h" }`, `livechatd.hcl:1:32: processed_events in retention must be positive, got "-1h"`},
		{"negative days", `retention { requests = "-7d" }`, `livechatd.hcl:1:24: requests in retention must be a duration such as 30s, 5m, 2h or 7d, got "-7d"`},
		{"not a duration", `retention { transcripts = "90 days" }`, `livechatd.hcl:1:27: transcripts in retention must be a duration such as 30s, 5m, 2h or 7d, got "90 days"`},
		{"days after hours", `retention { transcripts = "12h1d" }`, `livechatd.hcl:1:27: transcripts in retention must be a duration such as 30s, 5m, 2h or 7d, got "12h1d"`},
		{"a number", `retention { webchat_streams = 30 }`, `livechatd.hcl:1:31: webchat_streams in retention must be a duration such as 30s, 5m, 2h or 7d, got "30"`},
		{"too long", `retention { transcripts = "3651d" }`, `livechatd.hcl:1:27: transcripts in retention must be at most 3650d, got "3651d"`},
		{"overflow", `retention { transcripts = "999999999999d" }`, `livechatd.hcl:1:27: transcripts in retention must be a duration such as 30s, 5m, 2h or 7d, got "999999999999d"`},
		{"uploads zero", `retention { uploads = "0h" }`, `livechatd.hcl:1:23: uploads in retention must be positive, got "0h"`},
		{"uploads typo", `retention { upload = "30d" }`, `livechatd.hcl:1:13: unknown attribute "upload" in retention; did you mean "uploads"?`},
		{"interval zero", `retention { interval = "0s" }`, `livechatd.hcl:1:24: interval in retention must be positive, got "0s"`},
		{"interval too short", `retention { interval = "10ms" }`, `livechatd.hcl:1:24: interval in retention must be at least 1s, got "10ms"`},
		{"interval too long", `retention { interval = "2d" }`, `livechatd.hcl:1:24: interval in retention must be at most 24h, got "2d"`},
		{"batch zero", `retention { batch = 0 }`, `livechatd.hcl:1:21: batch in retention must be a whole number from 1 to 10000`},
		{"batch negative", `retention { batch = -5 }`, `livechatd.hcl:1:21: batch in retention must be a whole number from 1 to 10000`},
		{"batch fraction", `retention { batch = 2.5 }`, `livechatd.hcl:1:21: batch in retention must be a whole number from 1 to 10000`},
		{"batch too big", `retention { batch = 100000 }`, `livechatd.hcl:1:21: batch in retention must be a whole number from 1 to 10000`},
		{"batch string", `retention { batch = "lots" }`, `livechatd.hcl:1:21: batch in retention must be a number, got a string`},
		{"unknown key", `retention { done_wrk = "7d" }`, `livechatd.hcl:1:13: unknown attribute "done_wrk" in retention; did you mean "done_work"?`},
		{"label", `retention "x" {}`, `livechatd.hcl:1:11: retention block takes no label: write retention { ... }`},
		{"attribute", `retention = "7d"`, `livechatd.hcl:1:1: "retention" is a block, not an attribute: write retention { ... }`},
		{"duplicate", "retention {}\nretention {}", `livechatd.hcl:2:1: duplicate retention block; first defined at livechatd.hcl:1:1`},
		{
			"every bad key reported",
			"retention {\n  done_work = \"0s\"\n  batch = 0\n}",
			"livechatd.hcl:2:15: done_work in retention must be positive, got \"0s\"\nlivechatd.hcl:3:11: batch in retention must be a whole number from 1 to 10000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("livechatd.hcl", []byte(tt.src), env(nil))
			if err == nil {
				t.Fatal("no error")
			}
			if got := errorText(t, err); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestWebhookTokenShared checks that two bots of one provider cannot share a
// webhook_token: the provider's webhooks find their bot by the token, so
// the last bot would silently get both bots' webhooks.
func TestWebhookTokenShared(t *testing.T) {
	vars := map[string]string{"TOKEN": "s3cr3t-shared"}
	tests := []struct {
		name string
		src  string
		want string // "" for no error
	}{
		{
			name: "same provider, same literal token",
			src:  bot("shop", "gorgias", `"s3cr3t-shared"`) + bot("support", "gorgias", `"s3cr3t-shared"`),
			want: `livechatd.hcl:13:3: bot "support" has the same webhook_token as bot "shop" (defined at livechatd.hcl:6:3), and both use provider "gorgias": webhooks are routed to a bot by its token, so each bot of a provider needs its own`,
		},
		{
			name: "same provider, same token through env",
			src:  bot("shop", "gorgias", `"s3cr3t-shared"`) + bot("support", "gorgias", `env("TOKEN")`),
			want: `livechatd.hcl:13:3: bot "support" has the same webhook_token as bot "shop" (defined at livechatd.hcl:6:3), and both use provider "gorgias": webhooks are routed to a bot by its token, so each bot of a provider needs its own`,
		},
		{
			name: "three bots, the third shares the first's",
			src:  bot("a", "echo", `"s3cr3t-shared"`) + bot("b", "echo", `"other"`) + bot("c", "echo", `"s3cr3t-shared"`),
			want: `livechatd.hcl:20:3: bot "c" has the same webhook_token as bot "a" (defined at livechatd.hcl:6:3), and both use provider "echo": webhooks are routed to a bot by its token, so each bot of a provider needs its own`,
		},
		{
			name: "other providers may share a token",
			src:  bot("shop", "gorgias", `"s3cr3t-shared"`) + bot("support", "chatwoot", `"s3cr3t-shared"`),
		},
		{
			name: "same provider, own tokens",
			src:  bot("shop", "gorgias", `"one"`) + bot("support", "gorgias", `"two"`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("livechatd.hcl", []byte(tt.src), env(vars))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			got := errorText(t, err)
			if got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
			if strings.Contains(got, "s3cr3t") {
				t.Errorf("the error shows the token: %s", got)
			}
		})
	}
}

// TestTranscriptSizeZero checks that an explicit transcript_size = 0 stays
// 0 ("send no transcript") rather than falling back to the default.
func TestTranscriptSizeZero(t *testing.T) {
	src := strings.Replace(bot("shop", "echo", `"t"`), "channel ", "transcript_size = 0\n  channel ", 1)
	f, err := config.Parse("livechatd.hcl", []byte(src), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Bots[0].TranscriptSize; got != 0 {
		t.Errorf("TranscriptSize = %d, want 0", got)
	}
	f, err = config.Parse("livechatd.hcl", []byte(bot("shop", "echo", `"t"`)), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Bots[0].TranscriptSize; got != config.DefaultTranscriptSize {
		t.Errorf("TranscriptSize without the attribute = %d, want %d", got, config.DefaultTranscriptSize)
	}
}
