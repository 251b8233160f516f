package sdktest

import (
	"sync"
	"testing"
	"time"
)

// Signal lets a test double say "my state changed", so that tests wait for
// a condition on that state without polling or sleeping. The zero value is
// ready to use.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *Signal) current() chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes everyone waiting.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.current())
	s.ch = make(chan struct{})
}

// Changed returns a channel closed at the next Notify.
func (s *Signal) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current()
}

// Wait waits until cond holds, checking it again at every Notify; after
// timeout it fails the test with describe's account of the state.
func (s *Signal) Wait(t testing.TB, timeout time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		next := s.Changed()
		if cond() {
			return
		}
		select {
		case <-next:
		case <-deadline.C:
			t.Fatalf("condition not met within %s; %s", timeout, describe())
		}
	}
}
