// Package pluginhost finds, verifies, launches and supervises provider
// plugins: one go-plugin process per plugin binary, serving many bots.
//
// Discovery takes every executable named livechat-provider-<name> in the
// plugin directory, refuses links that lead outside it and files that do not
// match their sha256 pin, and launches the rest with AutoMTLS, gRPC only and
// none of the host's environment. A supervisor restarts a plugin that exits
// or stops answering several health pings in a row, with exponential
// backoff, and re-configures its bots. After too many crashes in a window,
// or when it cannot be launched at all, a plugin is failed: calls fail fast
// with ErrUnavailable, and it is launched again after a cool-off that grows
// at each failure, for as long as the host runs. Every call has a deadline.
package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/sdk"
)

// Options configure a Manager. Zero values take the defaults shown.
type Options struct {
	// Dir is the plugin directory.
	Dir string
	// Pins maps provider names to the sha256 their binary must have.
	Pins map[string]string
	// RequireChecksums refuses plugins without a pin.
	RequireChecksums bool
	Logger           hclog.Logger

	// StartTimeout bounds a plugin's handshake (10s).
	StartTimeout time.Duration
	// CallTimeout bounds every call to a plugin whose context has no
	// deadline of its own: the calls of the Plugin methods, and at each
	// launch Info and the re-configure of each bot, one by one (30s).
	CallTimeout time.Duration
	// HealthInterval is the time between health pings (10s).
	HealthInterval time.Duration
	// PingTimeout bounds one health ping (5s).
	PingTimeout time.Duration
	// PingFailures failed health pings in a row get a plugin killed and
	// restarted (3); a ping that answers resets the count. One slow ping
	// must not kill the calls in flight.
	PingFailures int
	// RestartBackoff is the first restart delay, doubled at each crash in the
	// window up to MaxRestartBackoff (200ms, 30s).
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	// CrashLimit crashes within CrashWindow mark a plugin failed (5, 5m).
	CrashLimit  int
	CrashWindow time.Duration
	// FailedCoolOff is how long a failed plugin (one that crashed too often,
	// or could not be launched at all) rests before it is launched again; it
	// doubles at each failure in a row up to MaxFailedCoolOff (5s, 10m): a
	// plugin killed from outside comes back within seconds, one that keeps
	// failing is tried less and less often.
	// Failed plugins are tried again for as long as the Manager runs; the
	// count of failures starts again once a plugin has stayed up for
	// CrashWindow.
	FailedCoolOff    time.Duration
	MaxFailedCoolOff time.Duration
	// CallWait is how long a call waits for a restarting plugin before it
	// fails as retryable (10s).
	CallWait time.Duration
	// Now is the clock for the crash window and Status.NextRetry (time.Now).
	Now func() time.Time
	// After is the timer for restart delays and cool-offs (time.After).
	After func(time.Duration) <-chan time.Time

	host  *hostRef
	state *stateRef
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = discardLogger
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.StartTimeout, 10*time.Second)
	def(&o.CallTimeout, 30*time.Second)
	def(&o.HealthInterval, 10*time.Second)
	def(&o.PingTimeout, 5*time.Second)
	def(&o.RestartBackoff, 200*time.Millisecond)
	def(&o.MaxRestartBackoff, 30*time.Second)
	def(&o.CrashWindow, 5*time.Minute)
	def(&o.FailedCoolOff, 5*time.Second)
	def(&o.MaxFailedCoolOff, 10*time.Minute)
	def(&o.CallWait, 10*time.Second)
	if o.CrashLimit <= 0 {
		o.CrashLimit = 5
	}
	if o.PingFailures <= 0 {
		o.PingFailures = 3
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
}

// Manager owns every plugin of the host.
type Manager struct {
	opts Options

	mu       sync.Mutex
	plugins  map[string]*Plugin
	problems []Problem
}

// New returns a Manager; Load starts the plugins.
func New(opts Options) *Manager {
	opts.setDefaults()
	opts.host = &hostRef{}
	opts.state = &stateRef{}
	return &Manager{opts: opts, plugins: map[string]*Plugin{}}
}

// SetHost sets where events pushed by plugins go. Until it is set, pushes
// fail as retryable. Each plugin pushes through a Host service of its own,
// which refuses events for a bot the plugin is not configured for before
// they reach h; when h is a ProviderHost it is also told which plugin
// pushed, to check the sessions the events name.
func (m *Manager) SetHost(h sdk.Host) { m.opts.host.set(h) }

// SetState sets where plugins keep their state (sdk.StateStore): the
// host's store. Until it is set, state calls fail as retryable. Each plugin
// reaches only the state of its own bots' sessions, under its own name.
func (m *Manager) SetState(s StateStore) { m.opts.state.s.Store(&s) }

