package sdktest

import "testing"

// Require fails t (with Errorf, so the test goes on) when a check failed,
// naming the failed checks; Conformance has already failed each one's
// subtest with what to fix. End a plugin's conformance test with it:
//
//	sdktest.Conformance(t, sdktest.Suite{…}).Require(t)
func (r Report) Require(t testing.TB) {
	t.Helper()
	if failed := r.Failed(); len(failed) > 0 {
		t.Errorf("failed checks: %v", failed)
	}
}

// RequireAll is Require for a plugin and an adapter that claim every
// check: before the failed checks, it fails t for each check that was not
// applicable, saying what the check lacked.
func (r Report) RequireAll(t testing.TB) {
	t.Helper()
	for _, c := range r {
		if c.Status == NotApplicable {
			t.Errorf("check %s not applicable: %v", c.Name, c.Problems)
		}
	}
	r.Require(t)
}
