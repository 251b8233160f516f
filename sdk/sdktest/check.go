package sdktest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// Status of one check.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "FAIL"
	// NotApplicable: the plugin lacks the capability, or the adapter the
	// ability, the check needs; Problems says which.
	NotApplicable Status = "n/a"
)

// Result is the outcome of one check.
type Result struct {
	Name   string
	Status Status
	// Problems say what to fix, one sentence each.
	Problems []string
}

// Report is the outcome of a conformance run, one Result per check in the
// order they ran.
type Report []Result

// Failed lists the names of the checks that failed.
func (r Report) Failed() []string {
	var out []string
	for _, c := range r {
		if c.Status == Fail {
			out = append(out, c.Name)
		}
	}
	return out
}

// Write prints the report for a person: one line per check, what to fix
// under each failure, and a count.
func (r Report) Write(w io.Writer) {
	var failed, passed int
	for _, c := range r {
		fmt.Fprintf(w, "%-4s %s\n", c.Status, c.Name)
		for _, p := range c.Problems {
			fmt.Fprintf(w, "       %s\n", strings.ReplaceAll(p, "\n", "\n       "))
		}
		switch c.Status {
		case Fail:
			failed++
		case Pass:
			passed++
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d not applicable\n", passed, failed, len(r)-passed-failed)
}

// Options tune a conformance run.
type Options struct {
	// Timeout bounds each wait for the platform or the host (20 s).
	Timeout time.Duration
	// ShutdownDeadline is the deadline Shutdown must return within (5 s).
	ShutdownDeadline time.Duration
	// Bots is how many bots the concurrency check configures (3), with
	// Sessions sessions each (3).
	Bots, Sessions int
}

// Conformance runs Check and turns each check into a subtest that fails
// with the check's advice: call it from a plugin's tests with a Suite whose
// Platform adapts the author's fake platform.
func Conformance(t *testing.T, s Suite) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep := Check(ctx, s)
	for _, r := range rep {
		t.Run(r.Name, func(t *testing.T) {
			switch r.Status {
			case Fail:
				t.Error(strings.Join(r.Problems, "\n"))
			case NotApplicable:
				t.Log("not applicable: " + strings.Join(r.Problems, " "))
			}
		})
	}
	return rep
}

// The names of the checks, in the order they run.
const (
	CheckByHand         = "by-hand"
	CheckDescribe       = "describe"
	CheckInfo           = "info"
	CheckConfigValid    = "config-valid"
	CheckConfigRefused  = "config-refused"
	CheckEmptyWebhook   = "empty-webhook"
	CheckStart          = "start"
	CheckStartContext   = "start-context"
	CheckSendOrder      = "send-order"
	CheckSendIdempotent = "send-idempotent"
	CheckAgentReply     = "agent-reply"
	CheckSameTextTwice  = "same-text-twice"
	CheckNotesIgnored   = "notes-ignored"
	CheckEchoesIgnored  = "echoes-ignored"
	CheckWebhookReplay  = "webhook-replay"
	CheckWebhookToken   = "webhook-token"
	CheckReadSession    = "read-session"
	CheckError400       = "error-400"
	CheckError503       = "error-503"
	CheckConcurrency    = "many-bots"
	CheckAgentClose     = "agent-close"
	CheckEndCloses      = "end-closes"
	CheckExpiryCloses   = "expiry-closes"
	CheckRestartIdem    = "send-idempotent-restart"
	CheckStdout         = "stdout"
	CheckShutdown       = "shutdown"
	CheckSecrets        = "secrets"
)

// check records one check's problems.
type check struct {
	res *Result
}

func (c *check) fix(format string, args ...any) {
	c.res.Status = Fail
	c.res.Problems = append(c.res.Problems, fmt.Sprintf(format, args...))
}

// suiteRun is one run of the suite.
type suiteRun struct {
	s    Suite
	o    Options
	ctx  context.Context
	name string
	host *hostPath
	rep  Report

	mu      sync.Mutex
	current *Plugin
	seq     atomic.Int64
	users   map[string]sdk.User
	sent    []string // every text sent as the user
	bots    []string // configured bots, for restarts

	stdoutSoFar, stderrSoFar string // of processes already stopped
}

func (r *suiteRun) plugin() *sdk.RemoteProvider {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current.RemoteProvider
}

func (r *suiteRun) key() string { return fmt.Sprintf("conformance-key-%d", r.seq.Add(1)) }

func (r *suiteRun) user(session string) sdk.User {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.users[session]
}

// run runs one check; needs names what makes it not applicable ("" runs it).
func (r *suiteRun) run(name, notApplicable string, fn func(c *check)) {
	r.rep = append(r.rep, Result{Name: name, Status: Pass})
	res := &r.rep[len(r.rep)-1]
	if notApplicable != "" {
		res.Status, res.Problems = NotApplicable, []string{notApplicable}
		return
	}
	fn(&check{res: res})
}

// Check runs the conformance suite against s.Binary and returns its
// report. Without s.Platform only the checks that need no platform run.
func Check(ctx context.Context, s Suite) Report {
	o := s.Options
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	if o.ShutdownDeadline == 0 {
		o.ShutdownDeadline = 5 * time.Second
	}
	if o.Bots == 0 {
		o.Bots = 3
	}
	if o.Sessions == 0 {
		o.Sessions = 3
	}
	r := &suiteRun{s: s, o: o, ctx: ctx, users: map[string]sdk.User{}, bots: []string{"conformance"}}
	r.name = strings.TrimPrefix(filepath.Base(s.Binary), "livechat-provider-")
	if r.name == filepath.Base(s.Binary) {
		r.run(CheckByHand, "", func(c *check) {
			c.fix("name the binary livechat-provider-<name>: livechatd finds plugins by that name")
		})
		return r.rep
	}
	r.host = newHostPath(r.name, r.plugin)
	defer r.host.close()
	r.basics()
	if r.current == nil {
		return r.rep
	}
	defer func() { r.current.Kill() }()
	r.lifecycle()
	r.realHostChecks()
	r.ending()
	return r.rep
}

// Suite describes a plugin binary for the conformance checks.
type Suite struct {
	// Binary is the built plugin, named livechat-provider-<name>.
	Binary string
	// Config is a valid config block for one bot when there is no
	// Platform (Platform.Config wins). Values of sensitive attributes must
	// never show up in the plugin's output.
	Config sdk.Config
	// Platform adapts the author's fake platform; without one, only the
	// checks that need no platform run.
	Platform Platform
	// Livechatd, when set, is a built livechatd binary: the webhook checks
	// then run again through it (the livechatd-* checks) — the plugin in
	// its plugin_dir, the platform's webhooks at its receive URL, a session
	// opened through its signed events API and what reaches the user seen
	// at a channel_url — instead of only through the suite's stand-in of
	// the host. They need a WebhookPlatform and a plugin that lists the
	// webhook capability.
	Livechatd string
	Options   Options
}

func (r *suiteRun) config(bot string) sdk.Config {
	if r.s.Platform != nil {
		return r.s.Platform.Config(bot)
	}
	return r.s.Config
}

// wait waits until cond holds, re-checking when the host applies events.
func (r *suiteRun) wait(cond func() bool) bool {
	deadline := time.NewTimer(r.o.Timeout)
	defer deadline.Stop()
	for {
		next := r.host.changed.Changed()
		if cond() {
			return true
		}
		select {
		case <-next:
		case <-deadline.C:
			return cond()
		case <-r.ctx.Done():
			return false
		}
	}
}

// settle waits for the platform's webhooks in flight, when it has any.
func (r *suiteRun) settle() error {
	if wp, ok := r.s.Platform.(WebhookPlatform); ok {
		return wp.WaitDelivered()
	}
	return nil
}

func (r *suiteRun) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.ctx, r.o.Timeout+10*time.Second)
}

func (r *suiteRun) launch() error {
	p, err := launch(r.s.Binary, r.host)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.current = p
	r.mu.Unlock()
	return nil
}

func (r *suiteRun) has(c sdk.Capability) bool { return slices.Contains(r.current.Info.Capabilities, c) }

func errText(err error) string {
	if err == nil {
		return "no error"
	}
	return fmt.Sprintf("%v (kind %s)", err, sdk.KindOf(err))
}

// retryAfterOf is the RetryAfter an error carries.
func retryAfterOf(err error) time.Duration {
	var e *sdk.Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
