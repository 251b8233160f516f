package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/sdk"
)

// webhookURL prints what the operator enters in the platform so that its
// webhooks reach this bot: for each webhook the provider describes for the
// bot (sdk.WebhookDescriber, else Info.Webhooks), the URL with the bot's
// token, the method, the triggers, headers and body.
func webhookURL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var bot string
	path, err := flags("webhook-url", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&bot, "bot", "", "the bot (required)")
	})
	if err != nil {
		return err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return diagnosticsOut(err, stderr)
	}
	if bot == "" {
		return fmt.Errorf("-bot BOT is required; bots in %s: %s", path, strings.Join(botNames(cfg), ", "))
	}
	b, ok := cfg.Bot(bot)
	if !ok {
		return fmt.Errorf("no bot %q in %s; bots: %s", bot, path, strings.Join(botNames(cfg), ", "))
	}
	m, err := startPlugins(ctx, cfg, newLogger("off", stderr))
	if err != nil {
		return err
	}
	defer stopPlugins(m)
	p, err := m.Plugin(b.Provider)
	if err != nil {
		return err
	}
	// The provider may build the setup from the bot's config (a URL on the
	// bot's own platform domain); else it is the Info's, the same for
	// every bot.
	pcfg, diags := b.DecodeConfig(p.Info().Schema)
	if diags.HasErrors() {
		return printDiagnostics(stderr, config.Format(diags))
	}
	hooks, err := p.DescribeWebhooks(ctx, b.Name, pcfg)
	if err != nil {
		return fmt.Errorf("bot %q: provider %q: describe webhooks: %w", b.Name, b.Provider, err)
	}
	base := cfg.PublicURL + "/v1/livechat/" + url.PathEscape(b.Provider) + "/receive?token=" + url.QueryEscape(b.WebhookToken.Value())
	printWebhooks(stdout, b.Provider, base, hooks)
	return nil
}

// printWebhooks writes the setup of each webhook; a provider that describes
// none gets the plain URL.
func printWebhooks(w io.Writer, provider, base string, hooks []sdk.WebhookSetup) {
	if len(hooks) == 0 {
		fmt.Fprintf(w, "URL:     %s\n", base)
		fmt.Fprintf(w, "Method:  GET or POST (the token may also be sent as the header X-Livechat-Token)\n")
		return
	}
	for i, h := range hooks {
		if i > 0 {
			fmt.Fprintln(w)
		}
		need := "required"
		if h.Optional {
			need = "optional"
		}
		fmt.Fprintf(w, "# %s %s webhook (%s)\n", provider, h.Name, need)
		if h.Instructions != "" {
			fmt.Fprintf(w, "# %s\n", h.Instructions)
		}
		u := base
		if h.Query != "" {
			u += "&" + h.Query
		}
		fmt.Fprintf(w, "URL:      %s\n", u)
		fmt.Fprintf(w, "Method:   %s\n", h.Method)
		if len(h.Triggers) > 0 {
			fmt.Fprintf(w, "Triggers: %s\n", strings.Join(h.Triggers, ", "))
		}
		keys := make([]string, 0, len(h.Headers))
		for k := range h.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "Header:   %s: %s\n", k, h.Headers[k])
		}
		if h.Body != "" {
			fmt.Fprintf(w, "Body:\n%s\n", h.Body)
		}
	}
}

func botNames(cfg *config.File) []string {
	var names []string
	for _, b := range cfg.Bots {
		names = append(names, b.Name)
	}
	return names
}
