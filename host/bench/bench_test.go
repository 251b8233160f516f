package bench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testLog sends progress lines to the test's log.
type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestShort runs every phase of the harness at its short size against
// binaries built from the tree (the postgres phase on a throwaway cluster),
// so that CI catches a harness that no longer runs. Its numbers are not
// checked: only that each was measured.
func TestShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	opts := Short()
	opts.WorkDir = t.TempDir()
	opts.Log = testLog{t}
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]int{}
	for _, f := range rep.Figures {
		sections[f.Section]++
		if f.Errors != 0 || f.Note != "" && strings.Contains(f.Note, "gave up") {
			t.Errorf("%s: %d errors; %s", f.Name, f.Errors, f.Note)
		}
		if f.Rate <= 0 && f.Value <= 0 && f.Section != "memory" {
			t.Errorf("%s: nothing measured: %+v", f.Name, f)
		}
		if f.Rate > 0 && (f.P50 <= 0 || f.P99 < f.P50) && !strings.Contains(f.Name, "burst") {
			t.Errorf("%s: latencies p50 %v p99 %v", f.Name, f.P50, f.P99)
		}
	}
	want := map[string]int{"start-up": 1, "bot path": 3, "livechat path": 16, "memory": 3, "expiry": 1, "backlog": 2}
	if diff := cmp.Diff(want, sections); diff != "" {
		t.Errorf("figures per section (-want +got):\n%s", diff)
	}
	for _, f := range rep.Figures {
		if f.Section == "expiry" && !strings.Contains(f.Note, "500 expired, 500 told") {
			t.Errorf("expiry: %s", f.Note)
		}
	}

	path := filepath.Join(t.TempDir(), "bench.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep.Figures, back.Figures); diff != "" {
		t.Errorf("bench.json does not read back (-wrote +read):\n%s", diff)
	}
	table := rep.Table()
	if got := strings.Count(table, "\n| "); got != len(rep.Figures)+1 {
		t.Errorf("table has %d rows, want %d:\n%s", got, len(rep.Figures)+1, table)
	}
	t.Log("\n" + table)
}

func TestUnknownPhase(t *testing.T) {
	if _, err := Run(context.Background(), Options{Phases: []string{"startup", "warp"}}); err == nil || !strings.Contains(err.Error(), `"warp"`) {
		t.Errorf("Run with phase warp: %v", err)
	}
}

func TestNumbers(t *testing.T) {
	for _, tc := range []struct {
		v               float64
		thousands, near string
	}{
		{0, "0", "0.00"},
		{0.456, "0", "0.46"},
		{12.34, "12", "12.3"},
		{999.6, "1,000", "1,000"},
		{22700, "22,700", "22,700"},
		{1234567, "1,234,567", "1,234,567"},
	} {
		if got := thousands(tc.v); got != tc.thousands {
			t.Errorf("thousands(%v) = %q, want %q", tc.v, got, tc.thousands)
		}
		if got := number(tc.v); got != tc.near {
			t.Errorf("number(%v) = %q, want %q", tc.v, got, tc.near)
		}
	}
}

func TestPercentiles(t *testing.T) {
	r := result{n: 100, took: time.Second}
	for i := 1; i <= 100; i++ {
		r.lat = append(r.lat, time.Duration(i)*time.Millisecond)
	}
	if r.pct(50) != 51 || r.pct(99) != 100 || r.rate() != 100 {
		t.Errorf("p50 %v p99 %v rate %v", r.pct(50), r.pct(99), r.rate())
	}
	if (result{}).pct(99) != 0 || (result{}).rate() != 0 {
		t.Error("an empty result has figures")
	}
}

// A relative -bin (make bench passes "bin") works, though each livechatd
// runs in a directory of its own.
func TestRelativeBinDir(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"livechatd", filepath.Join("plugins", pluginPrefix+"echo")} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{opts: Options{BinDir: rel, Log: testLog{t}}, work: t.TempDir()}
	if err := h.binaries(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{h.livechatd, h.echo} {
		if !filepath.IsAbs(p) {
			t.Errorf("%s is relative: a livechatd started in its own directory would not find it", p)
		}
	}
}
