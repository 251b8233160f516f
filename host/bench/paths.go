package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/livechatd/livechatd/host/engine"
)

const botName = "shop"

// paths measures the bot path and the livechat path: (a) through the real
// livechatd and its echo plugin, (b) in process, (c) the floor.
func (h *harness) paths(ctx context.Context, doBot, doLivechat bool) error {
	b, err := newBot()
	if err != nil {
		return err
	}
	defer b.close()
	ch, err := newChannel()
	if err != nil {
		return err
	}
	defer ch.close()
	params := confParams{BotURL: b.eventsURL(), ChannelURL: ch.deliverURL(), Bots: []botConf{{Name: botName, Provider: "echo"}}}

	dir, err := h.newDir("plugin")
	if err != nil {
		return err
	}
	if err := install(h.echo, dir, "echo"); err != nil {
		return err
	}
	if _, err := h.writeConfig(dir, params); err != nil {
		return err
	}
	d, err := h.start(dir)
	if err != nil {
		return err
	}
	defer d.stop()
	if _, err := d.waitReady(ctx, h.client); err != nil {
		return err
	}
	if doBot {
		if err := h.botPath(ctx, b, d.url()); err != nil {
			return err
		}
	}
	if !doLivechat {
		return d.stop()
	}
	a, err := h.livechat(ctx, "a", "go-plugin", d.url(), ch, true)
	if err != nil {
		return err
	}
	if err := d.stop(); err != nil {
		return err
	}

	dir, err = h.newDir("inprocess")
	if err != nil {
		return err
	}
	cfg, err := h.writeConfig(dir, params)
	if err != nil {
		return err
	}
	stopProfile, err := h.profile()
	if err != nil {
		return err
	}
	ip, err := startInProcess(ctx, cfg)
	if err != nil {
		stopProfile()
		return fmt.Errorf("in process: %w", err)
	}
	bres, err := h.livechat(ctx, "b", "in process", ip.url(), ch, false)
	ip.close(ctx)
	stopProfile()
	if err != nil {
		return err
	}

	p, err := newPlatform(h.client, ch.deliverURL())
	if err != nil {
		return err
	}
	defer p.close()
	h.logf("livechat (c) floor: end to end straight to the platform for %s", h.opts.Duration)
	c := closedLoop(ctx, h.opts.Clients, h.opts.Duration, h.roundTrip(ch, "c", func(ctx context.Context, client, seq int, id string) error {
		return post(ctx, h.client, p.sendURL(), newEvent(fmt.Sprintf("c-u%d", client), id, "text", "text", id), nil)
	}))
	h.rep.add(loadFigure("livechat path", "end to end (c) floor: the generator straight to the platform", "msg/s", c, ""))
	h.rep.add(Figure{Section: "livechat path", Name: "end to end a/b (the plugin boundary)", Value: ratio(a, bres), Unit: "×", Target: "≥ 0.8"})
	h.rep.add(Figure{Section: "livechat path", Name: "end to end a/c (livechatd against the floor)", Value: ratio(a, c), Unit: "×"})
	return nil
}

func ratio(x, y result) float64 {
	if y.rate() == 0 {
		return 0
	}
	return x.rate() / y.rate()
}

func loadFigure(section, name, unit string, r result, target string) Figure {
	f := Figure{Section: section, Name: name, Rate: r.rate(), Unit: unit, P50: r.pct(50), P99: r.pct(99),
		Count: r.n, Errors: r.errs, Target: target}
	var notes []string
	if r.missed > 0 {
		notes = append(notes, fmt.Sprintf("%d of %d due messages not sent: the phase ended first", r.missed, r.missed+r.n+r.errs))
	}
	if r.firstErr != nil {
		notes = append(notes, "first error: "+r.firstErr.Error())
	}
	f.Note = strings.Join(notes, "; ")
	return f
}

// sendEvent posts a signed channel event to livechatd.
func (h *harness) sendEvent(ctx context.Context, base, user, requestID, contentType, key, value string) error {
	body := newEvent(user, requestID, contentType, key, value)
	hdr := http.Header{engine.SignatureHeader: {engine.Signature(channelSecret, body, time.Now())}}
	return post(ctx, h.client, base+"/v1/bots/"+botName+"/events", body, hdr)
}

// botPath: users without a session post events; livechatd forwards each
// to the bot and answers its reply. The same load straight to the bot is
// the floor.
func (h *harness) botPath(ctx context.Context, b *bot, base string) error {
	h.logf("bot path: straight to the bot for %s", h.opts.Duration)
	direct := closedLoop(ctx, h.opts.Clients, h.opts.Duration, func(ctx context.Context, client, seq int) (time.Duration, error) {
		body := newEvent(fmt.Sprintf("bot-u%d", client), fmt.Sprintf("direct-%d-%d", client, seq), "text", "text", "hello")
		hdr := http.Header{engine.SignatureHeader: {engine.Signature(channelSecret, body, time.Now())}}
		t0 := time.Now()
		err := post(ctx, h.client, b.eventsURL(), body, hdr)
		return time.Since(t0), err
	})
	h.logf("bot path: through livechatd for %s", h.opts.Duration)
	through := closedLoop(ctx, h.opts.Clients, h.opts.Duration, func(ctx context.Context, client, seq int) (time.Duration, error) {
		t0 := time.Now()
		err := h.sendEvent(ctx, base, fmt.Sprintf("bot-u%d", client), fmt.Sprintf("bot-%d-%d", client, seq), "text", "text", "hello")
		return time.Since(t0), err
	})
	h.rep.add(loadFigure("bot path", "event → bot → reply, straight to the bot (no livechatd)", "req/s", direct, ""))
	h.rep.add(loadFigure("bot path", "event → livechatd → bot → reply (no session)", "req/s", through, "p99 ≤ 10 ms"))
	h.rep.add(Figure{Section: "bot path", Name: "through livechatd / straight", Value: ratio(through, direct), Unit: "×", Target: "≥ 0.5"})
	return nil
}

