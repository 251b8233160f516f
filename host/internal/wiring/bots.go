// Package wiring turns a loaded config into the parts livechatd runs,
// for serve and for the load harness's in-process mode alike, so the two
// cannot drift apart.
package wiring

import (
	"time"

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

				Closed:        b.Messages.Closed,
				Offline:       b.Messages.Offline,
				AgentJoined:   b.Messages.AgentJoined,
				QueuePosition: b.Messages.QueuePosition,
				ExpectedWait:  b.Messages.ExpectedWait,
				Ended:         b.Messages.Ended,
			},
			Reconcile: engineReconcile(b.Reconcile),
			Waiting:   engineWaiting(b.Waiting),
			Hours:     engineHours(b.Hours),
			CSAT:      engineCSAT(b.CSAT),
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

// engineWaiting turns a bot's waiting block into the engine's settings.
func engineWaiting(w config.Waiting) engine.Waiting {
	if !w.Enabled {
		return engine.Waiting{}
	}
	return engine.Waiting{Every: w.StillWaitingEvery, MaxWait: w.MaxWait, Message: w.Message, NoAgent: w.NoAgent}
}

// engineHours turns a bot's hours block into the engine's; nil: always open.
func engineHours(h *config.Hours) *engine.Hours {
	if h == nil {
		return nil
	}
	out := &engine.Hours{Location: h.Location, Weekly: map[time.Weekday][]engine.Span{}, Holidays: map[string]bool{}, OfflineTicket: h.OfflineTicket}
	for day, spans := range h.Weekly {
		for _, s := range spans {
			out.Weekly[day] = append(out.Weekly[day], engine.Span{From: s.From, To: s.To})
		}
	}
	for _, d := range h.Holidays {
		out.Holidays[d] = true
	}
	return out
}

// engineCSAT turns a bot's csat block into the engine's; nil: no rating.
func engineCSAT(c *config.CSAT) *engine.CSAT {
	if c == nil {
		return nil
	}
	return &engine.CSAT{Question: c.Question, Scale: c.Scale, Labels: c.Labels, Thanks: c.Thanks}
}
