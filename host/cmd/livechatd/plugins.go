package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/livechatd/livechatd/config"
)

// plugins lists the plugins of plugin_dir: name, version, protocol, sha256
// and status, refused ones with the reason.
func plugins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var asJSON bool
	path, err := flags("plugins", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return diagnosticsOut(err, stderr)
	}
	m, err := startPlugins(ctx, cfg, newLogger("off", stderr))
	if err != nil {
		return err
	}
	defer stopPlugins(m)
	statuses := m.Statuses()
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"plugin_dir": cfg.PluginDir, "plugins": statuses})
	}
	if len(statuses) == 0 {
		fmt.Fprintf(stdout, "no plugins in %s (files named livechat-provider-<name>)\n", cfg.PluginDir)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tPROTOCOL\tSHA256\tSTATUS")
	for _, s := range statuses {
		status := string(s.State)
		if s.State == "ready" {
			status = "ok"
		}
		if s.Reason != "" {
			status += ": " + s.Reason
		}
		proto := "-"
		if s.Protocol > 0 {
			proto = fmt.Sprint(s.Protocol)
		}
		version := s.Version
		if version == "" {
			version = "-"
		}
		sum := s.SHA256
		if sum == "" {
			sum = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, version, proto, sum, status)
	}
	return tw.Flush()
}