// roundTrip is an op that sends message id with send and waits until the
// channel receives the agent's answer to it; the latency ends when the
// channel received it.
func (h *harness) roundTrip(ch *channel, phase string, send func(ctx context.Context, client, seq int, id string) error) op {
	return func(ctx context.Context, client, seq int) (time.Duration, error) {
		id := fmt.Sprintf("%s-%d-%d", phase, client, seq)
		got := ch.expect(id)
		t0 := time.Now()
		if err := send(ctx, client, seq, id); err != nil {
			ch.forget(id)
			return 0, err
		}
		timer := time.NewTimer(requestWindow)
		defer timer.Stop()
		select {
		case at := <-got:
			return at.Sub(t0), nil
		case <-timer.C:
			ch.forget(id)
			return 0, fmt.Errorf("%s: %w", id, errTimeout)
		case <-ctx.Done():
			ch.forget(id)
			return 0, ctx.Err()
		}
	}
}

// livechat runs the livechat path against one host at base: sessions are
// opened for fresh users before each sub-phase, so that no sub-phase
// queues behind another's backlog. full adds the paced phase.
func (h *harness) livechat(ctx context.Context, mode, label, base string, ch *channel, full bool) (result, error) {
	const section = "livechat path"
	open := func(phase string) ([]string, error) {
		users := make([]string, h.opts.Clients)
		before := ch.other.Load()
		for i := range users {
			users[i] = fmt.Sprintf("%s-%s-u%d", mode, phase, i)
			if err := h.sendEvent(ctx, base, users[i], "", "payload", "payload", "LIVECHAT_SESSION_START"); err != nil {
				return nil, fmt.Errorf("start a session: %w", err)
			}
		}
		// Each session starts with the agent's greeting.
		if err := waitUntil(ctx, &ch.changed, time.Minute, func() bool { return ch.other.Load()-before >= int64(len(users)) }); err != nil {
			return nil, fmt.Errorf("greetings of %d new sessions: %w", len(users), err)
		}
		return users, nil
	}
	message := func(users []string) func(ctx context.Context, client, seq int, id string) error {
		return func(ctx context.Context, client, seq int, id string) error {
			return h.sendEvent(ctx, base, users[client], id, "text", "text", id)
		}
	}

	users, err := open("accepted")
	if err != nil {
		return result{}, err
	}
	h.logf("livechat (%s) %s: messages accepted for %s", mode, label, h.opts.Duration)
	before := ch.echoed.Load()
	send := message(users)
	burst := time.Now()
	acc := closedLoop(ctx, h.opts.Clients, h.opts.Duration, func(ctx context.Context, client, seq int) (time.Duration, error) {
		t0 := time.Now()
		err := send(ctx, client, seq, fmt.Sprintf("%s-accepted-%d-%d", mode, client, seq))
		return time.Since(t0), err
	})
	h.rep.add(loadFigure(section, fmt.Sprintf("user message accepted, session open (%s) %s", mode, label), "msg/s", acc, "≥ 10,000 msg/s"))
	// The burst drains: every accepted message reaches the agent, whose
	// answer reaches the channel.
	drainLimit := max(2*time.Minute, 6*h.opts.Duration)
	h.logf("livechat (%s): waiting for the %d answers (at most %s)", mode, acc.n, drainLimit)
	err = waitUntil(ctx, &ch.changed, drainLimit, func() bool { return ch.echoed.Load()-before >= int64(acc.n) })
	drained := time.Unix(0, ch.last.Load()).Sub(burst)
	delivered := ch.echoed.Load() - before
	f := Figure{Section: section, Name: fmt.Sprintf("accepted burst, end to end (%s)", mode), Rate: float64(delivered) / drained.Seconds(), Unit: "msg/s",
		Note: fmt.Sprintf("%d of %d answers delivered %.1f s after the burst began", delivered, acc.n, drained.Seconds())}
	if err != nil {
		f.Note += " (gave up waiting)"
	}
	h.rep.add(f)

	if users, err = open("e2e"); err != nil {
		return result{}, err
	}
	h.logf("livechat (%s) %s: end to end, %d clients, for %s", mode, label, h.opts.Clients, h.opts.Duration)
	e2e := closedLoop(ctx, h.opts.Clients, h.opts.Duration, h.roundTrip(ch, mode+"-e2e", message(users)))
	h.rep.add(loadFigure(section, fmt.Sprintf("end to end (%s) %s: channel → platform → channel", mode, label), "msg/s", e2e, "≥ 5,000 msg/s"))
	if !full {
		return e2e, nil
	}
	if users, err = open("paced"); err != nil {
		return result{}, err
	}
	h.logf("livechat (%s) %s: end to end at %d msg/s for %s", mode, label, h.opts.Rate, h.opts.Duration)
	pr := paced(ctx, h.opts.Clients, h.opts.Rate, h.opts.Duration, h.roundTrip(ch, mode+"-paced", message(users)))
	h.rep.add(loadFigure(section, fmt.Sprintf("end to end (%s) paced at %d msg/s", mode, h.opts.Rate), "msg/s", pr, "p99 ≤ 20 ms at 2,000 msg/s"))
	return e2e, nil
}

// profile starts the CPU profile of Options.CPUProfile, if any; the
// function it returns stops it.
func (h *harness) profile() (func(), error) {
	if h.opts.CPUProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(h.opts.CPUProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	h.logf("CPU profile of the in-process mode: %s", h.opts.CPUProfile)
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
