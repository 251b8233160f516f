package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/httpapi"
	"github.com/livechatd/livechatd/host/internal/wiring"
	"github.com/livechatd/livechatd/host/pluginhost"
	"github.com/livechatd/livechatd/host/postgres"
	"github.com/livechatd/livechatd/host/redact"
	"github.com/livechatd/livechatd/host/retention"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/host/webchat"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// The phases of a shutdown, in order, each with its own deadline started
// when the phase starts: requests in flight (the webchat streams end at
// once), then the engine's in-flight outbox work (what does not finish is
// handed back, to run after the restart), then the plugin processes, then
// the store. Together they stay under the 30 s that service managers
// commonly give before they kill.
const (
	httpGrace    = 5 * time.Second
	engineGrace  = 15 * time.Second
	pluginsGrace = 5 * time.Second
)

// serve runs the host until ctx is done (SIGINT, SIGTERM).
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	path, err := flags("serve", args, stderr, nil)
	if err != nil {
		return err
	}
	// Before anything reads a secret: plugins run as the same user.
	if err := undumpable(); err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return diagnosticsOut(err, stderr)
	}
	if err := checkStorage(cfg); err != nil {
		return printDiagnostics(stderr, err.Error())
	}
	log := newLogger(cfg.LogLevel, stderr)
	warnInsecureEvents(cfg, log)

	var parts running
	defer parts.stop(log)
	store, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	parts.store = store
	if pg, ok := store.(*postgres.DB); ok {
		log.Info("storage: postgres", "replica", pg.Replica())
	}

	plugins, err := startPlugins(ctx, cfg, log)
	if err != nil {
		return err
	}
	parts.plugins = plugins
	for _, s := range plugins.Statuses() {
		if s.State == pluginhost.StateReady {
			log.Info("plugin loaded", "name", s.Name, "version", s.Version, "protocol", s.Protocol, "sha256", s.SHA256)
		} else {
			log.Warn("plugin not loaded", "name", s.Name, "reason", s.Reason)
		}
	}
	if diags := configureBots(ctx, cfg, plugins, true); diags.HasErrors() {
		return printDiagnostics(stderr, config.Format(diags))
	}
	// Secrets anyone could guess are refused where others can connect.
	weak := weakSecrets(cfg, plugins, !isLoopback(cfg.Listen))
	if weak.HasErrors() {
		return printDiagnostics(stderr, config.Format(weak))
	}
	logWeakSecrets(log, weak)

	reg := prometheus.NewRegistry()
	var chat *webchat.Channel
	uploads := uploadsDir(cfg, path)
	if secrets := webchatBots(cfg); len(secrets) > 0 {
		chat = webchat.New(store, secrets, log.Named("webchat"), webchatOptions(cfg, uploads, reg)...)
	}

	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerOutboxGauges(reg, store)
	if err := parts.startRetention(cfg, store, uploads, reg, log); err != nil {
		return err
	}
	eng := engine.New(store, engine.ProvidersFunc(func(name string) (engine.Provider, error) {
		return plugins.Plugin(name)
	}), wiring.EngineBots(cfg), engine.Options{Logger: log.Named("engine"), Metrics: engine.NewMetrics(reg), Webchat: webchatChannel(chat),
		// Work for a plugin that is down waits for it, attempts untouched.
		PluginDown: func(err error) bool { return errors.Is(err, pluginhost.ErrUnavailable) }})
	plugins.SetHost(eng)
	plugins.SetState(store) // plugin state (sdk.StateStore), kept with the sessions
	eng.Run()
	parts.engine = eng

	srv := &httpapi.Server{
		Engine:     eng,
		Store:      store,
		Plugins:    plugins,
		AdminToken: cfg.AdminToken.Value(),
		Gatherer:   reg,
		Logger:     log.Named("http"),
	}
	if chat != nil {
		srv.Webchat = chat
	}
	if err := srv.Open(cfg.Listen); err != nil {
		return err
	}
	parts.http = srv
	log.Info("livechatd listening", "addr", srv.Addr(), "public_url", redact.URL(cfg.PublicURL), "bots", len(cfg.Bots), "version", version)
	fmt.Fprintf(stdout, "livechatd listening on http://%s\n", srv.Addr())
	for _, b := range cfg.Bots {
		if b.Channel == config.ChannelWebchat {
			fmt.Fprintf(stdout, "webchat for bot %s: http://%s/chat/%s\n", b.Name, srv.Addr(), b.Name)
		}
	}

	<-ctx.Done()
	log.Info("shutting down", "http_grace", httpGrace, "engine_grace", engineGrace, "plugins_grace", pluginsGrace)
	return nil
}

