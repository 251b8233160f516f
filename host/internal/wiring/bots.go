// Package wiring turns a loaded config into the parts livechatd runs,
// for serve and for the load harness's in-process mode alike, so the two
// cannot drift apart.
package wiring

import (
	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/sdk"
)

// EngineBots turns the config's bots into the engine's: what serve runs,
// and what the load harness runs in process.
func EngineBots(cfg *config.File) []*engine.Bot {
	var out []*engine.Bot
	for _, b := range cfg.Bots {
		out = append(out, &engine.Bot{
			Name:           b.Name,
			Provider:       b.Provider,
			SessionTimeout: b.SessionTimeout,
			StartTimeout:   b.StartTimeout,
			ExpiredNotice:  host.ExpiredNotice(b.ExpiredNotice),
			TranscriptSize: b.TranscriptSize,
			BotURL:         b.BotURL,
			ChannelURL:     b.ChannelURL,
			Webchat:        b.Channel == config.ChannelWebchat,
			ChannelSecret:  b.ChannelSecret.Value(),
			InsecureEvents: b.InsecureEvents,
			EventTolerance: b.EventTolerance,
			WebhookToken:   b.WebhookToken.Value(),
			Messages: engine.Messages{
				Start:       b.Messages.Start,
				EndPrompt:   b.Messages.EndPrompt,
				EndButton:   b.Messages.EndButton,
				Unavailable: b.Messages.Unavailable,
			},
			Reconcile: engineReconcile(b.Reconcile),
		})
	}
	return out
}

// engineReconcile turns a bot's reconcile block into the engine's settings.
func engineReconcile(r config.Reconcile) engine.Reconcile {
	if !r.Enabled {
		return engine.Reconcile{}
	}
	return engine.Reconcile{Interval: r.Interval, RateLimit: sdk.RateLimit{Calls: r.RateLimitCalls, Per: r.RateLimitPer}}
}
