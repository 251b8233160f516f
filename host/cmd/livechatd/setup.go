package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/host/pluginhost"
	"github.com/livechatd/livechatd/sdk"
)

func newLogger(level string, w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   "livechatd",
		Level:  hclog.LevelFromString(level),
		Output: w,
	})
}

// startPlugins discovers and launches every plugin of plugin_dir.
func startPlugins(ctx context.Context, cfg *config.File, log hclog.Logger) (*pluginhost.Manager, error) {
	pins := map[string]string{}
	for _, p := range cfg.Plugins {
		pins[p.Name] = p.SHA256
	}
	m := pluginhost.New(pluginhost.Options{
		Dir:              cfg.PluginDir,
		Pins:             pins,
		RequireChecksums: cfg.RequireChecksums,
		Logger:           log.Named("plugin"),
	})
	if err := m.Load(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// stopPlugins stops every plugin process, within a deadline.
func stopPlugins(m *pluginhost.Manager) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = m.Close(ctx)
}

// configureBots checks each bot's provider block against its plugin's
// schema, has the plugin check it, and with apply configures the plugin
// with it. Every problem is a diagnostic at its place in the file.
func configureBots(ctx context.Context, cfg *config.File, m *pluginhost.Manager, apply bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i := range cfg.Bots {
		b := &cfg.Bots[i]
		p, err := m.Plugin(b.Provider)
		if err == nil && p.Status().State == pluginhost.StateFailed {
			err = fmt.Errorf("provider %q failed to start: %s", b.Provider, p.Status().Reason)
		}
		if err != nil {
			r := b.AttrRange("provider")
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("bot %q: %v", b.Name, err), Subject: &r})
			continue
		}
		pcfg, ds := b.DecodeConfig(p.Info().Schema)
		diags = append(diags, ds...)
		if ds.HasErrors() {
			continue
		}
		var pds sdk.Diagnostics
		if apply {
			pds, err = p.Configure(ctx, b.Name, pcfg)
		} else {
			pds, err = p.ValidateConfig(ctx, b.Name, pcfg)
		}
		if err != nil {
			r := b.AttrRange("provider")
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf("bot %q: provider %q: %v", b.Name, b.Provider, err), Subject: &r})
			continue
		}
		diags = append(diags, b.ConfigDiagnostics(pds)...)
	}
	return diags
}