// running holds what serve has started; stop closes it in the one safe
// order, whatever serve got to before it returned.
type running struct {
	http      *httpapi.Server
	engine    *engine.Engine
	retention func() // stops the retention job and waits for it
	plugins   *pluginhost.Manager
	store     serveStore
}

// stop ends each running part, in order: no request reaches an engine that
// is closing, no worker calls a plugin that is gone or a store that is
// closed. Each phase gets its own deadline and is logged with its duration.
func (r *running) stop(log hclog.Logger) {
	began := time.Now()
	if r.http != nil {
		phase(log, "http", httpGrace, r.http.Close)
	}
	if r.engine != nil {
		phase(log, "engine", engineGrace, r.engine.Close)
	}
	if r.retention != nil {
		r.retention() // cancelling rolls back the batch in flight
	}
	if r.plugins != nil {
		phase(log, "plugins", pluginsGrace, r.plugins.Close)
	}
	if r.store != nil {
		phase(log, "store", 0, func(context.Context) error { return r.store.Close() })
	}
	log.Info("stopped", "took", time.Since(began).Round(time.Millisecond))
}

// phase runs one step of the shutdown within grace (0: no deadline) and
// logs how long it took. A step that runs out of time is logged and the
// shutdown goes on: the next steps are still needed.
func phase(log hclog.Logger, name string, grace time.Duration, stop func(context.Context) error) {
	ctx := context.Background()
	if grace > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, grace)
		defer cancel()
	}
	began := time.Now()
	err := stop(ctx)
	took := time.Since(began).Round(time.Millisecond)
	if err != nil {
		log.Warn("shutdown: "+name+" stopped with an error", "took", took, "error", err)
		return
	}
	log.Info("shutdown: "+name+" stopped", "took", took)
}

// serveStore is what serve needs of a store: host.Store, and the webchat
// streams, the retention job's deletes and the outbox gauges' counts,
// which host/sqlite and host/postgres both keep.
type serveStore interface {
	host.Store
	webchat.Log
	retention.Store
	engine.OutboxCounter
}

var (
	_ serveStore = (*sqlite.DB)(nil)
	_ serveStore = (*postgres.DB)(nil)
)

// openStore opens the configured store. Its type has the webchat streams
// too.
func openStore(ctx context.Context, cfg *config.File) (serveStore, error) {
	switch cfg.Storage.Driver {
	case config.SQLite, "":
		if err := os.MkdirAll(filepath.Dir(cfg.Storage.Path), 0o755); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
		return sqlite.Open(cfg.Storage.Path, sqlite.Options{Synchronous: cfg.Storage.Synchronous})
	case config.Postgres:
		ctx, cancel := context.WithTimeout(ctx, postgresOpenTimeout)
		defer cancel()
		db, err := postgres.Open(ctx, cfg.Storage.DSN.Value(), postgres.Options{Replica: cfg.ReplicaName(), MaxConns: cfg.Storage.MaxConns})
		if err != nil {
			// pgx's errors name the host and user, never the password;
			// the DSN itself is not printed.
			return nil, fmt.Errorf("storage \"postgres\": %w", err)
		}
		return db, nil
	default:
		return nil, fmt.Errorf("storage %q is not supported by this build; use storage \"sqlite\" or \"postgres\"", cfg.Storage.Driver)
	}
}

// postgresOpenTimeout bounds connecting and migrating at start-up.
const postgresOpenTimeout = time.Minute

// uploadsDir is where the webchat keeps uploaded files: beside the SQLite
// database, or data/uploads beside the configuration file on PostgreSQL
// (each replica keeps the files uploaded to it: see docs/replicas.md).
func uploadsDir(cfg *config.File, configPath string) string {
	if cfg.Storage.Driver == config.Postgres {
		return filepath.Join(filepath.Dir(configPath), "data", "uploads")
	}
	return filepath.Join(filepath.Dir(cfg.Storage.Path), "uploads")
}

// registerOutboxGauges exports livechat_outbox_items. On PostgreSQL the
// counts are the shared store's: only the replica holding the reporter
// lock exports them, so that summing over replicas counts each item once.
func registerOutboxGauges(reg prometheus.Registerer, store serveStore) {
	if pg, ok := store.(*postgres.DB); ok {
		engine.RegisterSharedOutboxGauges(reg, store, pg.Reporting)
		return
	}
	engine.RegisterOutboxGauges(reg, store)
}

