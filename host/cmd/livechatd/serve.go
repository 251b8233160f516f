package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/httpapi"
	"github.com/livechatd/livechatd/host/pluginhost"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/livechatd/livechatd/host/webchat"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// shutdownGrace bounds a graceful shutdown: in-flight requests and outbox
// work get this long to finish.
const shutdownGrace = 20 * time.Second

// serve runs the host until ctx is done (SIGINT, SIGTERM).
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	path, err := flags("serve", args, stderr, nil)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return diagnosticsOut(err, stderr)
	}
	log := newLogger(cfg.LogLevel, stderr)

	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()

	plugins, err := startPlugins(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer stopPlugins(plugins)
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

	var chat *webchat.Channel
	if secrets := webchatBots(cfg); len(secrets) > 0 {
		chat = webchat.New(store, secrets, log.Named("webchat"))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	engine.RegisterOutboxGauges(reg, store)
	eng := engine.New(store, engine.ProvidersFunc(func(name string) (engine.Provider, error) {
		return plugins.Plugin(name)
	}), engineBots(cfg), engine.Options{Logger: log.Named("engine"), Metrics: engine.NewMetrics(reg), Webchat: webchatChannel(chat)})
	plugins.SetHost(eng)
	eng.Run()

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
	log.Info("livechatd listening", "addr", srv.Addr(), "public_url", cfg.PublicURL, "bots", len(cfg.Bots), "version", version)
	fmt.Fprintf(stdout, "livechatd listening on http://%s\n", srv.Addr())
	for _, b := range cfg.Bots {
		if b.Channel == config.ChannelWebchat {
			fmt.Fprintf(stdout, "webchat for bot %s: http://%s/chat/%s\n", b.Name, srv.Addr(), b.Name)
		}
	}

	<-ctx.Done()
	log.Info("shutting down", "grace", shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Close(sctx); err != nil {
		log.Warn("http shutdown", "error", err)
	}
	if err := eng.Close(sctx); err != nil {
		log.Warn("engine shutdown", "error", err)
	}
	log.Info("stopped")
	return nil
}

// openStore opens the configured store. Its type is the concrete one: the
// webchat streams live in it too.
func openStore(cfg *config.File) (*sqlite.DB, error) {
	switch cfg.Storage.Driver {
	case config.SQLite, "":
		if err := os.MkdirAll(filepath.Dir(cfg.Storage.Path), 0o755); err != nil {
			return nil, fmt.Errorf("storage: %w", err)
		}
		return sqlite.Open(cfg.Storage.Path, sqlite.Options{Synchronous: cfg.Storage.Synchronous})
	default:
		return nil, fmt.Errorf("storage %q is not supported by this build yet; use storage \"sqlite\"", cfg.Storage.Driver)
	}
}

// engineBots turns the config's bots into the engine's.
func engineBots(cfg *config.File) []*engine.Bot {
	var out []*engine.Bot
	for _, b := range cfg.Bots {
		out = append(out, &engine.Bot{
			Name:           b.Name,
			Provider:       b.Provider,
			SessionTimeout: b.SessionTimeout,
			StartTimeout:   b.StartTimeout,
			ExpiredNotice:  host.ExpiredNotice(b.ExpiredNotice),
			TranscriptSize: b.TranscriptSize,
			BotURL:         b.BotURL,
			ChannelURL:     b.ChannelURL,
			Webchat:        b.Channel == config.ChannelWebchat,
			ChannelSecret:  b.ChannelSecret.Value(),
			WebhookToken:   b.WebhookToken.Value(),
			Messages: engine.Messages{
				Start:       b.Messages.Start,
				EndPrompt:   b.Messages.EndPrompt,
				EndButton:   b.Messages.EndButton,
				Unavailable: b.Messages.Unavailable,
			},
		})
	}
	return out
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

// webchatChannel keeps a nil *webchat.Channel from becoming a non-nil
// engine.Channel.
func webchatChannel(c *webchat.Channel) engine.Channel {
	if c == nil {
		return nil
	}
	return c
}
