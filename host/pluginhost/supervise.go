package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// run supervises the plugin until Close. proc is the process Load launched,
// or nil when that launch failed and the plugin is failed already. It
// restarts a process that exits or stops answering pings, with exponential
// backoff; after CrashLimit crashes within CrashWindow the plugin is failed,
// and launched again after a cool-off, as often as it takes.
func (p *Plugin) run(proc *process) {
	defer close(p.done)
	for {
		if proc == nil {
			if proc = p.relaunch(); proc == nil {
				return
			}
		}
		cause, stopped := p.watch(proc)
		if stopped {
			return
		}
		p.log.Error("plugin crashed", "cause", cause)
		p.mu.Lock()
		p.proc = nil
		p.recordCrash(cause)
		p.mu.Unlock()
		proc = nil
	}
}

// watch waits until proc exits or fails PingFailures health checks in a row
// (then kills it), and says why; stopped is true when the plugin is being
// closed.
func (p *Plugin) watch(proc *process) (cause string, stopped bool) {
	tick := time.NewTicker(p.opts.HealthInterval)
	defer tick.Stop()
	failed := 0 // pings in a row
	for {
		select {
		case <-p.ctx.Done():
			return "", true
		case <-proc.runner.exited:
			cause = describeExit(proc.runner.exitErr)
			if tail := proc.runner.tail.String(); tail != "" && proc.runner.exitErr != nil {
				cause += " (last output: " + tail + ")"
			}
			proc.client.Kill() // reap go-plugin's goroutines and socket dir
			return cause, false
		case <-tick.C:
			err := proc.ping(p.opts.PingTimeout)
			if err == nil {
				if failed > 0 {
					p.log.Info("health ping answered again", "after_failures", failed)
				}
				failed = 0
				continue
			}
			select {
			case <-proc.runner.exited:
				continue // the exit case says it better
			case <-p.ctx.Done():
				return "", true
			default:
			}
			failed++
			p.log.Warn("health ping failed", "error", err, "in_a_row", failed, "limit", p.opts.PingFailures)
			if failed < p.opts.PingFailures {
				continue
			}
			_ = proc.runner.Kill(context.Background()) // hung: no graceful exit to wait for
			proc.client.Kill()
			return fmt.Sprintf("health check failed %d times in a row; last: %v", failed, err), false
		}
	}
}

// recordCrash counts a crash, or a failed launch, and marks the plugin
// restarting, or failed when it crashed too often or was failed already.
// Callers hold p.mu.
func (p *Plugin) recordCrash(cause string) {
	if p.state == StateFailed { // a launch after the cool-off failed
		p.fail(cause)
		return
	}
	now := p.opts.Now()
	p.crashes = append(p.crashes, now)
	kept := p.crashes[:0]
	for _, t := range p.crashes {
		if now.Sub(t) < p.opts.CrashWindow {
			kept = append(kept, t)
		}
	}
	p.crashes = kept
	if len(p.crashes) >= p.opts.CrashLimit {
		p.fail(fmt.Sprintf("crashed %d times within %s; last: %s", len(p.crashes), p.opts.CrashWindow, cause))
		return
	}
	p.setState(StateRestarting, cause)
}

// fail marks the plugin failed and schedules its next launch: FailedCoolOff,
// doubled at each failure in a row. A plugin that stayed up for CrashWindow
// since it last came back starts again from the shortest cool-off.
// Callers hold p.mu.
func (p *Plugin) fail(reason string) {
	now := p.opts.Now()
	if p.state != StateFailed && now.Sub(p.up) >= p.opts.CrashWindow {
		p.failures = 0
	}
	p.failures++
	p.crashes = nil
	p.coolOff = backoff(p.opts.FailedCoolOff, p.opts.MaxFailedCoolOff, p.failures)
	p.nextRetry = now.Add(p.coolOff)
	p.log.Error("plugin failed; trying it again after a cool-off", "reason", reason, "retry_in", p.coolOff, "failures_in_a_row", p.failures)
	p.setState(StateFailed, reason)
}

// relaunch launches a new process after a delay (the restart backoff, or the
// cool-off of a failed plugin) until one starts or Close is called; it
// returns nil then.
func (p *Plugin) relaunch() *process {
	for attempt := 1; ; attempt++ {
		p.mu.Lock()
		failed := p.state == StateFailed
		delay := p.coolOff
		if !failed {
			delay = backoff(p.opts.RestartBackoff, p.opts.MaxRestartBackoff, len(p.crashes))
		}
		p.mu.Unlock()
		if failed {
			p.log.Info("launching failed plugin again after its cool-off", "in", delay)
		} else {
			p.log.Info("restarting plugin", "in", delay, "attempt", attempt)
		}
		select {
		case <-p.ctx.Done():
			return nil
		case <-p.opts.After(delay):
		}
		proc, err := p.launch()
		p.mu.Lock()
		if p.ctx.Err() != nil {
			p.mu.Unlock()
			if proc != nil {
				proc.client.Kill()
			}
			return nil
		}
		if err != nil {
			p.log.Error("restart failed", "error", err)
			p.recordCrash(err.Error())
			p.mu.Unlock()
			continue
		}
		if failed {
			p.log.Info("failed plugin is back", "failures_in_a_row", p.failures)
			p.up = p.opts.Now()
			p.nextRetry = time.Time{}
			p.crashes = nil
		}
		p.proc = proc
		p.restarts++
		p.setState(StateReady, "")
		p.mu.Unlock()
		return proc
	}
}

// backoff is min·2^(n-1), at most max.
func backoff(min, max time.Duration, n int) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return minDuration(d, max)
}

