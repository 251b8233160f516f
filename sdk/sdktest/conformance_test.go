package sdktest_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

var builds *sdktest.Builder

func TestMain(m *testing.M) { os.Exit(sdktest.RunMain(m, &builds)) }

func deskBinary(t *testing.T) string {
	return sdktest.Install(t, builds.Binary(t, "../testdata/desk"), t.TempDir(), "desk")
}

// TestConformanceJudges runs the suite against the desk plugin, good and
// with each deliberate mistake, and checks that exactly the checks that
// should fail do, each saying what to fix.
func TestConformanceJudges(t *testing.T) {
	bin := deskBinary(t)
	tests := []struct {
		faults []string
		want   []string // failing checks
		advice string   // in the first failure's advice
	}{
		{faults: nil, want: nil},
		{faults: []string{"stdout"}, want: []string{sdktest.CheckStdout}, advice: "log with sdk.Logger()"},
		{faults: []string{"double-post"}, want: []string{sdktest.CheckStart, sdktest.CheckSendIdempotent, sdktest.CheckRestartIdem}, advice: "same IdempotencyKey"},
		{faults: []string{"retry-400"}, want: []string{sdktest.CheckError400}, advice: "sdk.Permanent"},
		{faults: []string{"ignore-shutdown"}, want: []string{sdktest.CheckShutdown}, advice: "return when its context is done"},
		{faults: []string{"hash-ids"}, want: []string{sdktest.CheckSameTextTwice}, advice: "never derived from the text"},
		// Keys kept in plugin state, as sdk/README.md advises where a
		// platform cannot be searched: the suite's host keeps state.
		{faults: []string{"state-keys"}, want: nil},
		{faults: []string{"stdout", "double-post", "retry-400", "ignore-shutdown", "hash-ids"}, want: []string{
			sdktest.CheckStart, sdktest.CheckSendIdempotent, sdktest.CheckSameTextTwice, sdktest.CheckError400,
			sdktest.CheckRestartIdem, sdktest.CheckShutdown, sdktest.CheckStdout}},
	}
	for _, tc := range tests {
		name := strings.Join(tc.faults, "+")
		if name == "state-keys" {
			name = "good, keys in plugin state"
		}
		if name == "" {
			name = "good"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			rep := sdktest.Check(ctx, sdktest.Suite{Binary: bin, Platform: deskPlatform{d: newFakeDesk(t), faults: tc.faults},
				Options: sdktest.Options{ShutdownDeadline: time.Second}})
			var out bytes.Buffer
			rep.Write(&out)
			if diff := cmp.Diff(tc.want, rep.Failed()); diff != "" {
				t.Fatalf("failing checks (-want +got):\n%s\nreport:\n%s", diff, out.String())
			}
			for _, r := range rep {
				if r.Status == sdktest.NotApplicable {
					t.Errorf("check %s not applicable: %v", r.Name, r.Problems)
				}
				if r.Status == sdktest.Fail && (len(r.Problems) == 0 || r.Problems[0] == "") {
					t.Errorf("check %s failed without saying what to fix", r.Name)
				}
				if tc.advice != "" && r.Status == sdktest.Fail && !strings.Contains(strings.Join(r.Problems, " "), tc.advice) {
					t.Errorf("check %s: advice %q lacks %q", r.Name, r.Problems, tc.advice)
				}
			}
			if len(tc.want) > 0 && !strings.Contains(out.String(), "FAIL "+tc.want[0]) {
				t.Errorf("report does not show the failure:\n%s", out.String())
			}
			if len(tc.want) > 0 && !strings.Contains(out.String(), "failed") {
				t.Errorf("report has no count:\n%s", out.String())
			}
		})
	}
}
