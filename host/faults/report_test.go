//go:build faults

package faults_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// row is one line of the table: a scenario's account in one direction.
type row struct {
	Scenario  string `json:"scenario"`
	Direction string `json:"direction"` // "to agent" or "to user"
	tally
	Seconds float64  `json:"seconds"` // the scenario's run, settling included
	Notes   []string `json:"notes,omitempty"`
}

// bad reports whether the row breaks a promise.
func (r row) bad() bool { return r.Duplicated > 0 || r.Lost > 0 || r.OutOfOrder > 0 }

// report gathers the rows of a run.
type report struct {
	mu      sync.Mutex
	started time.Time
	rows    []row
}

func (rep *report) add(r row) {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	rep.rows = append(rep.rows, r)
}

// print writes the table, then each row's notes.
func (rep *report) print(out io.Writer) {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	fmt.Fprintf(out, "\nfault table (%d rows, %s)\n\n", len(rep.rows), time.Since(rep.started).Round(time.Second))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tdirection\tsent\tdelivered\tduplicated\tlost\tout of order\ttime\t")
	for _, r := range rep.rows {
		mark := ""
		if r.bad() {
			mark = " ✗"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.0fs%s\t\n", r.Scenario, r.Direction, r.Sent, r.Delivered,
			r.Duplicated, r.Lost, r.OutOfOrder, r.Seconds, mark)
	}
	tw.Flush()
	fmt.Fprintln(out)
	last := ""
	for _, r := range rep.rows {
		if r.Scenario == last || len(r.Notes) == 0 {
			continue
		}
		last = r.Scenario
		fmt.Fprintf(out, "%s:\n", r.Scenario)
		for _, n := range r.Notes {
			fmt.Fprintf(out, "  - %s\n", n)
		}
	}
}

// write saves the rows as JSON in path.
func (rep *report) write(path string) error {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	b, err := json.MarshalIndent(map[string]any{
		"started": rep.started.UTC().Format(time.RFC3339),
		"seconds": time.Since(rep.started).Round(time.Second).Seconds(),
		"rows":    rep.rows,
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// artifacts is where the table and the logs go: FAULTS_ARTIFACTS, or
// artifacts/faults at the module's root.
func artifacts(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("FAULTS_ARTIFACTS"); dir != "" {
		return dir
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "artifacts", "faults")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// summarize keeps the first n notes and counts the rest.
func summarize(notes []string, n int) []string {
	if len(notes) <= n {
		return notes
	}
	return append(notes[:n:n], fmt.Sprintf("… and %d more like these", len(notes)-n))
}

// durationEnv reads a duration from the environment, def when unset.
func durationEnv(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 20s", name, v)
	}
	return d
}
