package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// startup times livechatd from exec to a 200 on /readyz (the store
// answers and every plugin a bot uses is ready) with Plugins plugins in
// plugin_dir, each used by a bot: the echo provider and copies of its
// twin named echo1, echo2… (the host refuses a file whose name differs
// from the name the plugin gives, so plain copies of the echo binary would
// not load).
func (h *harness) startup(ctx context.Context) error {
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
	dir, err := h.newDir("startup")
	if err != nil {
		return err
	}
	params := confParams{BotURL: b.eventsURL(), ChannelURL: ch.deliverURL()}
	for i := range h.opts.Plugins {
		name, src := "echo", h.echo
		if i > 0 {
			name, src = fmt.Sprintf("echo%d", i), h.namedEcho
		}
		if err := install(src, dir, name); err != nil {
			return err
		}
		params.Bots = append(params.Bots, botConf{Name: fmt.Sprintf("bot%d", i), Provider: name})
	}
	if _, err := h.writeConfig(dir, params); err != nil {
		return err
	}
	var took []time.Duration
	for i := range h.opts.Starts {
		d, err := h.start(dir)
		if err != nil {
			return err
		}
		t, err := d.waitReady(ctx, h.client)
		if stopErr := d.stop(); err == nil {
			err = stopErr
		}
		if err != nil {
			return err
		}
		h.logf("start-up %d: ready after %s", i+1, t.Round(time.Millisecond))
		took = append(took, t)
	}
	slices.Sort(took)
	med := took[len(took)/2]
	note := fmt.Sprintf("median of %d starts (the first creates the database)", len(took))
	h.rep.add(Figure{Section: "start-up", Name: fmt.Sprintf("exec → /readyz 200, %d plugins", h.opts.Plugins),
		Value: float64(med.Microseconds()) / 1000, Unit: "ms", Target: "< 1,000 ms", Note: note})
	return nil
}

// memory: livechatd's resident set with IdleBase idle sessions stored,
// then with Idle, each measured once it is ready and has run a few
// expiry passes (one a second) over them.
func (h *harness) memory(ctx context.Context) error {
	var rss []int
	for _, n := range []int{h.opts.IdleBase, h.opts.Idle} {
		kb, err := h.idleRSS(ctx, n)
		if err != nil {
			return err
		}
		rss = append(rss, kb)
		h.rep.add(Figure{Section: "memory", Name: fmt.Sprintf("livechatd RSS, %s idle sessions", thousands(float64(n))),
			Value: float64(kb) / 1024, Unit: "MB", Note: "VmRSS, plugin processes not included"})
	}
	h.rep.add(Figure{Section: "memory", Name: "RSS difference", Value: float64(rss[1]-rss[0]) / 1024, Unit: "MB", Target: "≤ 20 MB"})
	return nil
}

func (h *harness) idleRSS(ctx context.Context, n int) (int, error) {
	b, err := newBot()
	if err != nil {
		return 0, err
	}
	defer b.close()
	ch, err := newChannel()
	if err != nil {
		return 0, err
	}
	defer ch.close()
	dir, err := h.newDir(fmt.Sprintf("idle-%d", n))
	if err != nil {
		return 0, err
	}
	if err := install(h.echo, dir, "echo"); err != nil {
		return 0, err
	}
	if _, err := h.writeConfig(dir, confParams{BotURL: b.eventsURL(), ChannelURL: ch.deliverURL(), Bots: []botConf{{Name: botName, Provider: "echo"}}}); err != nil {
		return 0, err
	}
	began := time.Now()
	if err := seed(ctx, filepath.Join(dir, "data", "livechat.db"), botName, n); err != nil {
		return 0, err
	}
	h.logf("memory: seeded %d idle sessions in %s", n, time.Since(began).Round(time.Millisecond))
	d, err := h.start(dir)
	if err != nil {
		return 0, err
	}
	defer d.stop()
	if _, err := d.waitReady(ctx, h.client); err != nil {
		return 0, err
	}
	// Sample through the settle window; report the last reading.
	var kb int
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	end := time.NewTimer(h.opts.Settle)
	defer end.Stop()
	for done := false; !done; {
		select {
		case <-tick.C:
		case <-end.C:
			done = true
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if kb, err = d.rssKB(); err != nil {
			return 0, err
		}
	}
	h.logf("memory: %d idle sessions, RSS %d kB", n, kb)
	return kb, d.stop()
}

// expiry: Stored open sessions, Due of them due at the same instant; how
// long until all the due ones are expired and the bot has heard
// LIVECHAT_SESSION_EXPIRED for each (expired_notice = "immediate").
func (h *harness) expiry(ctx context.Context) error {
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
	dir, err := h.newDir("expiry")
	if err != nil {
		return err
	}
	if err := install(h.echo, dir, "echo"); err != nil {
		return err
	}
	if _, err := h.writeConfig(dir, confParams{BotURL: b.eventsURL(), ChannelURL: ch.deliverURL(), Bots: []botConf{{Name: botName, Provider: "echo"}}}); err != nil {
		return err
	}
	db := filepath.Join(dir, "data", "livechat.db")
	began := time.Now()
	if err := seed(ctx, db, botName, h.opts.Stored); err != nil {
		return err
	}
	h.logf("expiry: seeded %d sessions in %s", h.opts.Stored, time.Since(began).Round(time.Millisecond))
	// The due time is set once the seeding is done, so that the lead is
	// what livechatd gets to start.
	dueAt := time.Now().Add(h.opts.ExpiryLead)
	if err := markDue(ctx, db, h.opts.Due, dueAt); err != nil {
		return err
	}
	d, err := h.start(dir)
	if err != nil {
		return err
	}
	defer d.stop()
	ready, err := d.waitReady(ctx, h.client)
	if err != nil {
		return err
	}
	from := dueAt
	note := ""
	if late := time.Since(dueAt); late > 0 {
		note = fmt.Sprintf("livechatd was ready %.1f s after the due time; timed from the due time. ", late.Seconds())
	}
	h.logf("expiry: ready after %s; %d sessions come due at %s", ready.Round(time.Millisecond), h.opts.Due, dueAt.Format("15:04:05.000"))
	err = waitUntil(ctx, &b.changed, time.Until(dueAt)+h.opts.ExpiryTimeout, func() bool { return b.expired.Load() >= int64(h.opts.Due) })
	took := time.Since(from)
	told := b.expired.Load()
	expired, cerr := countExpired(ctx, db)
	if cerr != nil {
		return cerr
	}
	f := Figure{Section: "expiry", Name: fmt.Sprintf("%s stored, %s due at once: all expired and the bot told", thousands(float64(h.opts.Stored)), thousands(float64(h.opts.Due))),
		Value: took.Seconds(), Unit: "s", Target: "≥ 50,000 sessions/s"}
	f.Note = note + fmt.Sprintf("%s sessions/s; %d expired, %d told", thousands(float64(told)/took.Seconds()), expired, told)
	if err != nil {
		f.Note += fmt.Sprintf(" — gave up after %s", h.opts.ExpiryTimeout)
		f.Errors = h.opts.Due - int(told)
	}
	h.rep.add(f)
	return d.stop()
}
