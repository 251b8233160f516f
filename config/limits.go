package config

import (
	"math/big"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/livechatd/livechatd/host/webchat/rules"
	"github.com/zclconf/go-cty/cty"
)

// Limits is the `limits {}` block: what anonymous webchat users can make
// livechatd hold or do. Every key is optional and defaults to
// DefaultLimits' value.
type Limits struct {
	// StreamsPerUser (streams_per_user): open webchat streams per user; one
	// more is refused with 429.
	StreamsPerUser int
	// Streams (streams): open webchat streams in all; one more is 503.
	Streams int
	// StreamBatchBytes (stream_batch_bytes): a stream reads and writes its
	// entries in batches of about this many bytes.
	StreamBatchBytes int
	// StreamWriteTimeout (stream_write_timeout): how long one write to a
	// stream may take before the stream is closed.
	StreamWriteTimeout time.Duration
	// IdentitiesPerMinute (identities_per_minute): webchat identities per
	// client address per minute.
	IdentitiesPerMinute int
	// StartsPerMinute (starts_per_minute): LIVECHAT_SESSION_START events
	// per webchat user per minute.
	StartsPerMinute int
	// UploadBytes (upload_bytes): the largest file a webchat user may
	// upload; 0 turns uploads off (the page offers none, and the upload
	// route answers 404 not_found).
	UploadBytes int
	// UploadsPerMinute (uploads_per_minute): uploads per webchat user per
	// minute.
	UploadsPerMinute int
	// UploadTypes (upload_types): the types an upload may have, as sniffed
	// from its content; a subset of rules.UploadTypes.
	UploadTypes []string

	// DeclRange is where the block is, when there is one.
	DeclRange hcl.Range
}

// DefaultLimits is the Limits of a file without a limits block.
var DefaultLimits = Limits{
	StreamsPerUser:      4,
	Streams:             10000,
	StreamBatchBytes:    256 << 10,
	StreamWriteTimeout:  10 * time.Second,
	IdentitiesPerMinute: 20,
	StartsPerMinute:     5,
	UploadBytes:         10 << 20,
	UploadsPerMinute:    10,
	UploadTypes:         rules.UploadTypeNames(),
}

var limitsAttrs = []string{
	"streams_per_user", "streams", "stream_batch_bytes", "stream_write_timeout",
	"identities_per_minute", "starts_per_minute",
	"upload_bytes", "uploads_per_minute", "upload_types",
}

// MaxUploadBytes bounds upload_bytes: an upload goes to disk as it
// arrives, but a user's request should not take minutes.
const MaxUploadBytes = 1 << 30

// MaxStreamWriteTimeout bounds stream_write_timeout.
const MaxStreamWriteTimeout = 10 * time.Minute

// limits decodes the limits block; what it leaves out keeps its default.
func (d *decoder) limits(b *hclsyntax.Block) Limits {
	l := DefaultLimits
	l.DeclRange = b.DefRange()
	const in = " in limits"
	d.check(b.Body, section{in: in, attrs: limitsAttrs})
	for _, n := range []struct {
		name     string
		field    *int
		min, max int64
	}{
		{"streams_per_user", &l.StreamsPerUser, 1, 1000},
		{"streams", &l.Streams, 1, 1_000_000},
		{"stream_batch_bytes", &l.StreamBatchBytes, 1 << 10, 64 << 20},
		{"identities_per_minute", &l.IdentitiesPerMinute, 1, 1_000_000},
		{"starts_per_minute", &l.StartsPerMinute, 1, 1_000_000},
		{"upload_bytes", &l.UploadBytes, 0, MaxUploadBytes},
		{"uploads_per_minute", &l.UploadsPerMinute, 1, 1_000_000},
	} {
		if v, a, ok := d.attr(b.Body, n.name, in, cty.Number); ok {
			i, acc := v.AsBigFloat().Int64()
			if !v.AsBigFloat().IsInt() || acc != big.Exact || i < n.min || i > n.max {
				d.errorf(a.Expr.Range(), "%s%s must be a whole number from %d to %d", n.name, in, n.min, n.max)
			} else {
				*n.field = int(i)
			}
		}
	}
	if v, ok := d.duration(b.Body, "stream_write_timeout", in, MaxStreamWriteTimeout); ok {
		if v < time.Second {
			d.errorf(b.Body.Attributes["stream_write_timeout"].Expr.Range(), "stream_write_timeout%s must be at least 1s, got %q", in, formatDuration(v))
		} else {
			l.StreamWriteTimeout = v
		}
	}
	d.uploadTypes(b.Body, in, &l)
	return l
}

// uploadTypes decodes upload_types into l: a list of the types of
// rules.UploadTypes, each once, at least one.
func (d *decoder) uploadTypes(body *hclsyntax.Body, in string, l *Limits) {
	if v, a, ok := d.attr(body, "upload_types", in, cty.List(cty.String)); ok {
		seen := map[string]bool{}
		var types []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			t := e.AsString()
			switch {
			case rules.CheckUploadType(t) != "":
				d.errorf(a.Expr.Range(), "upload_types%s: %s", in, rules.CheckUploadType(t))
			case seen[t]:
				d.errorf(a.Expr.Range(), "upload_types%s holds %q twice", in, t)
			default:
				seen[t] = true
				types = append(types, t)
			}
		}
		if v.LengthInt() == 0 {
			d.errorf(a.Expr.Range(), "upload_types%s must name at least one type; upload_bytes = 0 turns uploads off", in)
		} else if len(types) == v.LengthInt() {
			l.UploadTypes = types
		}
	}
}
