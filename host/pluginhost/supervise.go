package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/livechatd/livechatd/sdk"
)

// run launches the plugin and supervises it until Close: it restarts a
// process that exits or stops answering pings, with exponential backoff,
// and gives up after CrashLimit crashes within CrashWindow.
func (p *Plugin) run(first *process) {
	defer close(p.done)
	proc := first
	for {
		if proc == nil {
			var ok bool
			if proc, ok = p.restart(); !ok {
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
		failed := p.recordCrash(cause)
		if !failed {
			p.setState(StateRestarting, cause)
		}
		p.mu.Unlock()
		if failed {
			return
		}
		proc = nil
	}
}

// watch waits until proc exits or fails a health check (then kills it),
// and says why; stopped is true when the plugin is being closed.
func (p *Plugin) watch(proc *process) (cause string, stopped bool) {
	tick := time.NewTicker(p.opts.HealthInterval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return "", true
		case <-proc.runner.exited:
			cause = describeExit(proc.runner.exitErr)
			if tail := proc.runner.tail.String(); tail != "" && proc.runner.exitErr != nil {
				cause += " (last output: " + tail + ")"
			}
			proc.client.Kill() // reap go-plugin's goroutines and socket dir
			return cause, false
		case <-tick.C:
			if err := proc.ping(p.opts.PingTimeout); err != nil {
				select {
				case <-proc.runner.exited:
					continue // the exit case says it better
				default:
				}
				_ = proc.runner.Kill(context.Background()) // hung: no graceful exit to wait for
				proc.client.Kill()
				return fmt.Sprintf("health check failed: %v", err), false
			}
		}
	}
}

// recordCrash counts a crash and marks the plugin failed when it crashed too
// often; it reports whether it did. Callers hold p.mu.
func (p *Plugin) recordCrash(cause string) bool {
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
		reason := fmt.Sprintf("crashed %d times within %s; last: %s", len(p.crashes), p.opts.CrashWindow, cause)
		p.log.Error("plugin failed; not restarting it again", "reason", reason)
		p.setState(StateFailed, reason)
		return true
	}
	return false
}

// restart relaunches after a backoff until it succeeds, the plugin fails
// for good, or Close is called.
func (p *Plugin) restart() (*process, bool) {
	for attempt := 0; ; attempt++ {
		p.mu.Lock()
		n := len(p.crashes)
		p.mu.Unlock()
		delay := backoff(p.opts.RestartBackoff, p.opts.MaxRestartBackoff, n)
		p.log.Info("restarting plugin", "in", delay, "attempt", attempt+1)
		t := time.NewTimer(delay)
		select {
		case <-p.stop:
			t.Stop()
			return nil, false
		case <-t.C:
		}
		proc, err := p.launch()
		p.mu.Lock()
		if err != nil {
			p.log.Error("restart failed", "error", err)
			failed := p.recordCrash(err.Error())
			p.mu.Unlock()
			if failed {
				return nil, false
			}
			continue
		}
		select {
		case <-p.stop:
			p.mu.Unlock()
			proc.client.Kill()
			return nil, false
		default:
		}
		p.proc = proc
		p.restarts++
		p.setState(StateReady, "")
		p.mu.Unlock()
		return proc, true
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
// is starting or restarting.
func (p *Plugin) current(ctx context.Context) (*process, error) {
	wait := time.NewTimer(p.opts.CallWait)
	defer wait.Stop()
	for {
		p.mu.Lock()
		state, reason, proc, changed := p.state, p.reason, p.proc, p.changed
		p.mu.Unlock()
		switch state {
		case StateReady:
			return proc, nil
		case StateFailed:
			return nil, sdk.Retryable(fmt.Errorf("%w: %s failed: %s", ErrUnavailable, p.cand.Name, reason), 0)
		case StateStopped:
			return nil, sdk.Retryable(fmt.Errorf("%w: %s is stopped", ErrUnavailable, p.cand.Name), 0)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-wait.C:
			return nil, sdk.Retryable(fmt.Errorf("%w: %s is %s", ErrUnavailable, p.cand.Name, state), 0)
		}
	}
}

// call runs fn on the current process. When the process died under the call
// and a new one takes its place within CallWait, fn runs once more there:
// callers are idempotent by contract (idempotency keys).
func call[T any](ctx context.Context, p *Plugin, fn func(*sdk.RemoteProvider) (T, error)) (T, error) {
	var zero T
	proc, err := p.current(ctx)
	if err != nil {
		return zero, err
	}
	res, err := fn(proc.remote)
	if err == nil || !processDied(proc, err) {
		return res, err
	}
	next, err2 := p.current(ctx)
	if err2 != nil || next == proc {
		return zero, err
	}
	return fn(next.remote)
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
func (p *Plugin) Configure(ctx context.Context, bot string, cfg sdk.Config) (sdk.Diagnostics, error) {
	diags, err := call(ctx, p, func(r *sdk.RemoteProvider) (sdk.Diagnostics, error) {
		return r.Configure(ctx, bot, cfg)
	})
	if err != nil || diags.HasErrors() {
		return diags, err
	}
	p.mu.Lock()
	p.bots[bot] = cfg
	p.mu.Unlock()
	return diags, nil
}

// ValidateConfig checks one bot's config without applying it.
func (p *Plugin) ValidateConfig(ctx context.Context, bot string, cfg sdk.Config) (sdk.Diagnostics, error) {
	return call(ctx, p, func(r *sdk.RemoteProvider) (sdk.Diagnostics, error) {
		return r.ValidateConfig(ctx, bot, cfg)
	})
}

// StartSession opens a ticket.
func (p *Plugin) StartSession(ctx context.Context, req sdk.StartRequest) (sdk.StartResult, error) {
	return call(ctx, p, func(r *sdk.RemoteProvider) (sdk.StartResult, error) { return r.StartSession(ctx, req) })
}

// SendMessage forwards one user message.
func (p *Plugin) SendMessage(ctx context.Context, req sdk.SendRequest) (sdk.SendResult, error) {
	return call(ctx, p, func(r *sdk.RemoteProvider) (sdk.SendResult, error) { return r.SendMessage(ctx, req) })
}

// EndSession closes a ticket.
func (p *Plugin) EndSession(ctx context.Context, req sdk.EndRequest) error {
	_, err := call(ctx, p, func(r *sdk.RemoteProvider) (struct{}, error) { return struct{}{}, r.EndSession(ctx, req) })
	return err
}

// HandleWebhook hands a platform request to the plugin.
func (p *Plugin) HandleWebhook(ctx context.Context, req sdk.WebhookRequest) (sdk.WebhookResult, error) {
	return call(ctx, p, func(r *sdk.RemoteProvider) (sdk.WebhookResult, error) { return r.HandleWebhook(ctx, req) })
}

// close stops supervision and the process: a Shutdown call so the plugin
// can finish its work, then go-plugin's graceful kill.
func (p *Plugin) close(ctx context.Context) {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
	p.mu.Lock()
	proc := p.proc
	p.proc = nil
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
