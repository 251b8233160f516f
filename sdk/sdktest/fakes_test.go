package sdktest_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

// account stands in for a plugin's fake platform.
type account struct{ bot string }

// TestFakesOfConcurrent asks for the same bots from many goroutines at
// once, as the suite's many-bots check does: each bot's fake is made once
// and every caller gets that one.
func TestFakesOfConcurrent(t *testing.T) {
	var mu sync.Mutex
	made := map[string]int{}
	fakes := sdktest.NewFakes(func(bot string) *account {
		mu.Lock()
		defer mu.Unlock()
		made[bot]++
		return &account{bot: bot}
	})
	bots := []string{"a", "b", "c", "d", "e"}
	const callers = 16
	got := make([][]*account, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for j := range bots {
				// Each caller starts at another bot, so first uses race.
				got[i] = append(got[i], fakes.Of(bots[(i+j)%len(bots)]))
				fakes.All()
			}
		})
	}
	wg.Wait()

	if want := map[string]int{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}; !cmp.Equal(want, made) {
		t.Errorf("fakes made per bot: %v, want one each", made)
	}
	for i, accounts := range got {
		for _, a := range accounts {
			if same := fakes.Of(a.bot); same != a {
				t.Errorf("caller %d got a fake of %s other than the one Of gives now", i, a.bot)
			}
		}
	}
	if n := len(fakes.All()); n != len(bots) {
		t.Errorf("All has %d fakes, want %d", n, len(bots))
	}
}

// TestFakesAllInOrderMade checks that All lists each fake once, in the
// order the bots were first asked for, and that the caller may change the
// slice it gets.
func TestFakesAllInOrderMade(t *testing.T) {
	fakes := sdktest.NewFakes(func(bot string) *account { return &account{bot: bot} })
	if all := fakes.All(); len(all) != 0 {
		t.Fatalf("All before any Of: %v, want none", all)
	}
	for _, bot := range []string{"zeta", "alpha", "zeta", "mid", "alpha", "beta"} {
		if a := fakes.Of(bot); a.bot != bot {
			t.Fatalf("Of(%q) is the fake of %q", bot, a.bot)
		}
	}
	names := func() []string {
		var out []string
		for _, a := range fakes.All() {
			out = append(out, a.bot)
		}
		return out
	}
	want := []string{"zeta", "alpha", "mid", "beta"}
	for range 3 { // the same every time, unlike a map's order
		if diff := cmp.Diff(want, names()); diff != "" {
			t.Fatalf("All (-want +got):\n%s", diff)
		}
	}
	all := fakes.All()
	all[0] = &account{bot: "intruder"}
	_ = append(all[:1], &account{bot: "intruder"})
	if diff := cmp.Diff(want, names()); diff != "" {
		t.Errorf("All after the caller changed its slice (-want +got):\n%s", diff)
	}
}

// recordingTB records what a Report's assertions tell the test; any other
// method of testing.TB panics on the nil embedded TB, so the assertions
// are held to Helper and Errorf.
type recordingTB struct {
	testing.TB
	helper bool
	errors []string
}

func (r *recordingTB) Helper() { r.helper = true }

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestReportRequire(t *testing.T) {
	pass := sdktest.Result{Name: sdktest.CheckStart, Status: sdktest.Pass}
	failSend := sdktest.Result{Name: sdktest.CheckSendOrder, Status: sdktest.Fail, Problems: []string{"sends arrived out of order: post them in order"}}
	fail503 := sdktest.Result{Name: sdktest.CheckError503, Status: sdktest.Fail, Problems: []string{"a 503 was permanent: return sdk.Unavailable"}}
	naNotes := sdktest.Result{Name: sdktest.CheckNotesIgnored, Status: sdktest.NotApplicable, Problems: []string{"the adapter is no NotePlatform: implement AgentNote"}}
	naDrop := sdktest.Result{Name: sdktest.CheckReadSession, Status: sdktest.NotApplicable, Problems: []string{"the adapter is no DropPlatform"}}

	tests := []struct {
		name              string
		rep               sdktest.Report
		require, requireA []string // errors of Require and RequireAll
	}{
		{name: "empty", rep: nil},
		{name: "all pass", rep: sdktest.Report{pass, pass}},
		{name: "one failed", rep: sdktest.Report{pass, failSend, pass},
			require:  []string{"failed checks: [send-order]"},
			requireA: []string{"failed checks: [send-order]"}},
		{name: "two failed, named in order", rep: sdktest.Report{failSend, pass, fail503},
			require:  []string{"failed checks: [send-order error-503]"},
			requireA: []string{"failed checks: [send-order error-503]"}},
		{name: "not applicable", rep: sdktest.Report{pass, naNotes, naDrop},
			requireA: []string{
				"check notes-ignored not applicable: [the adapter is no NotePlatform: implement AgentNote]",
				"check read-session not applicable: [the adapter is no DropPlatform]"}},
		{name: "not applicable and failed", rep: sdktest.Report{naNotes, failSend, pass},
			require: []string{"failed checks: [send-order]"},
			requireA: []string{
				"check notes-ignored not applicable: [the adapter is no NotePlatform: implement AgentNote]",
				"failed checks: [send-order]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, a := range []struct {
				name   string
				assert func(testing.TB)
				want   []string
			}{
				{"Require", tc.rep.Require, tc.require},
				{"RequireAll", tc.rep.RequireAll, tc.requireA},
			} {
				tb := &recordingTB{}
				a.assert(tb)
				if diff := cmp.Diff(a.want, tb.errors); diff != "" {
					t.Errorf("%s errors (-want +got):\n%s", a.name, diff)
				}
				if !tb.helper {
					t.Errorf("%s does not call t.Helper: its errors would point into sdktest", a.name)
				}
			}
		})
	}
}
