package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"github.com/livechatd/livechatd/sdk"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// State of a plugin.
type State string

const (
	StateStarting   State = "starting"
	StateReady      State = "ready"
	StateRestarting State = "restarting"
	// StateFailed: the plugin could not be launched, or crashed too often;
	// Status.Reason says why and Status.NextRetry when it is launched again.
	// The host keeps running without it meanwhile.
	StateFailed  State = "failed"
	StateStopped State = "stopped"
)

// Status is what the host knows of one plugin, for `livechatd plugins`,
// the admin API and /readyz.
type Status struct {
	Name         string           `json:"name"`
	Path         string           `json:"path"`
	SHA256       string           `json:"sha256"`
	Version      string           `json:"version,omitempty"`
	Protocol     int              `json:"protocol,omitempty"`
	Capabilities []sdk.Capability `json:"capabilities,omitempty"`
	State        State            `json:"status"`
	Reason       string           `json:"reason,omitempty"`
	NextRetry    time.Time        `json:"next_retry,omitzero"` // when a failed plugin is launched again
	PID          int              `json:"pid,omitempty"`
	Restarts     int              `json:"restarts"`
	Bots         []string         `json:"bots,omitempty"`
}

// ErrUnavailable is wrapped by the errors of calls to a plugin that is not
// running: failed (waiting out its cool-off), stopped, or still restarting
// after CallWait. Such calls fail fast, without reaching any platform, and
// their errors are sdk-retryable; for a failed plugin, RetryAfter is the
// time until its next launch. Callers that queue work should keep it
// waiting on errors.Is(err, ErrUnavailable) rather than count an attempt:
// the call was never made.
var ErrUnavailable = errors.New("plugin unavailable")

// process is one running plugin process.
type process struct {
	client *plugin.Client
	runner *procRunner
	remote *sdk.RemoteProvider
}

// stop ends the process: go-plugin's graceful kill (close the connection,
// give the plugin a moment to exit), then SIGKILL when ctx is done first.
// Either way it returns only once the process is reaped.
func (p *process) stop(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		p.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		_ = p.runner.Kill(context.Background())
		<-done
	}
}

