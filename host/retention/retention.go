// Package retention deletes what livechatd no longer needs: done and dead
// outbox items, processed webhook event ids, request records, old
// transcripts with the plugins' state of their sessions, and webchat stream
// entries. Without it every table grows
// forever (issue 9). Sweeps extend it to what is not in the store, such as
// the files uploaded through the webchat.
//
// A Job runs a pass every Policy.Interval, off the hot path: each rule
// deletes in batches of at most Policy.Batch rows, each batch its own short
// write transaction, until a batch comes back short. SQLite has one writer,
// so small batches are what keeps a pass from holding up the requests that
// write meanwhile: they wait for one batch at most, never for the pass.
package retention

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// Store is what the job needs from the store: one batched delete per rule.
// Each deletes at most limit rows older than before, oldest first, in one
// transaction, and returns how many it deleted. host/sqlite implements it.
type Store interface {
	// DeleteDoneWork deletes done outbox items finished before before.
	// Pending items are never deleted.
	DeleteDoneWork(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteDeadLetters deletes dead outbox items given up on before before.
	DeleteDeadLetters(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteProcessedEvents forgets webhook event ids recorded before before.
	DeleteProcessedEvents(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteRequests forgets request records made before before.
	DeleteRequests(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteTranscripts deletes messages written before before that are
	// outside sessions or belong to a session closed before before. An
	// open session's messages are never deleted.
	DeleteTranscripts(ctx context.Context, before time.Time, limit int) (int, error)
	// DeleteStreamEntries deletes webchat stream entries written before
	// before.
	DeleteStreamEntries(ctx context.Context, before time.Time, limit int) (int, error)
	// DeletePluginState deletes provider plugins' state of sessions closed
	// before before. Open sessions' state is never deleted.
	DeletePluginState(ctx context.Context, before time.Time, limit int) (int, error)
}

// Policy is how long each kind of row is kept, and how the job deletes
// them; config.Retention documents each field (the `retention {}` block).
// Every field must be positive.
type Policy struct {
	DoneWork        time.Duration
	DeadLetters     time.Duration
	ProcessedEvents time.Duration
	Requests        time.Duration
	Transcripts     time.Duration
	WebchatStreams  time.Duration
	// Interval is the time from the end of a pass to the start of the next.
	Interval time.Duration
	// Batch is the most rows one delete removes.
	Batch int
}

// Tables, the values of the table label of livechat_retention_deleted_total
// and the keys of the pass log line.
const (
	TableOutbox          = "outbox"
	TableProcessedEvents = "processed_events"
	TableRequests        = "requests"
	TableMessages        = "messages"
	TableWebchatStream   = "webchat_stream"
	TablePluginState     = "plugin_state"
)

var tables = []string{TableOutbox, TableProcessedEvents, TableRequests, TableMessages, TableWebchatStream, TablePluginState}

// Sweep is a rule of the job for what is not in the store: on each pass,
// after the store's rules, Delete removes everything made before before
// (now less Age) in one call and says how many things it removed. The
// webchat's uploads are one (host/webchat's PruneUploadDir): the job
// knows nothing of what a sweep removes.
type Sweep struct {
	// Name is the config key (in errors) and the table label of
	// livechat_retention_deleted_total and the key of the pass log line:
	// [a-z_]+, none of the store's tables.
	Name string
	// Age is how long what the sweep removes is kept; positive.
	Age time.Duration
	// Delete removes what was made before before.
	Delete func(ctx context.Context, before time.Time) (int, error)
}

// Options are a Job's collaborators. The zero value is usable.
type Options struct {
	// Sweeps run after the store's rules on each pass, in order.
	Sweeps []Sweep
	// Logger gets one info line per pass that deleted something, and a
	// warning per failed rule. Default: none.
	Logger hclog.Logger
	// Registerer, when set, gets livechat_retention_deleted_total{table}.
	Registerer prometheus.Registerer
	// Now is the clock rows are aged against. Default time.Now.
	Now func() time.Time
	// After waits between passes; tests replace it to run passes on cue.
	// Default time.After.
	After func(time.Duration) <-chan time.Time
}

var sweepName = regexp.MustCompile(`^[a-z_]+$`)

// Job is the retention job. Create it with New and start it with Run.
type Job struct {
	store   Store
	policy  Policy
	rules   []rule
	log     hclog.Logger
	now     func() time.Time
	after   func(time.Duration) <-chan time.Time
	deleted *prometheus.CounterVec // nil without a Registerer
	sweeps  []Sweep
	labels  []string // tables, then the sweeps' names: the log line's order
}

// rule is one kind of row: its table, its age, and its delete.
type rule struct {
	name   string // the config key
	table  string
	age    time.Duration
	delete func(ctx context.Context, before time.Time, limit int) (int, error)
}

// New returns a job that applies p to store. It fails when a field of p is
// not positive.
func New(store Store, p Policy, opts Options) (*Job, error) {
	j := &Job{store: store, policy: p, log: opts.Logger, now: opts.Now, after: opts.After}
	j.rules = []rule{
		{"done_work", TableOutbox, p.DoneWork, store.DeleteDoneWork},
		{"dead_letters", TableOutbox, p.DeadLetters, store.DeleteDeadLetters},
		{"processed_events", TableProcessedEvents, p.ProcessedEvents, store.DeleteProcessedEvents},
		{"requests", TableRequests, p.Requests, store.DeleteRequests},
		{"transcripts", TableMessages, p.Transcripts, store.DeleteTranscripts},
		{"webchat_streams", TableWebchatStream, p.WebchatStreams, store.DeleteStreamEntries},
		// A session's plugin state goes with its transcript.
		{"transcripts", TablePluginState, p.Transcripts, store.DeletePluginState},
	}
	for _, r := range j.rules {
		if r.age <= 0 {
			return nil, fmt.Errorf("retention: %s must be positive, got %s", r.name, r.age)
		}
	}
	if p.Interval <= 0 {
		return nil, fmt.Errorf("retention: interval must be positive, got %s", p.Interval)
	}
	j.labels = slices.Clone(tables)
	for _, s := range opts.Sweeps {
		switch {
		case !sweepName.MatchString(s.Name) || slices.Contains(j.labels, s.Name):
			return nil, fmt.Errorf("retention: sweep name %q must be made of a-z and _, and not be a table's or another sweep's", s.Name)
		case s.Age <= 0:
			return nil, fmt.Errorf("retention: %s must be positive, got %s", s.Name, s.Age)
		case s.Delete == nil:
			return nil, fmt.Errorf("retention: sweep %s has no Delete", s.Name)
		}
		j.labels = append(j.labels, s.Name)
	}
	j.sweeps = slices.Clone(opts.Sweeps)
	if p.Batch <= 0 {
		return nil, fmt.Errorf("retention: batch must be positive, got %d", p.Batch)
	}
	if j.log == nil {
		j.log = hclog.NewNullLogger()
	}
	if j.now == nil {
		j.now = time.Now
	}
	if j.after == nil {
		j.after = time.After
	}
	if opts.Registerer != nil {
		j.deleted = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livechat_retention_deleted_total",
			Help: "Rows deleted by the retention job, by table.",
		}, []string{"table"})
		for _, t := range j.labels {
			j.deleted.WithLabelValues(t) // every table shows, at 0 until its first delete
		}
		if err := opts.Registerer.Register(j.deleted); err != nil {
			return nil, fmt.Errorf("retention: register metrics: %w", err)
		}
	}
	return j, nil
}

// Run runs a pass at once, then one every interval, until ctx ends; an
// ended ctx also stops a pass between two batches (the batch under way is
// rolled back). Failures are logged and the next pass tries again. Run
// returns when it has stopped touching the store.
func (j *Job) Run(ctx context.Context) {
	for {
		if _, err := j.Pass(ctx); err != nil && ctx.Err() == nil {
			j.log.Warn("retention pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-j.after(j.policy.Interval):
		}
	}
}

// Pass runs every rule once, each batch after batch until one deletes
// fewer rows than the batch size, and returns the rows deleted per table.
// A rule that fails does not stop the others; the error joins every
// failure.
func (j *Job) Pass(ctx context.Context) (map[string]int, error) {
	start := j.now()
	deleted := map[string]int{}
	var errs []error
	for _, r := range j.rules {
		n, err := j.apply(ctx, r, start.Add(-r.age))
		if n > 0 {
			deleted[r.table] += n
			if j.deleted != nil {
				j.deleted.WithLabelValues(r.table).Add(float64(n))
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				errs = append(errs, ctx.Err())
				break
			}
			errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
		}
	}
	for _, s := range j.sweeps {
		if ctx.Err() != nil {
			if len(errs) == 0 || !errors.Is(errs[len(errs)-1], ctx.Err()) {
				errs = append(errs, ctx.Err())
			}
			break
		}
		n, err := s.Delete(ctx, start.Add(-s.Age))
		if n > 0 {
			deleted[s.Name] += n
			if j.deleted != nil {
				j.deleted.WithLabelValues(s.Name).Add(float64(n))
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name, err))
		}
	}
	if len(deleted) > 0 {
		args := []any{}
		for _, t := range j.labels {
			if n := deleted[t]; n > 0 {
				args = append(args, t, n)
			}
		}
		j.log.Info("retention deleted rows", args...)
	}
	return deleted, errors.Join(errs...)
}

// apply deletes r's rows older than before, batch after batch.
func (j *Job) apply(ctx context.Context, r rule, before time.Time) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := r.delete(ctx, before, j.policy.Batch)
		total += n
		if err != nil || n < j.policy.Batch {
			return total, err
		}
	}
}
