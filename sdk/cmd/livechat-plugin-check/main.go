// Command livechat-plugin-check runs sdktest's conformance suite against a
// built provider plugin and prints a report: pass or FAIL per check, and
// under each failure what to fix. It exits 1 when a check failed.
//
//	livechat-plugin-check -config bot.json ./livechat-provider-acme
//
// bot.json is one bot's config block as JSON. Without a fake of the
// platform the command runs the checks that need none (the process, Info,
// config, webhooks it cannot parse, stdout, Shutdown, secrets); the
// lifecycle checks need a Platform adapter, in a Go test calling
// sdktest.Conformance.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/livechatd/livechatd/sdk"
	"github.com/livechatd/livechatd/sdk/sdktest"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("livechat-plugin-check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "a JSON file with one bot's config block (required)")
	timeout := fs.Duration("timeout", 20*time.Second, "how long to wait for the plugin in each check")
	shutdown := fs.Duration("shutdown-deadline", 5*time.Second, "the deadline Shutdown must return within")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: livechat-plugin-check -config bot.json ./livechat-provider-<name>")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 || *configPath == "" {
		fs.Usage()
		return 2
	}
	raw, err := os.ReadFile(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "livechat-plugin-check: %v\n", err)
		return 2
	}
	var cfg sdk.Config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		fmt.Fprintf(stderr, "livechat-plugin-check: -config %s: not a JSON object: %v\n", *configPath, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rep := sdktest.Check(ctx, sdktest.Suite{Binary: fs.Arg(0), Config: cfg,
		Options: sdktest.Options{Timeout: *timeout, ShutdownDeadline: *shutdown}})
	fmt.Fprintf(stdout, "%s\n", fs.Arg(0))
	rep.Write(stdout)
	if len(rep.Failed()) > 0 {
		return 1
	}
	return 0
}
