package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/livechatd/livechatd/config"
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
