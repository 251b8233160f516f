// Command gorgias-sandbox runs a fake Gorgias account on your machine: the
// REST API a provider plugin uses (under /api/), HTTP integrations that call
// your livechatd back, and an agent desk in the browser (/desk) where you
// play the agent: reply, add internal notes, apply the "Sign off" macro,
// close and reopen tickets.
//
//	gorgias-sandbox -listen 127.0.0.1:7000 \
//	  -integration-url 'http://127.0.0.1:8080/v1/livechat/gorgias/receive?token=T&external_id={{ticket.external_id}}&ticket_id={{ticket.id}}&event_type={{event.type}}&event_id={{event.id}}&message_id={{event.object_id}}&text={{message.body_text}}&from_agent={{message.from_agent}}'
//
// Point the bot's provider config at it with
// base_url = "http://127.0.0.1:7000/api/" and the -email / -api-key values.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/livechatd/livechatd/plugins/gorgias/sandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// headerFlags collects repeated -integration-header "Name: value".
type headerFlags map[string]string

func (h headerFlags) String() string { return fmt.Sprint(map[string]string(h)) }

func (h headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return errors.New(`want "Name: value"`)
	}
	h[strings.TrimSpace(name)] = strings.TrimSpace(value)
	return nil
}

// Main runs the sandbox until ctx is done; it returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gorgias-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:7000", "address to listen on")
	email := fs.String("email", sandbox.DefaultEmail, "API user email (HTTP Basic user name)")
	apiKey := fs.String("api-key", sandbox.DefaultAPIKey, "API key (HTTP Basic password)")
	intURL := fs.String("integration-url", "", "create an HTTP integration calling this URL template at start")
	intMethod := fs.String("integration-method", "GET", "the integration's HTTP method")
	intTriggers := fs.String("integration-triggers", sandbox.TriggerTicketMessageCreated, "comma-separated triggers of the integration")
	intBody := fs.String("integration-body", "", "the integration's body template (JSON), for POST")
	headers := headerFlags{}
	fs.Var(headers, "integration-header", `a header of the integration, "Name: value" (repeatable)`)
	capacity := fs.Int("bucket-capacity", 40, "rate limit: leaky bucket capacity (-1: no limit)")
	leak := fs.Float64("leak-rate", 2, "rate limit: calls leaked per second")
	maxFailures := fs.Int("max-failures", 100, "failed deliveries in a row that deactivate an integration")
	quiet := fs.Bool("quiet", false, "do not log requests and deliveries")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: gorgias-sandbox [flags]\n\nA fake Gorgias: REST API at /api/, agent desk at /desk.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gorgias-sandbox: unexpected arguments %q\n", fs.Args())
		return 2
	}

	level := slog.LevelInfo
	if *quiet {
		level = slog.LevelWarn
	}
	sb := sandbox.New(sandbox.Options{
		Accounts:               map[string]string{*email: *apiKey},
		BucketCapacity:         *capacity,
		LeakPerSecond:          *leak,
		MaxConsecutiveFailures: *maxFailures,
		Logger:                 slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	if *intURL != "" {
		triggers := map[string]bool{}
		for _, t := range strings.Split(*intTriggers, ",") {
			if t = strings.TrimSpace(t); t != "" {
				triggers[t] = true
			}
		}
		_, err := sb.CreateIntegration(sandbox.Integration{Name: "livechatd", Type: "http", HTTP: sandbox.HTTPConfig{
			URL: *intURL, Method: *intMethod, Headers: headers, Body: *intBody, Triggers: triggers}})
		if err != nil {
			fmt.Fprintf(stderr, "gorgias-sandbox: integration: %v\n", err)
			return 2
		}
	}
	if err := sb.Open(*listen); err != nil {
		fmt.Fprintf(stderr, "gorgias-sandbox: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Gorgias sandbox\n")
	fmt.Fprintf(stdout, "API   %s  (HTTP Basic %s / %s)\n", sb.BaseURL(), *email, *apiKey)
	fmt.Fprintf(stdout, "desk  %s\n", sb.DeskURL())
	for _, in := range sb.Integrations() {
		fmt.Fprintf(stdout, "integration #%d: %s %s (%s)\n", in.ID, in.HTTP.Method, in.HTTP.URL, *intTriggers)
	}
	<-ctx.Done()
	fmt.Fprintf(stdout, "stopping\n")
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sb.Shutdown(shutdown); err != nil {
		fmt.Fprintf(stderr, "gorgias-sandbox: shutdown: %v\n", err)
		return 1
	}
	return 0
}
