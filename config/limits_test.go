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
}`,
			want: config.Limits{StreamsPerUser: 2, Streams: 500, StreamBatchBytes: 64 << 10, StreamWriteTimeout: 30 * time.Second,
				IdentitiesPerMinute: 100, StartsPerMinute: 3},
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
		IdentitiesPerMinute: 20, StartsPerMinute: 5}
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
