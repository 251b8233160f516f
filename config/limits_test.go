package config_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/config"
)

func TestLimits(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want config.Limits
	}{
		{name: "no block", src: ``, want: config.DefaultLimits},
		{name: "empty block", src: `limits {}`, want: config.DefaultLimits},
		{
			name: "every key",
			src: `limits {
  streams_per_user      = 2
  streams               = 500
  stream_batch_bytes    = 65536
  stream_write_timeout  = "30s"
  identities_per_minute = 100
  starts_per_minute     = 3
  upload_bytes          = 1048576
  uploads_per_minute    = 2
  upload_types          = ["image/png", "application/pdf"]
}`,
			want: config.Limits{StreamsPerUser: 2, Streams: 500, StreamBatchBytes: 64 << 10, StreamWriteTimeout: 30 * time.Second,
				IdentitiesPerMinute: 100, StartsPerMinute: 3, UploadBytes: 1 << 20, UploadsPerMinute: 2,
				UploadTypes: []string{"image/png", "application/pdf"}},
		},
		{
			name: "uploads off",
			src:  `limits { upload_bytes = 0 }`,
			want: func() config.Limits { l := config.DefaultLimits; l.UploadBytes = 0; return l }(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkBlock(t, tt.src, tt.want, func(f *config.File) config.Limits { return f.Limits })
		})
	}
}

func TestLimitsDefaults(t *testing.T) {
	want := config.Limits{StreamsPerUser: 4, Streams: 10000, StreamBatchBytes: 256 << 10, StreamWriteTimeout: 10 * time.Second,
		IdentitiesPerMinute: 20, StartsPerMinute: 5, UploadBytes: 10 << 20, UploadsPerMinute: 10,
		UploadTypes: []string{"application/pdf", "image/gif", "image/jpeg", "image/png", "image/webp", "text/plain"}}
	if diff := cmp.Diff(want, config.DefaultLimits); diff != "" {
		t.Errorf("DefaultLimits changed (-want +got); update README.md's configuration section too:\n%s", diff)
	}
}

func TestLimitsErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"zero", `limits { streams_per_user = 0 }`, `livechatd.hcl:1:29: streams_per_user in limits must be a whole number from 1 to 1000`},
		{"fraction", `limits { streams = 2.5 }`, `livechatd.hcl:1:20: streams in limits must be a whole number from 1 to 1000000`},
		{"tiny batch", `limits { stream_batch_bytes = 10 }`, `livechatd.hcl:1:31: stream_batch_bytes in limits must be a whole number from 1024 to 67108864`},
		{"string", `limits { starts_per_minute = "five" }`, `livechatd.hcl:1:30: starts_per_minute in limits must be a number, got a string`},
		{"short timeout", `limits { stream_write_timeout = "0s" }`, `livechatd.hcl:1:33: stream_write_timeout in limits must be positive, got "0s"`},
		{"long timeout", `limits { stream_write_timeout = "1h" }`, `livechatd.hcl:1:33: stream_write_timeout in limits must be at most 10m, got "1h"`},
		{"unknown key", `limits { stream_per_user = 3 }`, `livechatd.hcl:1:10: unknown attribute "stream_per_user" in limits; did you mean "streams_per_user"?`},
		{"negative upload_bytes", `limits { upload_bytes = -1 }`, `livechatd.hcl:1:25: upload_bytes in limits must be a whole number from 0 to 1073741824`},
		{"huge upload_bytes", `limits { upload_bytes = 2147483648 }`, `livechatd.hcl:1:25: upload_bytes in limits must be a whole number from 0 to 1073741824`},
		{"uploads_per_minute zero", `limits { uploads_per_minute = 0 }`, `livechatd.hcl:1:31: uploads_per_minute in limits must be a whole number from 1 to 1000000`},
		{"svg", `limits { upload_types = ["image/png", "image/svg+xml"] }`, `livechatd.hcl:1:25: upload_types in limits: "image/svg+xml" is not a type livechatd recognizes in a file's content; accepted: "application/pdf", "image/gif", "image/jpeg", "image/png", "image/webp", "text/plain"`},
		{"twice", `limits { upload_types = ["text/plain", "text/plain"] }`, `livechatd.hcl:1:25: upload_types in limits holds "text/plain" twice`},
		{"none", `limits { upload_types = [] }`, `livechatd.hcl:1:25: upload_types in limits must name at least one type; upload_bytes = 0 turns uploads off`},
		{"a string", `limits { upload_types = "image/png" }`, `livechatd.hcl:1:25: upload_types in limits must be a list of strings, got a string`},
		{"label", `limits "x" {}`, `livechatd.hcl:1:8: limits block takes no label: write limits { ... }`},
		{"duplicate", "limits {}\nlimits {}", `livechatd.hcl:2:1: duplicate limits block; first defined at livechatd.hcl:1:1`},
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
