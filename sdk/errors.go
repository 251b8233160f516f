package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// ErrorKind classifies a provider error for the host: whether a retry can help.
type ErrorKind int

const (
	// KindUnknown is an error the provider did not classify. The host retries
	// it a bounded number of times.
	KindUnknown ErrorKind = iota
	// KindUnavailable: the platform is down or timed out; retry later.
	KindUnavailable
	// KindRateLimited: the platform asked us to slow down; retry after RetryAfter.
	KindRateLimited
	// KindInvalid: the request or config is wrong; a retry cannot help.
	KindInvalid
	// KindNotFound: the ticket or resource does not exist; a retry cannot help.
	KindNotFound
	// KindUnauthorized: the platform refused the credentials; a retry cannot help.
	KindUnauthorized
)

func (k ErrorKind) String() string {
	switch k {
	case KindUnavailable:
		return "unavailable"
	case KindRateLimited:
		return "rate_limited"
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindUnauthorized:
		return "unauthorized"
	}
	return "unknown"
}

// Error is a classified provider error. Build one with Retryable, RateLimited
// or Permanent; match one with errors.As or the Is* helpers.
type Error struct {
	Kind ErrorKind
	// RetryAfter is how long to wait before a retry; zero lets the host
	// choose its backoff.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Kind.String()
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable marks err as temporary: the host retries the call, after at
// least retryAfter when it is not zero.
func Retryable(err error, retryAfter time.Duration) error {
	return &Error{Kind: KindUnavailable, RetryAfter: retryAfter, Err: err}
}

// RateLimited says the platform refused the call for now and when to retry.
func RateLimited(err error, retryAfter time.Duration) error {
	return &Error{Kind: KindRateLimited, RetryAfter: retryAfter, Err: err}
}

// Permanent marks err as one no retry can fix (bad request, bad config).
func Permanent(err error) error {
	return &Error{Kind: KindInvalid, Err: err}
}

// NotFound says the platform does not know the ticket or resource.
func NotFound(format string, args ...any) error {
	return &Error{Kind: KindNotFound, Err: fmt.Errorf(format, args...)}
}

// Unauthorized says the platform refused the credentials.
func Unauthorized(format string, args ...any) error {
	return &Error{Kind: KindUnauthorized, Err: fmt.Errorf(format, args...)}
}

// KindOf returns the kind of err: the kind of an *Error in its chain,
// KindUnavailable for context deadlines, KindUnknown otherwise.
func KindOf(err error) ErrorKind {
	var e *Error
	switch {
	case err == nil:
		return KindUnknown
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.DeadlineExceeded):
		return KindUnavailable
	}
	return KindUnknown
}

// IsRetryable reports whether a retry of the call that failed with err may
// succeed, and the least time to wait before it (zero: the caller's backoff).
func IsRetryable(err error) (bool, time.Duration) {
	switch KindOf(err) {
	case KindInvalid, KindNotFound, KindUnauthorized:
		return false, 0
	}
	var e *Error
	if errors.As(err, &e) {
		return true, e.RetryAfter
	}
	return true, 0
}

var kindCodes = map[ErrorKind]codes.Code{
	KindUnknown:      codes.Unknown,
	KindUnavailable:  codes.Unavailable,
	KindRateLimited:  codes.ResourceExhausted,
	KindInvalid:      codes.InvalidArgument,
	KindNotFound:     codes.NotFound,
	KindUnauthorized: codes.PermissionDenied,
}

// toStatus turns a provider error into a gRPC status for the wire.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var retryAfter time.Duration
	var e *Error
	if errors.As(err, &e) {
		retryAfter = e.RetryAfter
	}
	code := kindCodes[KindOf(err)]
	if errors.Is(err, context.Canceled) {
		code = codes.Canceled
	}
	st := status.New(code, err.Error())
	if retryAfter > 0 {
		if withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}); derr == nil {
			st = withInfo
		}
	}
	return st.Err()
}

// fromStatus turns a gRPC error from the plugin back into a classified
// *Error. Transport failures (the plugin process is gone) are Unavailable.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var retryAfter time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.RetryDelay != nil {
			retryAfter = ri.RetryDelay.AsDuration()
		}
	}
	// Unknown and Internal (a provider that panicked, a result that could
	// not be encoded) stay KindUnknown: retried, a bounded number of times.
	kind := KindUnknown
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Canceled:
		kind = KindUnavailable
	case codes.ResourceExhausted:
		kind = KindRateLimited
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.Unimplemented:
		kind = KindInvalid
	case codes.NotFound:
		kind = KindNotFound
	case codes.PermissionDenied, codes.Unauthenticated:
		kind = KindUnauthorized
	}
	return &Error{Kind: kind, RetryAfter: retryAfter, Err: errors.New(st.Message())}
}
