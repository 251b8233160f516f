package sdk

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorsCrossTheWire(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		code      codes.Code
		kind      ErrorKind
		retryable bool
		after     time.Duration
	}{
		{"retryable", Retryable(errors.New("502 from gorgias"), 0), codes.Unavailable, KindUnavailable, true, 0},
		{"retryable after", Retryable(errors.New("maintenance"), 3*time.Second), codes.Unavailable, KindUnavailable, true, 3 * time.Second},
		{"rate limited", RateLimited(errors.New("429"), 5*time.Second), codes.ResourceExhausted, KindRateLimited, true, 5 * time.Second},
		{"permanent", Permanent(errors.New("400 bad sender")), codes.InvalidArgument, KindInvalid, false, 0},
		{"not found", NotFound("ticket %d", 12), codes.NotFound, KindNotFound, false, 0},
		{"unauthorized", Unauthorized("bad api key"), codes.PermissionDenied, KindUnauthorized, false, 0},
		{"wrapped", fmt.Errorf("open ticket: %w", Permanent(errors.New("x"))), codes.InvalidArgument, KindInvalid, false, 0},
		{"plain", errors.New("boom"), codes.Unknown, KindUnknown, true, 0},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), codes.Unavailable, KindUnavailable, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wire := toStatus(tc.err)
			if got := status.Code(wire); got != tc.code {
				t.Errorf("code = %v, want %v", got, tc.code)
			}
			back := fromStatus(wire)
			if got := KindOf(back); got != tc.kind {
				t.Errorf("kind after the wire = %v, want %v", got, tc.kind)
			}
			ok, after := IsRetryable(back)
			if ok != tc.retryable || after != tc.after {
				t.Errorf("IsRetryable = %v, %v; want %v, %v", ok, after, tc.retryable, tc.after)
			}
			if back.Error() != tc.err.Error() {
				t.Errorf("message = %q, want %q", back.Error(), tc.err.Error())
			}
		})
	}
}

func TestNilErrors(t *testing.T) {
	if toStatus(nil) != nil || fromStatus(nil) != nil {
		t.Error("nil must stay nil")
	}
	if KindOf(nil) != KindUnknown {
		t.Error("KindOf(nil)")
	}
}

func TestInternalIsRetryable(t *testing.T) {
	// What a recovered provider panic and an encoding bug become.
	err := fromStatus(status.Error(codes.Internal, "provider panicked in SendMessage: boom"))
	if ok, _ := IsRetryable(err); !ok || KindOf(err) != KindUnknown {
		t.Errorf("%v: kind %v, retryable %v; want unknown and retryable", err, KindOf(err), ok)
	}
}

func TestTransportErrorIsRetryable(t *testing.T) {
	err := fromStatus(status.Error(codes.Unavailable, "connection refused"))
	if ok, _ := IsRetryable(err); !ok {
		t.Errorf("%v: a dead plugin process must be retryable", err)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%T is not an *Error", err)
	}
}
