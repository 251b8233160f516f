package host

import (
	"errors"
	"fmt"
)

// Error codes. The HTTP layer maps each to one status; everything else
// treats them as opaque.
const (
	EINVALID      = "invalid"      // bad input; the caller must change the request
	ENOTFOUND     = "not_found"    // no such bot, session, item
	ECONFLICT     = "conflict"     // the request clashes with the current state
	EUNAUTHORIZED = "unauthorized" // missing or wrong credentials
	EFORBIDDEN    = "forbidden"    // credentials fine, action not allowed
	ETOOLARGE     = "too_large"    // body or field over its limit
	EUNAVAILABLE  = "unavailable"  // a dependency is down; retrying may help
	EBUSY         = "busy"         // livechatd's own store is busy; retry after a moment (503)
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is livechatd's one error type. Code classifies it, Message is safe
// to show to the caller (except for EINTERNAL, see ErrorMessage), Field names
// the offending input when there is one, and Err keeps the cause for logs
// and errors.Is/As.
type Error struct {
	Code    string
	Message string
	Field   string
	Err     error
}

// Error implements error. The cause is included because this text is what
// gets logged; callers show ErrorMessage to users instead.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Code
	}
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message to show to a user: the *Error's message,
// or "internal error" for internal errors so that no detail leaks.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != "" && e.Code != EINTERNAL {
		if e.Message == "" {
			return e.Code
		}
		return e.Message
	}
	return "internal error"
}

// ErrorField returns the offending field of the first *Error in err's
// chain, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
