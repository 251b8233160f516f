package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"

	"github.com/livechatd/livechatd/config"
)

// webhookURL prints what the operator enters in the platform so that its
// webhooks reach this bot: the URL with the bot's token, and the header
// form of the token for platforms that take custom headers.
func webhookURL(_ context.Context, args []string, stdout, stderr io.Writer) error {
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
		return fmt.Errorf("-bot BOT is required; bots in %s: %v", path, botNames(cfg))
	}
	b, ok := cfg.Bot(bot)
	if !ok {
		return fmt.Errorf("no bot %q in %s; bots: %v", bot, path, botNames(cfg))
	}
	base := cfg.PublicURL + "/v1/livechat/" + url.PathEscape(b.Provider) + "/receive"
	token := b.WebhookToken.Value()
	fmt.Fprintf(stdout, "URL:     %s?token=%s\n", base, url.QueryEscape(token))
	fmt.Fprintf(stdout, "Method:  GET or POST\n")
	fmt.Fprintf(stdout, "Or send the token as a header instead of in the URL:\n")
	fmt.Fprintf(stdout, "URL:     %s\n", base)
	fmt.Fprintf(stdout, "Header:  X-Livechat-Token: %s\n", token)
	return nil
}

func botNames(cfg *config.File) []string {
	var names []string
	for _, b := range cfg.Bots {
		names = append(names, b.Name)
	}
	return names
}
