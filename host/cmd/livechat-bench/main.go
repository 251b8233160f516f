// Command livechat-bench is `make bench`: it runs the load harness of
// host/bench against the real livechatd and echo provider, prints one table
// of figures measured in the same run and writes them as JSON. See
// BENCHMARKS.md.
//
//	livechat-bench [-bin bin] [-short] [-duration 10s] [-json bench.json] …
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/livechatd/livechatd/host/bench"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("livechat-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := fs.Bool("short", false, "a run of seconds with small counts (what CI runs); flags given as well override it")
	d := bench.Defaults()
	opts := d
	fs.StringVar(&opts.BinDir, "bin", "", "take livechatd and plugins/livechat-provider-echo from this directory (make build's bin); empty: build them")
	fs.StringVar(&opts.WorkDir, "work", "", "keep configs, databases and logs here (default: a temporary directory, removed)")
	fs.IntVar(&opts.Clients, "clients", d.Clients, "clients posting at once")
	fs.DurationVar(&opts.Duration, "duration", d.Duration, "length of each load phase")
	fs.IntVar(&opts.Rate, "rate", d.Rate, "messages per second of the paced end-to-end phase")
	fs.IntVar(&opts.Stored, "stored", d.Stored, "expiry: sessions stored")
	fs.IntVar(&opts.Due, "due", d.Due, "expiry: sessions due at once")
	fs.DurationVar(&opts.ExpiryTimeout, "expiry-timeout", d.ExpiryTimeout, "expiry: give up waiting after this long")
	fs.IntVar(&opts.Idle, "idle", d.Idle, "memory: idle sessions")
	fs.IntVar(&opts.IdleBase, "idle-base", d.IdleBase, "memory: idle sessions of the baseline")
	fs.DurationVar(&opts.Settle, "settle", d.Settle, "memory: how long livechatd runs idle before its RSS is read")
	fs.DurationVar(&opts.ExpiryLead, "expiry-lead", d.ExpiryLead, "expiry: the due time is this long after seeding (time for livechatd to start)")
	fs.IntVar(&opts.Plugins, "plugins", d.Plugins, "start-up: plugins in plugin_dir")
	fs.IntVar(&opts.Starts, "starts", d.Starts, "start-up: starts timed (the median is reported)")
	fs.StringVar(&opts.Synchronous, "synchronous", d.Synchronous, `SQLite synchronous level: "normal" or "full"`)
	fs.StringVar(&opts.PostgresDSN, "postgres", "", "postgres phase: a PostgreSQL server's URL (each row creates a database on it); empty: a throwaway cluster (initdb, as make test does)")
	phases := fs.String("phases", "", "comma-separated phases to run: startup, bot, livechat, memory, expiry, backlog, postgres (default all)")
	jsonPath := fs.String("json", "bench.json", "write the figures here as JSON (empty: do not)")
	fs.StringVar(&opts.CPUProfile, "cpuprofile", "", "write a CPU profile of the in-process mode (b) here: livechatd's host code under the livechat path's load (go tool pprof FILE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *short {
		s := bench.Short()
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range map[string]func(){
			"clients": func() { opts.Clients = s.Clients }, "duration": func() { opts.Duration = s.Duration },
			"rate": func() { opts.Rate = s.Rate }, "stored": func() { opts.Stored = s.Stored },
			"due": func() { opts.Due = s.Due }, "expiry-timeout": func() { opts.ExpiryTimeout = s.ExpiryTimeout },
			"idle": func() { opts.Idle = s.Idle }, "idle-base": func() { opts.IdleBase = s.IdleBase },
			"plugins": func() { opts.Plugins = s.Plugins }, "settle": func() { opts.Settle = s.Settle },
			"expiry-lead": func() { opts.ExpiryLead = s.ExpiryLead }, "starts": func() { opts.Starts = s.Starts },
		} {
			if !set[name] {
				v()
			}
		}
	}
	if *phases != "" {
		opts.Phases = strings.Split(*phases, ",")
	}
	opts.Log = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, opts)
	if rep != nil && len(rep.Figures) > 0 {
		fmt.Fprint(stdout, rep.Table())
		if *jsonPath != "" {
			if werr := rep.WriteJSON(*jsonPath); werr != nil {
				fmt.Fprintln(stderr, "livechat-bench:", werr)
				return 1
			}
			fmt.Fprintf(stderr, "bench: figures written to %s\n", *jsonPath)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "livechat-bench:", err)
		return 1
	}
	return 0
}