// StateStore is what the Host service needs to keep plugins' state;
// host.Store is one.
type StateStore interface {
	Session(ctx context.Context, id string) (*host.Session, error)
	PluginState(ctx context.Context, k host.PluginStateKey) ([]byte, error)
	Tx(ctx context.Context, fn func(host.Tx) error) error
}

type stateRef struct{ s atomic.Pointer[StateStore] }

func (r *stateRef) get() StateStore {
	if s := r.s.Load(); s != nil {
		return *s
	}
	return nil
}

// ProviderHost is a host told which provider plugin pushed the events, so
// it can refuse events for sessions of another provider (the engine is
// one). The plugin host has already checked that the plugin is configured
// for bot.
type ProviderHost interface {
	sdk.Host
	PushEventsAs(ctx context.Context, provider, bot string, events ...sdk.Event) error
}

// Load discovers the plugins and launches them all in parallel. A plugin
// that cannot be launched is reported in its Status, failed, and does not
// stop the others; it is launched again after FailedCoolOff. A plugin refused
// by discovery (a sha256 mismatch, a link outside the directory) stays
// refused. The error is for an unreadable directory only.
func (m *Manager) Load(ctx context.Context) error {
	cands, problems, err := Discover(m.opts.Dir, m.opts.Pins, m.opts.RequireChecksums)
	if err != nil {
		return err
	}
	for _, p := range problems {
		m.opts.Logger.Error("plugin refused", "plugin", p.Name, "path", p.Path, "error", p.Err)
	}
	for _, c := range cands {
		for _, w := range c.Warnings {
			m.opts.Logger.Warn("plugin loaded, but unsafe", "plugin", c.Name, "path", c.Path, "warning", w)
		}
	}
	var wg sync.WaitGroup
	loaded := make([]*Plugin, len(cands))
	for i, c := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := newPlugin(c, &m.opts)
			proc, err := p.launch()
			p.mu.Lock()
			if err != nil {
				p.log.Error("plugin failed to start", "error", err)
				p.fail(err.Error())
			} else {
				p.proc = proc
				p.setState(StateReady, "")
			}
			p.mu.Unlock()
			go p.run(proc)
			loaded[i] = p
		}()
	}
	wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.problems = problems
	for _, p := range loaded {
		m.plugins[p.Name()] = p
	}
	return ctx.Err()
}

// Plugin returns the loaded plugin called name, whatever its state.
func (m *Manager) Plugin(name string) (*Plugin, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.plugins[name]; ok {
		return p, nil
	}
	for _, pr := range m.problems {
		if pr.Name == name {
			return nil, fmt.Errorf("provider %q was refused: %v", name, pr.Err)
		}
	}
	return nil, fmt.Errorf("no provider %q: no %s%s in plugin_dir %s", name, Prefix, name, m.opts.Dir)
}