func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// current returns the running process, waiting up to CallWait for one that
// is starting or restarting. A failed or stopped plugin fails the call at
// once.
func (p *Plugin) current(ctx context.Context) (*process, error) {
	wait := time.NewTimer(p.opts.CallWait)
	defer wait.Stop()
	for {
		p.mu.Lock()
		state, reason, proc, changed, next := p.state, p.reason, p.proc, p.changed, p.nextRetry
		p.mu.Unlock()
		switch state {
		case StateReady:
			return proc, nil
		case StateFailed:
			return nil, sdk.Retryable(fmt.Errorf("%w: %s failed: %s", ErrUnavailable, p.cand.Name, reason), max(next.Sub(p.opts.Now()), 0))
		case StateStopped:
			return nil, sdk.Retryable(fmt.Errorf("%w: %s is stopped", ErrUnavailable, p.cand.Name), 0)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			// The call never reached the plugin: unavailable, whatever the
			// caller's deadline says.
			return nil, sdk.Retryable(fmt.Errorf("%w: %s is %s: %w", ErrUnavailable, p.cand.Name, state, ctx.Err()), 0)
		case <-wait.C:
			return nil, sdk.Retryable(fmt.Errorf("%w: %s is %s", ErrUnavailable, p.cand.Name, state), 0)
		}
	}
}

// call runs fn on the current process, within CallTimeout when ctx has no
// deadline of its own. When the process died under the call and a new one
// takes its place within CallWait, fn runs once more there: callers are
// idempotent by contract (idempotency keys).
func call[T any](ctx context.Context, p *Plugin, fn func(context.Context, *sdk.RemoteProvider) (T, error)) (T, error) {
	var zero T
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.opts.CallTimeout)
		defer cancel()
	}
	proc, err := p.current(ctx)
	if err != nil {
		return zero, err
	}
	res, err := fn(ctx, proc.remote)
	if err == nil || !processDied(proc, err) {
		return res, err
	}
	next, err2 := p.current(ctx)
	if err2 != nil || next == proc {
		return zero, err
	}
	return fn(ctx, next.remote)
}

// processDied reports whether err is a transport failure of a process that
// has exited.
func processDied(proc *process, err error) bool {
	if sdk.KindOf(err) != sdk.KindUnavailable {
		return false
	}
	select {
	case <-proc.runner.exited:
		return true
	default:
		return false
	}
}

// Configure validates and applies one bot's config, and remembers it to
// re-apply after a restart. Diagnostics with errors mean it was refused.
// From the call on, the plugin may push events for bot; if the config is
// refused and bot was not configured before, it may not any more.
func (p *Plugin) Configure(ctx context.Context, bot string, cfg sdk.Config) (sdk.Diagnostics, error) {
	p.mu.Lock()
	p.configuring[bot]++
	p.mu.Unlock()
	diags, err := call(ctx, p, func(ctx context.Context, r *sdk.RemoteProvider) (sdk.Diagnostics, error) {
		return r.Configure(ctx, bot, cfg)
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.configuring[bot]--; p.configuring[bot] == 0 {
		delete(p.configuring, bot)
	}
	if err != nil || diags.HasErrors() {
		return diags, err
	}
	p.bots[bot] = cfg
	return diags, nil
}

// ValidateConfig checks one bot's config without applying it.
func (p *Plugin) ValidateConfig(ctx context.Context, bot string, cfg sdk.Config) (sdk.Diagnostics, error) {
	return call(ctx, p, func(ctx context.Context, r *sdk.RemoteProvider) (sdk.Diagnostics, error) {
		return r.ValidateConfig(ctx, bot, cfg)
	})
}

// StartSession opens a ticket.
func (p *Plugin) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	return call(ctx, p, func(ctx context.Context, r *sdk.RemoteProvider) (sdk.StartResult, error) {
		return r.StartSession(ctx, req)
	})
}

// SendMessage forwards one user message.
func (p *Plugin) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	return call(ctx, p, func(ctx context.Context, r *sdk.RemoteProvider) (sdk.SendResult, error) {
		return r.SendMessage(ctx, req)
	})
}

// EndSession closes a ticket.
func (p *Plugin) EndSession(ctx context.Context, req sdk.EndRequest) error {
	_, err := call(ctx, p, func(ctx context.Context, r *sdk.RemoteProvider) (struct{}, error) {
		return struct{}{}, r.EndSession(ctx, req)
	})
	return err
}

// HandleWebhook hands a platform request to the plugin.
func (p *Plugin) HandleWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	return call(ctx, p, func(ctx context.Context, r *sdk.RemoteProvider) (sdk.WebhookResult, error) {
		return r.HandleWebhook(ctx, req)
	})
}

// ReadSession reads a session's platform side back. A plugin without the
// call answers an error wrapping errors.ErrUnsupported.
func (p *Plugin) ReadSession(ctx context.Context, req sdk.ReadRequest) (sdk.ReadResult, error) {
	return call(ctx, p, func(ctx context.Context, r *sdk.RemoteProvider) (sdk.ReadResult, error) {
		return r.ReadSession(ctx, req)
	})
}

// Restarts counts the plugin's relaunches: a change means a new process.
func (p *Plugin) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// close stops supervision and the process: a Shutdown call so the plugin
// can finish its work, then go-plugin's graceful kill.
func (p *Plugin) close(ctx context.Context) {
	p.cancel()
	<-p.done
	p.mu.Lock()
	proc := p.proc
	p.proc = nil
	p.nextRetry = time.Time{} // no more tries
	if p.state != StateFailed {
		p.setState(StateStopped, "")
	}
	p.mu.Unlock()
	if proc == nil {
		return
	}
	if err := proc.remote.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		p.log.Warn("plugin shutdown call failed", "error", err)
	}
	proc.stop(ctx)
}
