// Package bench is livechatd's load harness (issue 12, BENCHMARKS.md): it
// starts the real livechatd and echo provider binaries on loopback, with a
// generated config and a fresh SQLite file in a temporary directory, drives
// them with a bounded load, and reports side-by-side figures measured in
// one run — the bot path against the bot alone, the livechat path through
// go-plugin, in process and against the bare platform, expiry of a burst of
// due sessions, memory with many idle sessions, and start-up with ten
// plugins. Every phase is bounded in time and count and stops by itself.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Options bound a run. Defaults are the numbers; Short gives a run
// of seconds for CI.
type Options struct {
	// BinDir holds livechatd and plugins/livechat-provider-echo, as `make
	// build` writes them to bin/. Empty: the harness builds them.
	BinDir string
	// WorkDir receives configs, databases and logs; empty: a temporary
	// directory, removed afterwards.
	WorkDir string
	// Clients is how many clients post at once (32).
	Clients int
	// Duration bounds each load phase (10s).
	Duration time.Duration
	// Rate is the paced end-to-end phase's messages per second (2000).
	Rate int
	// Stored and Due are the expiry phase's sessions: stored in all, and
	// due at once (1,000,000 and 100,000).
	Stored, Due int
	// ExpiryTimeout bounds the wait for every due session to be told (5m).
	ExpiryTimeout time.Duration
	// Idle and IdleBase are the memory phase's idle session counts
	// (1,000,000 against 1,000).
	Idle, IdleBase int
	// Settle is how long an idle livechatd runs before its RSS is read
	// (3s: a few expiry passes); ExpiryLead how long after seeding the
	// due sessions come due (3s: time for livechatd to start first).
	Settle, ExpiryLead time.Duration
	// Plugins is how many plugins sit in plugin_dir at start-up (10);
	// Starts how many start-ups are timed (3, the median reported).
	Plugins, Starts int
	// Synchronous is SQLite's synchronous level ("normal").
	Synchronous string
	// PostgresDSN is the server of the postgres phase (a URL; each row
	// creates a database of its own on it); empty: a throwaway cluster.
	PostgresDSN string
	// Backlogs are the backlog phase's pending item counts (10,000,
	// 100,000 and 1,000,000), BacklogItems how many items are claimed and
	// completed at each (2,000).
	Backlogs     []int
	BacklogItems int
	// Phases selects phases by name (startup, bot, livechat, memory,
	// expiry, backlog, postgres); empty runs them all.
	Phases []string
	// CPUProfile, when set, receives a CPU profile of this process while
	// it runs the in-process mode (b): the host's own code under the
	// livechat path's load (and the load generator beside it).
	CPUProfile string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Defaults are the numbers.
func Defaults() Options {
	return Options{Clients: 32, Duration: 10 * time.Second, Rate: 2000, Stored: 1_000_000, Due: 100_000,
		ExpiryTimeout: 5 * time.Minute, Idle: 1_000_000, IdleBase: 1000, Settle: 3 * time.Second, ExpiryLead: 3 * time.Second, Plugins: 10, Starts: 3, Synchronous: "normal",
		Backlogs: []int{10_000, 100_000, 1_000_000}, BacklogItems: 2000}
}

// Short is a run of seconds that exercises every phase: what CI runs so
// that the harness cannot rot. Its numbers mean little.
func Short() Options {
	return Options{Clients: 8, Duration: 500 * time.Millisecond, Rate: 200, Stored: 5_000, Due: 500,
		ExpiryTimeout: time.Minute, Idle: 5_000, IdleBase: 1000, Settle: 500 * time.Millisecond, ExpiryLead: time.Second, Plugins: 10, Starts: 1, Synchronous: "normal",
		Backlogs: []int{1000, 10_000}, BacklogItems: 200}
}

// Phase names, in the order they run.
var allPhases = []string{"startup", "bot", "livechat", "memory", "expiry", "backlog", "postgres"}

// Figure is one line of the table.
type Figure struct {
	Section string `json:"section"`
	Name    string `json:"name"`
	// Rate is per second, in Unit; P50 and P99 are latencies.
	Rate   float64 `json:"rate,omitempty"`
	Unit   string  `json:"unit,omitempty"`
	P50    float64 `json:"p50_ms,omitempty"`
	P99    float64 `json:"p99_ms,omitempty"`
	Count  int     `json:"count,omitempty"`
	Errors int     `json:"errors,omitempty"`
	// Value is a figure without a rate (a ratio, seconds, MB), in Unit.
	Value  float64 `json:"value,omitempty"`
	Target string  `json:"target,omitempty"`
	Note   string  `json:"note,omitempty"`
}

// Report is one run's figures and what they were measured on.
type Report struct {
	Started     time.Time     `json:"started"`
	Took        time.Duration `json:"took_ns"`
	Machine     string        `json:"machine"`
	Go          string        `json:"go"`
	Synchronous string        `json:"synchronous"`
	Clients     int           `json:"clients"`
	Duration    time.Duration `json:"duration_ns"`
	Figures     []Figure      `json:"figures"`
}

func (r *Report) add(f Figure) { r.Figures = append(r.Figures, f) }

// Run runs the selected phases and returns their figures. A phase that
// fails stops the run with its error; the figures so far are returned.
func Run(ctx context.Context, opts Options) (*Report, error) {
	d := Defaults()
	if opts.Clients <= 0 {
		opts.Clients = d.Clients
	}
	if opts.Duration <= 0 {
		opts.Duration = d.Duration
	}
	if opts.Rate <= 0 {
		opts.Rate = d.Rate
	}
	if opts.ExpiryTimeout <= 0 {
		opts.ExpiryTimeout = d.ExpiryTimeout
	}
	if opts.Settle <= 0 {
		opts.Settle = d.Settle
	}
	if opts.ExpiryLead <= 0 {
		opts.ExpiryLead = d.ExpiryLead
	}
	if opts.Plugins <= 0 {
		opts.Plugins = 1
	}
	if opts.Starts <= 0 {
		opts.Starts = 1
	}
	if opts.Synchronous == "" {
		opts.Synchronous = d.Synchronous
	}
	if len(opts.Backlogs) == 0 {
		opts.Backlogs = d.Backlogs
	}
	if opts.BacklogItems <= 0 {
		opts.BacklogItems = d.BacklogItems
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if len(opts.Phases) == 0 {
		opts.Phases = allPhases
	}
	for _, p := range opts.Phases {
		if !contains(allPhases, p) {
			return nil, fmt.Errorf("unknown phase %q: want %s", p, strings.Join(allPhases, ", "))
		}
	}
	rep := &Report{Started: time.Now().UTC(), Machine: machine(), Go: runtime.Version(),
		Synchronous: opts.Synchronous, Clients: opts.Clients, Duration: opts.Duration}
	work := opts.WorkDir
	if work == "" {
		dir, err := os.MkdirTemp("", "livechat-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	h := &harness{opts: opts, work: work, rep: rep, client: newClient(opts.Clients)}
	defer h.client.CloseIdleConnections()
	if err := h.binaries(ctx); err != nil {
		return rep, err
	}
	type step struct {
		name string
		run  func(context.Context) error
	}
	var steps []step
	if contains(opts.Phases, "startup") {
		steps = append(steps, step{"startup", h.startup})
	}
	// One livechatd serves the bot path and the livechat path (a).
	bot, chat := contains(opts.Phases, "bot"), contains(opts.Phases, "livechat")
	if bot || chat {
		name := map[[2]bool]string{{true, false}: "bot", {false, true}: "livechat", {true, true}: "bot+livechat"}[[2]bool{bot, chat}]
		steps = append(steps, step{name, func(ctx context.Context) error { return h.paths(ctx, bot, chat) }})
	}
	if contains(opts.Phases, "memory") {
		steps = append(steps, step{"memory", h.memory})
	}
	if contains(opts.Phases, "expiry") {
		steps = append(steps, step{"expiry", h.expiry})
	}
	if contains(opts.Phases, "backlog") {
		steps = append(steps, step{"backlog", h.backlog})
	}
	if contains(opts.Phases, "postgres") {
		steps = append(steps, step{"postgres", h.postgres})
	}
	for _, s := range steps {
		began := time.Now()
		h.logf("phase %s: started", s.name)
		if err := s.run(ctx); err != nil {
			return rep, fmt.Errorf("phase %s: %w", s.name, err)
		}
		h.logf("phase %s: done in %s", s.name, time.Since(began).Round(time.Millisecond))
	}
	rep.Took = time.Since(rep.Started)
	return rep, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// machine names the CPU and the cores the run had.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	s := fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if model != "" {
		s += ", " + model
	}
	return s
}

// WriteJSON writes the report to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Table is the report as a Markdown table, with the run's settings above.
func (r *Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %s, SQLite synchronous=%s, %d clients, %s per load phase, %s in all\n\n",
		r.Machine, r.Go, r.Synchronous, r.Clients, r.Duration, r.Took.Round(time.Second))
	b.WriteString("| section | figure | measured | target | note |\n|---|---|---|---|---|\n")
	for _, f := range r.Figures {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", f.Section, f.Name, f.measured(), f.Target, f.Note)
	}
	return b.String()
}

func (f Figure) measured() string {
	var parts []string
	if f.Rate != 0 {
		parts = append(parts, fmt.Sprintf("%s %s", thousands(f.Rate), f.Unit))
	} else if f.Unit != "" {
		parts = append(parts, fmt.Sprintf("%s %s", number(f.Value), f.Unit))
	}
	if f.P50 != 0 || f.P99 != 0 {
		parts = append(parts, fmt.Sprintf("p50 %s ms, p99 %s ms", number(f.P50), number(f.P99)))
	}
	if f.Errors != 0 {
		parts = append(parts, fmt.Sprintf("%d errors", f.Errors))
	}
	return strings.Join(parts, ", ")
}

// thousands prints a rate as a whole number with thousands separators.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// number prints v with about three significant digits.
func number(v float64) string {
	switch {
	case v >= 999.5:
		return thousands(v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