// The plugin host's plugins are what reconciliation needs of a provider.
var (
	_ engine.SessionReader = (*pluginhost.Plugin)(nil)
	_ engine.Described     = (*pluginhost.Plugin)(nil)
	_ engine.Restarted     = (*pluginhost.Plugin)(nil)
)

// warnInsecureEvents says, once per bot, which bots take their channel's
// events unauthenticated.
func warnInsecureEvents(cfg *config.File, log hclog.Logger) {
	for _, b := range cfg.Bots {
		if b.InsecureEvents {
			log.Warn("INSECURE: bot takes unsigned events (insecure_events = true): anyone who can reach the listener can post as any of its users, write into their tickets and end their sessions",
				"bot", b.Name, "listen", cfg.Listen, "deliveries_signed", !b.ChannelSecret.IsZero())
		}
	}
}

// webchatBots maps the bots on the built-in webchat to their secrets.
func webchatBots(cfg *config.File) map[string]string {
	out := map[string]string{}
	for _, b := range cfg.Bots {
		if b.Channel == config.ChannelWebchat {
			out[b.Name] = b.ChannelSecret.Value()
		}
	}
	return out
}

// webchatOptions are the webchat's settings from the file: the limits
// block, each bot's webchat block, and uploads — kept in uploads, with URLs
// under the public URL — unless upload_bytes = 0 turns them off (the page
// then offers none, and the upload route answers 404).
func webchatOptions(cfg *config.File, uploads string, reg prometheus.Registerer) []webchat.Option {
	opts := []webchat.Option{webchat.WithLimits(webchatLimits(cfg.Limits)), webchat.WithMetrics(webchat.NewMetrics(reg)),
		webchat.WithPublicURL(cfg.PublicURL)}
	if cfg.Limits.UploadBytes > 0 {
		opts = append(opts, webchat.WithUploads(uploads))
	}
	for _, b := range cfg.Bots {
		if b.Channel == config.ChannelWebchat {
			// Checked by config against the same rules (host/webchat/rules).
			opts = append(opts, webchat.WithAppearance(b.Name, webchat.Appearance{
				Title: b.Webchat.Title, Color: b.Webchat.Color, Position: b.Webchat.Position}))
		}
	}
	return opts
}

// webchatLimits are the limits block as the webchat takes them.
func webchatLimits(l config.Limits) webchat.Limits {
	return webchat.Limits{StreamsPerUser: l.StreamsPerUser, Streams: l.Streams, ReplayBytes: l.StreamBatchBytes,
		WriteTimeout: l.StreamWriteTimeout, IdentitiesPerMinute: l.IdentitiesPerMinute, StartsPerMinute: l.StartsPerMinute,
		UploadBytes: l.UploadBytes, UploadsPerMinute: l.UploadsPerMinute, UploadTypes: l.UploadTypes}
}

// webchatChannel keeps a nil *webchat.Channel from becoming a non-nil
// engine.Channel.
func webchatChannel(c *webchat.Channel) engine.Channel {
	if c == nil {
		return nil
	}
	return c
}

// startRetention runs the retention job (the retention block) until stop.
// Its uploads sweep prunes this process's upload directory, uploads on or
// off (what was uploaded before they were turned off still ages out): on
// PostgreSQL every replica runs the job, each on its own directory.
func (r *running) startRetention(cfg *config.File, store serveStore, uploads string, reg prometheus.Registerer, log hclog.Logger) error {
	job, err := retention.New(store, retention.Policy{
		DoneWork: cfg.Retention.DoneWork, DeadLetters: cfg.Retention.DeadLetters,
		ProcessedEvents: cfg.Retention.ProcessedEvents, Requests: cfg.Retention.Requests,
		Transcripts: cfg.Retention.Transcripts, WebchatStreams: cfg.Retention.WebchatStreams,
		Interval: cfg.Retention.Interval, Batch: cfg.Retention.Batch,
	}, retention.Options{Logger: log.Named("retention"), Registerer: reg, Sweeps: []retention.Sweep{{
		Name: "uploads", Age: cfg.Retention.Uploads,
		Delete: func(_ context.Context, before time.Time) (int, error) { return webchat.PruneUploadDir(uploads, before) },
	}}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		job.Run(ctx)
	}()
	r.retention = func() { cancel(); <-done }
	return nil
}