// ping asks the plugin's gRPC health service whether it serves, within
// timeout: a hung plugin fails the check like a dead one.
func (p *process) ping(timeout time.Duration) error {
	cp, err := p.client.Client()
	if err != nil {
		return err
	}
	gc, ok := cp.(*plugin.GRPCClient)
	if !ok {
		return fmt.Errorf("not a gRPC plugin client: %T", cp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err = healthpb.NewHealthClient(gc.Conn).Check(ctx, &healthpb.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err
}

// Plugin is one plugin binary: one process serving every bot configured
// with it, supervised and restarted when it dies.
type Plugin struct {
	cand Candidate
	opts *Options
	log  hclog.Logger

	mu       sync.Mutex
	state    State
	reason   string
	info     sdk.Info
	proc     *process
	restarts int
	crashes  []time.Time
	bots     map[string]sdk.Config
	// configuring counts the Configure calls in flight per bot: a plugin
	// may push for a bot while it is being configured for it.
	configuring map[string]int
	host        *pluginHost   // the Host service this plugin pushes through
	changed     chan struct{} // closed and replaced at every state change
	stdout      *stdoutLog    // what its processes print on stdout after start-up
	// While failed: the failures in a row, the cool-off being waited out
	// and when it ends. up is when the plugin last came back from failure.
	failures  int
	coolOff   time.Duration
	nextRetry time.Time
	up        time.Time

	ctx    context.Context // cancelled by close: ends supervision and launches
	cancel context.CancelFunc
	done   chan struct{} // closed when supervision has ended
}

func newPlugin(c Candidate, opts *Options) *Plugin {
	ctx, cancel := context.WithCancel(context.Background())
	p := &Plugin{
		cand:        c,
		opts:        opts,
		log:         opts.Logger.Named(c.Name),
		state:       StateStarting,
		bots:        map[string]sdk.Config{},
		configuring: map[string]int{},
		changed:     make(chan struct{}),
		ctx:         ctx,
		cancel:      cancel,
		done:        make(chan struct{}),
	}
	p.host = &pluginHost{plugin: p}
	p.stdout = newStdoutLog(p.log, c.Name, opts.Now)
	return p
}

// serves reports whether bot is configured with this plugin, or being
// configured: the only bots its pushes may name.
func (p *Plugin) serves(bot string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.bots[bot]
	return ok || p.configuring[bot] > 0
}

// Name is the provider name.
func (p *Plugin) Name() string { return p.cand.Name }

// Info is the plugin's fingerprint, read when it was launched.
func (p *Plugin) Info() sdk.Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// Status reports the plugin's state.
func (p *Plugin) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Status{
		Name:         p.cand.Name,
		Path:         p.cand.Path,
		SHA256:       p.cand.SHA256,
		Version:      p.info.Version,
		Capabilities: p.info.Capabilities,
		State:        p.state,
		Reason:       p.reason,
		NextRetry:    p.nextRetry,
		Restarts:     p.restarts,
	}
	if len(p.info.ProtocolVersions) > 0 {
		s.Protocol = slices.Max(p.info.ProtocolVersions)
	}
	if p.proc != nil && p.state == StateReady {
		s.PID = p.proc.runner.pid
	}
	for b := range p.bots {
		s.Bots = append(s.Bots, b)
	}
	sort.Strings(s.Bots)
	return s
}

// Changed returns a channel that is closed at the plugin's next state
// change: a way to wait for one without polling.
func (p *Plugin) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// WaitFor waits until cond holds for the plugin's status, or ctx is done.
func (p *Plugin) WaitFor(ctx context.Context, cond func(Status) bool) error {
	for {
		changed := p.Changed()
		if cond(p.Status()) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("plugin %s: %w (status %+v)", p.cand.Name, ctx.Err(), p.Status())
		}
	}
}

// setState changes the state and wakes everyone waiting on a change.
// Callers hold p.mu.
func (p *Plugin) setState(s State, reason string) {
	p.state, p.reason = s, reason
	close(p.changed)
	p.changed = make(chan struct{})
}

// launch starts a process, checks its protocol and fingerprint, and
// configures every known bot on it, each call within CallTimeout.
func (p *Plugin) launch() (*process, error) {
	sum, err := hex.DecodeString(p.cand.SHA256)
	if err != nil {
		return nil, fmt.Errorf("bad sha256: %w", err)
	}
	var r *procRunner
	// What the plugin prints on os.Stdout after the handshake comes back
	// over go-plugin's stdio stream; what it prints straight to its file
	// descriptor 1 comes on the process's pipe (procRunner). Both are
	// logged, rate-limited.
	synced := p.stdout.writer()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.HostPlugins(p.host),
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, _ string) (runner.Runner, error) {
			// go-plugin hands over the environment it built for the plugin
			// (handshake cookie, protocol versions, mTLS certificate, socket
			// dir); with SkipHostEnv it holds nothing of ours.
			ok, err := (&plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}).Check(p.cand.Path)
			if err != nil {
				return nil, fmt.Errorf("verify checksum: %w", err)
			}
			if !ok {
				actual, _ := fileSHA256(p.cand.Path)
				return nil, fmt.Errorf("sha256 mismatch: the file changed since discovery (expected %s, now %s)", p.cand.SHA256, actual)
			}
			r, err = newProcRunner(p.cand.Path, spec.Env, p.stdout, synced)
			return r, err
		},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     p.opts.StartTimeout,
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		SyncStdout:       synced,
		Logger:           p.log,
	})
	proc := &process{client: client}
	fail := func(err error) (*process, error) {
		client.Kill()
		return nil, err
	}
	cp, err := client.Client()
	if err != nil {
		if r != nil {
			if line, ok := r.printedBeforeHandshake(); ok {
				// go-plugin reads the first line as the handshake. The plugin's
				// own output, quoted as printed (cut short), tells its author
				// more than go-plugin's "unrecognized remote plugin message".
				err = fmt.Errorf("the plugin printed %q on stdout before its handshake: a plugin must print nothing on stdout, which carries the go-plugin handshake; log with sdk.Logger() (stderr)",
					truncate(strings.TrimSpace(line), printedMax))
				if tail := r.tail.String(); tail != "" {
					err = fmt.Errorf("%w (stderr: %s)", err, truncate(tail, printedMax))
				}
				return fail(fmt.Errorf("start: %s", oneLine(err.Error())))
			}
			if v, ok := r.protocolVersion(); ok && v != sdk.ProtocolVersion {
				return fail(fmt.Errorf("incompatible protocol: the plugin speaks version %d, this livechatd speaks version %d; use a plugin built for protocol %d",
					v, sdk.ProtocolVersion, sdk.ProtocolVersion))
			}
			if tail := r.tail.String(); tail != "" {
				err = fmt.Errorf("%w (stderr: %s)", err, tail)
			}
		}
		return fail(fmt.Errorf("start: %s", oneLine(err.Error())))
	}
	proc.runner = r
	proc.remote, err = sdk.Dispense(cp)
	if err != nil {
		return fail(fmt.Errorf("dispense: %w", err))
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.CallTimeout)
	info, err := proc.remote.Info(ctx)
	cancel()
	if err != nil {
		return fail(fmt.Errorf("info: %w", err))
	}
	if info.Name != p.cand.Name {
		return fail(fmt.Errorf("the file is named for provider %q but the plugin says it is %q; rename the file %s%s", p.cand.Name, info.Name, Prefix, info.Name))
	}
	if !slices.Contains(info.ProtocolVersions, sdk.ProtocolVersion) {
		return fail(fmt.Errorf("incompatible protocol: the plugin speaks versions %v, this livechatd speaks version %d", info.ProtocolVersions, sdk.ProtocolVersion))
	}
	p.mu.Lock()
	p.info = info
	bots := make(map[string]sdk.Config, len(p.bots))
	for b, c := range p.bots {
		bots[b] = c
	}
	p.mu.Unlock()
	for bot, cfg := range bots {
		ctx, cancel := context.WithTimeout(p.ctx, p.opts.CallTimeout)
		diags, err := proc.remote.Configure(ctx, bot, cfg)
		cancel()
		if err == nil {
			err = diags.Err()
		}
		if err != nil {
			return fail(fmt.Errorf("re-configure bot %q: %w", bot, err))
		}
	}
	p.log.Info("plugin ready", "version", info.Version, "pid", r.pid, "sha256", p.cand.SHA256, "bots", len(bots))
	return proc, nil
}

// printedMax bounds what a start-up error quotes of the plugin's output.
const printedMax = 200

// oneLine folds a multi-line message (go-plugin's) into one line.
func oneLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}
