package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/bench/echo"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/httpapi"
	"github.com/livechatd/livechatd/host/internal/wiring"
	"github.com/livechatd/livechatd/host/retention"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/sdk"
	"github.com/prometheus/client_golang/prometheus"
)

// inProcess is livechatd's host wired in this process the way `livechatd
// serve` wires it (host/cmd/livechatd/serve.go), from the same config
// file, except that the echo provider is called directly instead of
// through go-plugin: the harness's mode (b), which prices the plugin
// boundary. It also lets `go test -cpuprofile` see the host's own code.
type inProcess struct {
	store     *sqlite.DB
	eng       *engine.Engine
	srv       *httpapi.Server
	retention func()
	log       *os.File
}

// pushAs is the provider's host: pushes go to the engine as the plugin
// host hands them over, named for the provider that pushed them.
type pushAs struct {
	eng      *engine.Engine
	provider string
}

func (p pushAs) PushEvents(ctx context.Context, bot string, events ...sdk.Event) error {
	return p.eng.PushEventsAs(ctx, p.provider, bot, events...)
}

var _ sdk.Host = pushAs{}

func startInProcess(ctx context.Context, cfgPath string) (_ *inProcess, err error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	ip := &inProcess{}
	defer func() {
		if err != nil {
			ip.close(ctx)
		}
	}()
	if ip.log, err = os.Create(filepath.Join(filepath.Dir(cfgPath), "livechatd.log")); err != nil {
		return nil, err
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "livechatd", Level: hclog.LevelFromString(cfg.LogLevel), Output: ip.log})
	if ip.store, err = sqlite.Open(cfg.Storage.Path, sqlite.Options{Synchronous: cfg.Storage.Synchronous}); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	engine.RegisterOutboxGauges(reg, ip.store)
	job, err := retention.New(ip.store, retention.Policy{
		DoneWork: cfg.Retention.DoneWork, DeadLetters: cfg.Retention.DeadLetters,
		ProcessedEvents: cfg.Retention.ProcessedEvents, Requests: cfg.Retention.Requests,
		Transcripts: cfg.Retention.Transcripts, WebchatStreams: cfg.Retention.WebchatStreams,
		Interval: cfg.Retention.Interval, Batch: cfg.Retention.Batch,
	}, retention.Options{Logger: log.Named("retention"), Registerer: reg})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		job.Run(rctx)
	}()
	ip.retention = func() { cancel(); <-done }

	prov := echo.New()
	ip.eng = engine.New(ip.store, engine.ProvidersFunc(func(name string) (engine.Provider, error) {
		if name != "echo" {
			return nil, &host.Error{Code: host.ENOTFOUND, Message: fmt.Sprintf("provider %q is not in process", name)}
		}
		return prov, nil
	}), wiring.EngineBots(cfg), engine.Options{Logger: log.Named("engine"), Metrics: engine.NewMetrics(reg)})
	for i := range cfg.Bots {
		b := &cfg.Bots[i]
		pcfg, diags := b.DecodeConfig(echo.Info(b.Provider).Schema)
		if diags.HasErrors() {
			return nil, errors.New(config.Format(diags))
		}
		if err := prov.Configure(ctx, b.Name, pcfg, pushAs{eng: ip.eng, provider: b.Provider}); err != nil {
			return nil, fmt.Errorf("configure bot %s: %w", b.Name, err)
		}
	}
	ip.eng.Run()
	ip.srv = &httpapi.Server{Engine: ip.eng, Store: ip.store, AdminToken: cfg.AdminToken.Value(),
		Gatherer: reg, Logger: log.Named("http")}
	if err := ip.srv.Open(cfg.Listen); err != nil {
		ip.srv = nil
		return nil, err
	}
	return ip, nil
}

func (ip *inProcess) url() string { return "http://" + ip.srv.Addr() }

// close stops what started, in serve's order.
func (ip *inProcess) close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	if ip.srv != nil {
		_ = ip.srv.Close(ctx)
	}
	if ip.eng != nil {
		_ = ip.eng.Close(ctx)
	}
	if ip.retention != nil {
		ip.retention()
	}
	if ip.store != nil {
		_ = ip.store.Close()
	}
	if ip.log != nil {
		_ = ip.log.Close()
	}
}
