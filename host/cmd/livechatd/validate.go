package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/host/postgres"
)

// validate checks the file, then launches the plugins the bots use to check
// each provider block against its schema and the plugin's own rules.
func validate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	path, err := flags("validate", args, stderr, nil)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return diagnosticsOut(err, stderr)
	}
	if err := checkStorage(cfg); err != nil {
		return printDiagnostics(stderr, err.Error())
	}
	m, err := startPlugins(ctx, cfg, newLogger("error", stderr))
	if err != nil {
		return err
	}
	defer stopPlugins(m)
	if diags := configureBots(ctx, cfg, m, false); diags.HasErrors() {
		return printDiagnostics(stderr, config.Format(diags))
	}
	// Weak secrets are warnings here, whatever listen is: serve decides.
	if diags := weakSecrets(cfg, m, false); len(diags) > 0 {
		fmt.Fprintln(stderr, config.Format(diags))
	}
	fmt.Fprintf(stdout, "%s: ok (%d bots)\n", path, len(cfg.Bots))
	return nil
}

// errReported: the diagnostics are printed already; exit 1 without more.
var errReported = errors.New("the configuration has errors")

// diagnosticsOut prints config diagnostics as they are (file:line:col:
// message lines) and returns errReported; other errors are returned.
func diagnosticsOut(err error, stderr io.Writer) error {
	var cerr *config.Error
	if errors.As(err, &cerr) {
		return printDiagnostics(stderr, cerr.Error())
	}
	return err
}

// printDiagnostics prints file:line:col: message lines and returns
// errReported.
func printDiagnostics(stderr io.Writer, text string) error {
	text = strings.TrimRight(text, "\n")
	fmt.Fprintln(stderr, text)
	return errReported
}

// checkStorage checks what config.Load cannot: that a postgres dsn parses
// (without connecting). The message names the block, never the dsn.
func checkStorage(cfg *config.File) error {
	if cfg.Storage.Driver != config.Postgres {
		return nil
	}
	if err := postgres.CheckDSN(cfg.Storage.DSN.Value()); err != nil {
		r := cfg.Storage.DeclRange
		return fmt.Errorf("%s:%d:%d: dsn in storage %q does not parse as a PostgreSQL connection string (URL or key=value form)",
			r.Filename, r.Start.Line, r.Start.Column, config.Postgres)
	}
	return nil
}