// Statuses lists every plugin, refused ones included, by name.
func (m *Manager) Statuses() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Status
	for _, p := range m.plugins {
		out = append(out, p.Status())
	}
	for _, pr := range m.problems {
		out = append(out, Status{Name: pr.Name, Path: pr.Path, State: StateFailed, Reason: pr.Err.Error()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops every plugin, waiting for each to finish within ctx's deadline,
// and leaves no plugin process behind.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	plugins := make([]*Plugin, 0, len(m.plugins))
	for _, p := range m.plugins {
		plugins = append(plugins, p)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range plugins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.close(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// hostRef is the host set with SetHost, shared by the Host services of
// every plugin.
type hostRef struct{ h atomic.Pointer[sdk.Host] }

func (r *hostRef) set(h sdk.Host) { r.h.Store(&h) }

func (r *hostRef) get() sdk.Host {
	if h := r.h.Load(); h != nil {
		return *h
	}
	return nil
}

// pluginHost is the Host service of one plugin. The bot id of a push comes
// from the plugin: a buggy or hostile plugin could name any bot, so a push
// for a bot that was never configured with this plugin is refused for good
// and logged, and never reaches the host.
type pluginHost struct {
	plugin *Plugin
}

var (
	_ sdk.Host       = (*pluginHost)(nil)
	_ sdk.StateStore = (*pluginHost)(nil)
)

// PushEvents runs on a gRPC server goroutine of the host's: a panic in the
// host's handling becomes the push's error, never the end of livechatd.
func (p *pluginHost) PushEvents(ctx context.Context, bot string, events ...sdk.Event) (err error) {
	name := p.plugin.Name()
	if !p.plugin.serves(bot) {
		p.plugin.log.Error("plugin pushed events for a bot that is not configured with it; refused", "plugin", name, "bot", bot, "events", len(events))
		return sdk.Permanent(fmt.Errorf("plugin %q is not configured for bot %q: its events are refused", name, bot))
	}
	h := p.plugin.opts.host.get()
	if h == nil {
		return sdk.Retryable(errors.New("the host is not ready for events yet"), time.Second)
	}
	defer func() {
		if r := recover(); r != nil {
			p.plugin.log.Error("panic handling pushed events", "plugin", name, "bot", bot, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("the host panicked handling pushed events: %v", r)
		}
	}()
	if ph, ok := h.(ProviderHost); ok {
		return ph.PushEventsAs(ctx, name, bot, events...)
	}
	return h.PushEvents(ctx, bot, events...)
}

// GetState, SetState and DeleteState are the plugin's state, kept in the
// host's store under the plugin's name. Like a push, a key names a bot and
// a session that come from the plugin: a bot not configured with the
// plugin, or a session of another bot or provider, is refused for good and
// logged; an unknown session is NotFound.
func (p *pluginHost) GetState(ctx context.Context, k sdk.StateKey) ([]byte, bool, error) {
	store, key, err := p.stateKey(ctx, k, "read")
	if err != nil {
		return nil, false, err
	}
	v, err := store.PluginState(ctx, key)
	if host.ErrorCode(err) == host.ENOTFOUND {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, p.stateError(err)
	}
	return v, true, nil
}

func (p *pluginHost) SetState(ctx context.Context, k sdk.StateKey, value []byte) error {
	store, key, err := p.stateKey(ctx, k, "write")
	if err != nil {
		return err
	}
	return p.stateError(store.Tx(ctx, func(tx host.Tx) error { return tx.SetPluginState(key, value) }))
}

func (p *pluginHost) DeleteState(ctx context.Context, k sdk.StateKey) error {
	store, key, err := p.stateKey(ctx, k, "delete")
	if err != nil {
		return err
	}
	return p.stateError(store.Tx(ctx, func(tx host.Tx) error { return tx.DeletePluginState(key) }))
}

// stateKey checks that the plugin may use k and returns the store and the
// key under the plugin's name.
func (p *pluginHost) stateKey(ctx context.Context, k sdk.StateKey, op string) (StateStore, host.PluginStateKey, error) {
	name := p.plugin.Name()
	key := host.PluginStateKey{Provider: name, Bot: k.Bot, SessionID: k.SessionID, Key: k.Key}
	if err := key.Validate(); err != nil {
		return nil, key, p.stateError(err)
	}
	if !p.plugin.serves(k.Bot) {
		p.plugin.log.Error("plugin asked for the state of a bot that is not configured with it; refused", "plugin", name, "bot", k.Bot, "op", op)
		return nil, key, sdk.Permanent(fmt.Errorf("plugin %q is not configured for bot %q: its state is refused", name, k.Bot))
	}
	store := p.plugin.opts.state.get()
	if store == nil {
		return nil, key, sdk.Retryable(errors.New("the host keeps no plugin state yet"), time.Second)
	}
	s, err := store.Session(ctx, k.SessionID)
	if err != nil {
		return nil, key, p.stateError(err)
	}
	if s.Bot != k.Bot || s.Provider != name {
		p.plugin.log.Error("plugin asked for the state of a session of another bot or provider; refused", "plugin", name, "bot", k.Bot, "session", k.SessionID, "op", op)
		return nil, key, sdk.Permanent(fmt.Errorf("session %s is not a session of bot %q with provider %q: its state is refused", k.SessionID, k.Bot, name))
	}
	return store, key, nil
}

// stateError turns a store error into the plugin's language (the SDK's
// kinds); an internal error is logged, and the plugin told only that.
func (p *pluginHost) stateError(err error) error {
	if err == nil {
		return nil
	}
	switch host.ErrorCode(err) {
	case host.EINVALID, host.ETOOLARGE, host.EFORBIDDEN, host.ECONFLICT:
		return sdk.Permanent(err)
	case host.ENOTFOUND:
		return sdk.NotFound("%s", host.ErrorMessage(err))
	case host.EBUSY, host.EUNAVAILABLE:
		return sdk.Retryable(errors.New(host.ErrorMessage(err)), time.Second)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return sdk.Retryable(err, 0)
	}
	p.plugin.log.Error("plugin state", "plugin", p.plugin.Name(), "error", err)
	return errors.New("internal error keeping plugin state")
}

// DescribeWebhooks returns the webhooks to create on the platform for bot,
// built by the plugin from cfg (sdk.WebhookDescriber); a plugin without the
// call, or that describes none, gets its Info.Webhooks.
func (p *Plugin) DescribeWebhooks(ctx context.Context, bot string, cfg sdk.Config) ([]sdk.WebhookSetup, error) {
	hooks, err := call(ctx, p, func(ctx context.Context, r *sdk.RemoteProvider) ([]sdk.WebhookSetup, error) {
		return r.DescribeWebhooks(ctx, bot, cfg)
	})
	if errors.Is(err, errors.ErrUnsupported) || (err == nil && len(hooks) == 0) {
		return p.Info().Webhooks, nil
	}
	return hooks, err
}
