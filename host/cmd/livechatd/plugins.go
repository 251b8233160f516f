package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/host/pluginhost"
	"github.com/livechatd/livechatd/sdk"
)

// plugins lists the plugins of plugin_dir: name, version, protocol, sha256
// and status, refused ones with the reason. It exits 1 when any of them
// failed to start, after printing the whole list, so a deploy script can
// check the directory without reading the table.
func plugins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	err := listPlugins(ctx, args, stdout, stderr)
	var f failedPlugins
	if errors.As(err, &f) {
		fmt.Fprintf(stderr, "livechatd plugins: %d of %d plugins failed to start: %s\n", len(f.names), f.of, strings.Join(f.names, ", "))
		return errReported
	}
	return err
}

// failedPlugins is listPlugins' answer when it printed the list and some
// plugins in it failed.
type failedPlugins struct {
	names []string
	of    int
}

func (f failedPlugins) Error() string { return strings.Join(f.names, ", ") + " failed to start" }

func listPlugins(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
	failed := failedPlugins{of: len(statuses)}
	for _, s := range statuses {
		if s.State != pluginhost.StateReady {
			failed.names = append(failed.names, s.Name)
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"plugin_dir": cfg.PluginDir, "plugins": statuses}); err != nil {
			return err
		}
		return failed.err()
	}
	if len(statuses) == 0 {
		fmt.Fprintf(stdout, "no plugins in %s (files named livechat-provider-<name>)\n", cfg.PluginDir)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tPROTOCOL\tSHA256\tCAPABILITIES\tSTATUS")
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, version, proto, sum, capabilities(s.Capabilities), status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return failed.err()
}

// capabilities lists a plugin's capabilities, comma-separated, the known
// ones in sdk.KnownCapabilities' order and any other after them; "-" for
// none. They say what the host can rely on the platform for
// (docs/handoff.md).
func capabilities(cs []sdk.Capability) string {
	var out []string
	for _, c := range sdk.KnownCapabilities {
		if slices.Contains(cs, c) {
			out = append(out, string(c))
		}
	}
	for _, c := range cs {
		if !slices.Contains(sdk.KnownCapabilities, c) && !slices.Contains(out, string(c)) {
			out = append(out, string(c))
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ",")
}

func (f failedPlugins) err() error {
	if len(f.names) == 0 {
		return nil
	}
	return f
}
