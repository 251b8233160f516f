package pluginhost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
)

// A plugin's stdout arrives in chunks cut anywhere: lines are put back
// together, long ones cut, and at most stdoutBurst logged per window; the
// count of the others is logged at the first line of the next window.
func TestStdoutLogLinesAndWindows(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newStdoutLog(hclog.New(&hclog.LoggerOptions{Output: &out, JSONFormat: true}), "chatty", func() time.Time { return now })
	w := s.writer()
	long := strings.Repeat("é", stdoutMaxLine) // 2 bytes a rune: cut in the middle of one
	for _, chunk := range []string{"one\ntw", "o\r\n", long, "\n", "\n\nthree\n"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < stdoutBurst+5; i++ {
		w.Write([]byte("flood\n"))
	}
	now = now.Add(stdoutWindow)
	w.Write([]byte("next window"))
	w.flush()
	s.flush()

	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e["@level"] != "warn" || e["plugin"] != "chatty" {
			t.Errorf("entry %v: want warn naming the plugin", e)
		}
		switch {
		case e["line"] != nil:
			got = append(got, e["line"].(string))
		case e["lines_not_logged"] != nil:
			got = append(got, fmt.Sprintf("not logged: %v", e["lines_not_logged"]))
		}
	}
	want := []string{"one", "two", strings.Repeat("é", stdoutMaxLine/2) + "…", "three"}
	for len(want) < stdoutBurst {
		want = append(want, "flood")
	}
	want = append(want, "not logged: 9", "next window")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("logged (-want +got):\n%s", diff)
	}
}
