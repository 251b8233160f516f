package host_test

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
)

func TestErrorHelpers(t *testing.T) {
	conflict := host.Errorf(host.ECONFLICT, "user %s already has an open session", "u1")
	wrapped := fmt.Errorf("start: %w", conflict)
	internal := &host.Error{Code: host.EINTERNAL, Message: "scan failed", Err: io.ErrUnexpectedEOF}
	field := &host.Error{Code: host.EINVALID, Field: "bot", Message: "bot required"}

	tests := []struct {
		name             string
		err              error
		code, msg, field string
		text             string
	}{
		{"nil", nil, "", "", "", ""},
		{"domain", conflict, host.ECONFLICT, "user u1 already has an open session", "", "user u1 already has an open session"},
		{"wrapped", wrapped, host.ECONFLICT, "user u1 already has an open session", "", "start: user u1 already has an open session"},
		{"plain", io.EOF, host.EINTERNAL, "internal error", "", "EOF"},
		{"internal hides its message", internal, host.EINTERNAL, "internal error", "", "scan failed: unexpected EOF"},
		{"field", field, host.EINVALID, "bot required", "bot", "bot: bot required"},
		{"no message", &host.Error{Code: host.ENOTFOUND}, host.ENOTFOUND, host.ENOTFOUND, "", host.ENOTFOUND},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := host.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := host.ErrorMessage(tt.err); got != tt.msg {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.msg)
			}
			if got := host.ErrorField(tt.err); got != tt.field {
				t.Errorf("ErrorField = %q, want %q", got, tt.field)
			}
			if tt.err != nil && tt.err.Error() != tt.text {
				t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.text)
			}
		})
	}
	if !errors.Is(internal, io.ErrUnexpectedEOF) {
		t.Error("errors.Is does not see the cause through Unwrap")
	}
}

func TestSessionValidate(t *testing.T) {
	valid := func() *host.Session {
		return &host.Session{ID: "s1", Bot: "shop", UserID: "u1", Provider: "gorgias",
			State: host.SessionActive, ExpiredNotice: host.ExpiredNoticeImmediate, ExpiresAt: time.Unix(1, 0)}
	}
	tests := []struct {
		name   string
		change func(*host.Session)
		field  string // "" when valid
	}{
		{"valid", func(*host.Session) {}, ""},
		{"closed", func(s *host.Session) {
			s.State, s.EndReason, s.ExpiresAt = host.SessionEnded, host.EndUser, time.Time{}
		}, ""},
		{"no id", func(s *host.Session) { s.ID = "" }, "id"},
		{"no bot", func(s *host.Session) { s.Bot = "" }, "bot"},
		{"no user", func(s *host.Session) { s.UserID = "" }, "user_id"},
		{"no provider", func(s *host.Session) { s.Provider = "" }, "provider"},
		{"bad state", func(s *host.Session) { s.State = "paused" }, "state"},
		{"open with reason", func(s *host.Session) { s.EndReason = host.EndUser }, "end_reason"},
		{"closed without reason", func(s *host.Session) { s.State = host.SessionExpired }, "end_reason"},
		{"bad notice", func(s *host.Session) { s.ExpiredNotice = "never" }, "expired_notice"},
		{"open without expiry", func(s *host.Session) { s.ExpiresAt = time.Time{} }, "expires_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid()
			tt.change(s)
			err := s.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if host.ErrorCode(err) != host.EINVALID || host.ErrorField(err) != tt.field {
				t.Fatalf("Validate = %v (code %q field %q), want EINVALID on %q", err, host.ErrorCode(err), host.ErrorField(err), tt.field)
			}
		})
	}
}

func TestStateIsOpen(t *testing.T) {
	for state, open := range map[host.SessionState]bool{
		host.SessionStarting: true, host.SessionActive: true,
		host.SessionEnded: false, host.SessionExpired: false, host.SessionFailed: false,
	} {
		if state.IsOpen() != open {
			t.Errorf("%s.IsOpen() = %v", state, !open)
		}
	}
}

func TestClampLimit(t *testing.T) {
	for in, want := range map[int]int{-1: host.DefaultLimit, 0: host.DefaultLimit, 1: 1, 500: 500, 5000: host.MaxLimit} {
		if got := host.ClampLimit(in); got != want {
			t.Errorf("ClampLimit(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestMessageValidate(t *testing.T) {
	tests := []struct {
		payload string
		ok      bool
	}{
		{`{"content_type":"text","content":{"text":"hi"}}`, true},
		{`null`, false},
		{`"text"`, false},
		{`{`, false},
		{``, false},
	}
	for _, tt := range tests {
		m := &host.Message{ID: "m", Bot: "b", UserID: "u", Direction: host.DirectionIn, Author: host.AuthorUser, Payload: []byte(tt.payload)}
		if err := m.Validate(); (err == nil) != tt.ok {
			t.Errorf("payload %q: Validate = %v, want ok=%v", tt.payload, err, tt.ok)
		}
	}
}
