package config

import (
	"fmt"
	"math"
	"math/big"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/livechatd/livechatd/host/redact"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// botSource is what a Bot keeps of the file for the second phase.
type botSource struct {
	// attrs are the ranges of the bot block's attributes.
	attrs map[string]hcl.Range
	// config is the provider's block; nil when the bot has none.
	config *hclsyntax.Body
	// configRange is the config block's header.
	configRange hcl.Range
	ctx         *hcl.EvalContext
}

var nameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

var logLevels = []string{"trace", "debug", "info", "warn", "error"}

// Where attributes and blocks are accepted, and how they are named in
// messages.
var (
	topSection = section{
		attrs:  []string{"listen", "public_url", "plugin_dir", "log_level", "admin_token", "require_checksums"},
		blocks: []string{"storage", "plugin", "bot", "retention", "limits"},
	}
	retentionAttrs = []string{
		"done_work", "dead_letters", "processed_events", "requests", "transcripts", "webchat_streams",
		"uploads", "interval", "batch",
	}
	botAttrs = []string{
		"provider", "session_timeout", "start_timeout", "expired_notice", "transcript_size",
		"bot_url", "channel_url", "channel", "channel_secret", "webhook_token",
		"insecure_events", "event_tolerance",
	}
	botBlocks      = []string{"messages", "config", "reconcile", "waiting", "hours", "csat", "webchat"}
	messagesAttrs  = append([]string{"start", "end_prompt", "end_button", "unavailable"}, handoffMessages...)
	reconcileAttrs = []string{"enabled", "interval", "rate_limit"}
)

// section is a body's accepted names, and " in <what>" for messages.
type section struct {
	in     string
	attrs  []string
	blocks []string
}

// decoder decodes one file, collecting diagnostics as it goes on.
type decoder struct {
	ctx   *hcl.EvalContext
	dir   string
	diags hcl.Diagnostics
}

func decodeFile(filename string, src []byte, o options) (*File, hcl.Diagnostics) {
	hf, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		// What follows a syntax error is guesswork: report only the syntax.
		return nil, finish(diags)
	}
	body, ok := hf.Body.(*hclsyntax.Body)
	if !ok {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "not a native HCL file"}}
	}
	if diags := checkNumbers(body); diags.HasErrors() {
		return nil, finish(diags)
	}
	d := &decoder{ctx: evalContext(o.lookupEnv), dir: filepath.Dir(filename)}
	f := d.file(filename, body)
	return f, finish(d.diags)
}

func (d *decoder) errorf(r hcl.Range, format string, args ...any) {
	d.diags = append(d.diags, errorAt(r, format, args...))
}

func (d *decoder) file(filename string, body *hclsyntax.Body) *File {
	d.check(body, topSection)
	f := &File{
		Filename:  filename,
		Listen:    DefaultListen,
		PluginDir: DefaultPluginDir,
		LogLevel:  DefaultLogLevel,
	}
	in := topSection.in
	if s, a, ok := d.str(body, "listen", in); ok {
		if host, port, err := net.SplitHostPort(s); err != nil || port == "" || strings.ContainsAny(host, "/ ") {
			d.errorf(a.Expr.Range(), "listen must be host:port, as in %q, got %q", DefaultListen, s)
		}
		f.Listen = s
	}
	if s, a, ok := d.str(body, "public_url", in); ok {
		if !isHTTPURL(s) {
			d.errorf(a.Expr.Range(), "public_url must be an http or https URL, got %q", redact.URL(s))
		}
		f.PublicURL = strings.TrimRight(s, "/")
	} else {
		f.PublicURL = "http://" + f.Listen
		if host, port, err := net.SplitHostPort(f.Listen); err == nil && host == "" {
			f.PublicURL = "http://localhost:" + port
		}
	}
	if s, a, ok := d.str(body, "plugin_dir", in); ok {
		if s == "" {
			d.errorf(a.Expr.Range(), "plugin_dir must not be empty")
		}
		f.PluginDir = s
	}
	f.PluginDir = d.path(f.PluginDir)
	if s, a, ok := d.str(body, "log_level", in); ok {
		if !slices.Contains(logLevels, s) {
			d.errorf(a.Expr.Range(), "log_level must be one of %s, got %q", strings.Join(logLevels, ", "), s)
		}
		f.LogLevel = s
	}
	if s, _, ok := d.str(body, "admin_token", in); ok {
		f.AdminToken = NewSecret(s)
	}
	if v, _, ok := d.attr(body, "require_checksums", in, cty.Bool); ok {
		f.RequireChecksums = v.True()
	}

	f.Storage = Storage{Driver: SQLite, Path: d.path(DefaultSQLitePath), Synchronous: SyncNormal}
	f.Retention = DefaultRetention
	f.Limits = DefaultLimits
	var storageBlock, retentionBlock, limitsBlock *hclsyntax.Block
	pins := map[string]hcl.Range{}
	bots := map[string]hcl.Range{}
	for _, b := range body.Blocks {
		switch b.Type {
		case "storage":
			if !d.labels(b, "storage", "TYPE") {
				continue
			}
			if storageBlock != nil {
				d.errorf(b.DefRange(), "duplicate storage block; first defined at %s", position(storageBlock.DefRange()))
				continue
			}
			storageBlock = b
			if s, ok := d.storage(b); ok {
				f.Storage = s
			}
		case "plugin":
			if !d.labels(b, "plugin", "NAME") || !d.name(b, "plugin") {
				continue
			}
			if first, dup := pins[b.Labels[0]]; dup {
				d.errorf(b.DefRange(), "duplicate plugin %q; first defined at %s", b.Labels[0], position(first))
				continue
			}
			pins[b.Labels[0]] = b.DefRange()
			f.Plugins = append(f.Plugins, d.plugin(b))
		case "bot":
			if !d.labels(b, "bot", "NAME") || !d.name(b, "bot") {
				continue
			}
			if first, dup := bots[b.Labels[0]]; dup {
				d.errorf(b.DefRange(), "duplicate bot %q; first defined at %s", b.Labels[0], position(first))
				continue
			}
			bots[b.Labels[0]] = b.DefRange()
			f.Bots = append(f.Bots, d.bot(b))
		case "retention":
			if !d.labels(b, "retention", "") {
				continue
			}
			if retentionBlock != nil {
				d.errorf(b.DefRange(), "duplicate retention block; first defined at %s", position(retentionBlock.DefRange()))
				continue
			}
			retentionBlock = b
			f.Retention = d.retention(b)
		case "limits":
			if !d.labels(b, "limits", "") {
				continue
			}
			if limitsBlock != nil {
				d.errorf(b.DefRange(), "duplicate limits block; first defined at %s", position(limitsBlock.DefRange()))
				continue
			}
			limitsBlock = b
			f.Limits = d.limits(b)
		}
	}
	d.uniqueWebhookTokens(f.Bots)
	if f.RequireChecksums {
		for _, b := range f.Bots {
			if _, ok := pins[b.Provider]; !ok && b.Provider != "" {
				d.errorf(b.AttrRange("provider"), "bot %q uses provider %q, which has no sha256 pin, and require_checksums = true; add plugin %q { sha256 = \"...\" }", b.Name, b.Provider, b.Provider)
			}
		}
	}
	recordOrigins(f, body, d.ctx)
	return f
}

func (d *decoder) storage(b *hclsyntax.Block) (Storage, bool) {
	s := Storage{Driver: b.Labels[0], DeclRange: b.DefRange()}
	in := fmt.Sprintf(" in storage %q", s.Driver)
	switch s.Driver {
	case SQLite:
		d.check(b.Body, section{in: in, attrs: []string{"path", "synchronous"}})
		s.Path, s.Synchronous = DefaultSQLitePath, SyncNormal
		if p, a, ok := d.str(b.Body, "path", in); ok {
			if p == "" {
				d.errorf(a.Expr.Range(), "path%s must not be empty", in)
			}
			s.Path = p
		}
		s.Path = d.path(s.Path)
		if v, a, ok := d.str(b.Body, "synchronous", in); ok {
			if v != SyncNormal && v != SyncFull {
				d.errorf(a.Expr.Range(), "synchronous%s must be %q or %q, got %q", in, SyncNormal, SyncFull, v)
			}
			s.Synchronous = v
		}
	case Postgres:
		d.check(b.Body, section{in: in, attrs: []string{"dsn", "replica", "max_conns"}})
		if v, a, ok := d.str(b.Body, "replica", in); ok {
			if err := CheckReplica(v); err != nil {
				d.errorf(a.Expr.Range(), "replica%s %s", in, err)
			}
			s.Replica = v
		}
		if v, a, ok := d.attr(b.Body, "max_conns", in, cty.Number); ok {
			n, acc := v.AsBigFloat().Int64()
			if !v.AsBigFloat().IsInt() || acc != big.Exact || n < 1 || n > MaxPostgresConns {
				d.errorf(a.Expr.Range(), "max_conns%s must be a whole number from 1 to %d", in, MaxPostgresConns)
			} else {
				s.MaxConns = int(n)
			}
		}
		if v, a, ok := d.str(b.Body, "dsn", in); ok {
			if v == "" {
				d.errorf(a.Expr.Range(), "dsn%s must not be empty", in)
			}
			s.DSN = NewSecret(v)
		} else if a == nil {
			d.errorf(b.DefRange(), "missing required attribute \"dsn\"%s", in)
		}
	default:
		d.errorf(b.LabelRanges[0], "unknown storage type %q; accepted: %s, %s", s.Driver, SQLite, Postgres)
		return Storage{}, false
	}
	return s, true
}

// retention decodes the retention block; what it leaves out keeps its
// default.
func (d *decoder) retention(b *hclsyntax.Block) Retention {
	r := DefaultRetention
	r.DeclRange = b.DefRange()
	const in = " in retention"
	d.check(b.Body, section{in: in, attrs: retentionAttrs})
	for name, field := range map[string]*time.Duration{
		"done_work":        &r.DoneWork,
		"dead_letters":     &r.DeadLetters,
		"processed_events": &r.ProcessedEvents,
		"requests":         &r.Requests,
		"transcripts":      &r.Transcripts,
		"webchat_streams":  &r.WebchatStreams,
		"uploads":          &r.Uploads,
	} {
		if v, ok := d.duration(b.Body, name, in, MaxRetention); ok {
			*field = v
		}
	}
	if v, ok := d.duration(b.Body, "interval", in, MaxRetentionInterval); ok {
		if v < MinRetentionInterval {
			d.errorf(b.Body.Attributes["interval"].Expr.Range(), "interval%s must be at least %s, got %q", in, formatDuration(MinRetentionInterval), formatDuration(v))
		} else {
			r.Interval = v
		}
	}
	if v, a, ok := d.attr(b.Body, "batch", in, cty.Number); ok {
		n, acc := v.AsBigFloat().Int64()
		if !v.AsBigFloat().IsInt() || acc != big.Exact || n < 1 || n > MaxRetentionBatch {
			d.errorf(a.Expr.Range(), "batch%s must be a whole number from 1 to %d", in, MaxRetentionBatch)
		} else {
			r.Batch = int(n)
		}
	}
	return r
}

// uniqueWebhookTokens reports a webhook_token shared by two bots of one
// provider: the provider's webhooks are routed to a bot by their token, so
// one of the two would get the other's webhooks. The message names both
// bots, never the token.
func (d *decoder) uniqueWebhookTokens(bots []Bot) {
	type key struct{ provider, token string }
	first := map[key]*Bot{}
	for i := range bots {
		b := &bots[i]
		if b.Provider == "" || b.WebhookToken.IsZero() {
			continue // already reported
		}
		k := key{b.Provider, b.WebhookToken.Value()}
		if prev, dup := first[k]; dup {
			d.errorf(b.AttrRange("webhook_token"), "bot %q has the same webhook_token as bot %q (defined at %s), and both use provider %q: webhooks are routed to a bot by its token, so each bot of a provider needs its own", b.Name, prev.Name, position(prev.AttrRange("webhook_token")), b.Provider)
			continue
		}
		first[k] = b
	}
}

func (d *decoder) plugin(b *hclsyntax.Block) Plugin {
	p := Plugin{Name: b.Labels[0], DeclRange: b.DefRange()}
	in := fmt.Sprintf(" in plugin %q", p.Name)
	d.check(b.Body, section{in: in, attrs: []string{"sha256"}})
	if s, a, ok := d.str(b.Body, "sha256", in); ok {
		if !isSHA256(s) {
			d.errorf(a.Expr.Range(), "sha256%s must be 64 lowercase hex characters (the output of sha256sum)", in)
		}
		p.SHA256 = s
	} else if a == nil {
		d.errorf(b.DefRange(), "missing required attribute \"sha256\"%s", in)
	}
	return p
}

func (d *decoder) bot(b *hclsyntax.Block) Bot {
	bot := Bot{
		Name:           b.Labels[0],
		SessionTimeout: DefaultSessionTimeout,
		StartTimeout:   DefaultStartTimeout,
		ExpiredNotice:  ExpiredImmediate,
		TranscriptSize: DefaultTranscriptSize,
		Messages:       DefaultMessages,
		DeclRange:      b.DefRange(),
		src:            &botSource{attrs: map[string]hcl.Range{}, ctx: d.ctx},
	}
	in := fmt.Sprintf(" in bot %q", bot.Name)
	body := b.Body
	d.check(body, section{in: in, attrs: botAttrs, blocks: botBlocks})
	for name, a := range body.Attributes {
		bot.src.attrs[name] = a.SrcRange
	}
	required := func(name string, a *hclsyntax.Attribute) {
		if a == nil {
			d.errorf(b.DefRange(), "missing required attribute %q%s", name, in)
		}
	}

	if s, a, ok := d.str(body, "provider", in); ok {
		if !nameRE.MatchString(s) {
			d.errorf(a.Expr.Range(), "provider%s must be a plugin name made of a-z, 0-9, \"-\" and \"_\", got %q", in, s)
		}
		bot.Provider = s
	} else {
		required("provider", a)
	}
	if v, ok := d.duration(body, "session_timeout", in, MaxSessionTimeout); ok {
		bot.SessionTimeout = v
	}
	if v, ok := d.duration(body, "start_timeout", in, MaxSessionTimeout); ok {
		bot.StartTimeout = v
	}
	if s, a, ok := d.str(body, "expired_notice", in); ok {
		bot.ExpiredNotice = ExpiredNotice(s)
		if bot.ExpiredNotice != ExpiredImmediate && bot.ExpiredNotice != ExpiredNextMessage {
			d.errorf(a.Expr.Range(), "expired_notice%s must be %q or %q, got %q", in, ExpiredImmediate, ExpiredNextMessage, s)
		}
	}
	if v, a, ok := d.attr(body, "transcript_size", in, cty.Number); ok {
		n, acc := v.AsBigFloat().Int64()
		if !v.AsBigFloat().IsInt() || acc != big.Exact || n < 0 || n > MaxTranscriptSize {
			d.errorf(a.Expr.Range(), "transcript_size%s must be a whole number from 0 to %d", in, MaxTranscriptSize)
		} else {
			bot.TranscriptSize = int(n)
		}
	}
	if s, a, ok := d.str(body, "bot_url", in); ok {
		if !isHTTPURL(s) {
			d.errorf(a.Expr.Range(), "bot_url%s must be an http or https URL, got %q", in, redact.URL(s))
		}
		bot.BotURL = s
	} else {
		required("bot_url", a)
	}
	chURL, urlAttr, hasURL := d.str(body, "channel_url", in)
	ch, chAttr, hasCh := d.str(body, "channel", in)
	switch {
	case hasURL && hasCh:
		d.errorf(chAttr.SrcRange, "bot %q sets both channel_url and channel; set exactly one", bot.Name)
	case hasURL:
		if !isHTTPURL(chURL) {
			d.errorf(urlAttr.Expr.Range(), "channel_url%s must be an http or https URL, got %q", in, redact.URL(chURL))
		}
		bot.ChannelURL = chURL
	case hasCh:
		if ch != ChannelWebchat {
			d.errorf(chAttr.Expr.Range(), "channel%s must be %q, got %q; other channels use channel_url", in, ChannelWebchat, ch)
		}
		bot.Channel = ch
	case urlAttr == nil && chAttr == nil:
		d.errorf(b.DefRange(), "bot %q needs channel_url or channel = %q", bot.Name, ChannelWebchat)
	}
	secret, secretAttr, hasSecret := d.str(body, "channel_secret", in)
	if hasSecret {
		bot.ChannelSecret = NewSecret(secret)
	}
	d.channelAuth(b, &bot, in, secretAttr, hasSecret)
	if s, a, ok := d.str(body, "webhook_token", in); ok {
		if s == "" {
			d.errorf(a.Expr.Range(), "webhook_token%s must not be empty: provider webhooks are refused without it", in)
		}
		bot.WebhookToken = NewSecret(s)
	} else {
		required("webhook_token", a)
	}

	var messages, config, reconcile, waiting, hours, csat, webchat *hclsyntax.Block
	for _, blk := range body.Blocks {
		var seen **hclsyntax.Block
		switch blk.Type {
		case "messages":
			seen = &messages
		case "config":
			seen = &config
		case "reconcile":
			seen = &reconcile
		case "waiting":
			seen = &waiting
		case "hours":
			seen = &hours
		case "csat":
			seen = &csat
		case "webchat":
			seen = &webchat
		default:
			continue
		}
		if !d.labels(blk, blk.Type, "") {
			continue
		}
		if *seen != nil {
			d.errorf(blk.DefRange(), "duplicate %s block%s; first defined at %s", blk.Type, in, position((*seen).DefRange()))
			continue
		}
		*seen = blk
	}
	if messages != nil {
		bot.Messages = d.messages(messages.Body, fmt.Sprintf(" in bot %q messages", bot.Name))
	}
	bot.Reconcile = DefaultReconcile
	if reconcile != nil {
		bot.Reconcile = d.reconcile(reconcile.Body, fmt.Sprintf(" in bot %q reconcile", bot.Name))
	}
	bot.Waiting = DefaultWaiting
	if waiting != nil {
		bot.Waiting = d.waiting(waiting.Body, fmt.Sprintf(" in bot %q waiting", bot.Name))
	}
	if hours != nil {
		bot.Hours = d.hours(hours, fmt.Sprintf(" in bot %q hours", bot.Name))
	}
	if csat != nil {
		bot.CSAT = d.csat(csat.Body, fmt.Sprintf(" in bot %q csat", bot.Name))
	}
	if webchat != nil {
		bot.Webchat = d.webchat(webchat, &bot, fmt.Sprintf(" in bot %q webchat", bot.Name))
	}
	if config != nil {
		bot.src.config = config.Body
		bot.src.configRange = config.DefRange()
	}
	return bot
}

// channelAuth decodes how a bot's channel authenticates its events. A
// channel_url bot's channel signs them with channel_secret (docs/events.md),
// so the bot needs one unless insecure_events = true; webchat events carry
// user tokens, and the two attributes do not apply. secretAttr and
// hasSecret are what decoding channel_secret gave.
func (d *decoder) channelAuth(b *hclsyntax.Block, bot *Bot, in string, secretAttr *hclsyntax.Attribute, hasSecret bool) {
	body := b.Body
	if v, _, ok := d.attr(body, "insecure_events", in, cty.Bool); ok {
		bot.InsecureEvents = v.True()
	}
	if v, ok := d.duration(body, "event_tolerance", in, MaxEventTolerance); ok {
		bot.EventTolerance = v
	}
	if bot.Channel == ChannelWebchat {
		for _, name := range []string{"insecure_events", "event_tolerance"} {
			if a := body.Attributes[name]; a != nil {
				d.errorf(a.NameRange, "%s%s applies to channel_url bots only: webchat events carry the user's token", name, in)
			}
		}
		return
	}
	if bot.ChannelURL == "" || bot.InsecureEvents || !bot.ChannelSecret.IsZero() {
		return
	}
	const fix = "set one, or insecure_events = true to take unauthenticated events"
	switch {
	case hasSecret:
		d.errorf(secretAttr.Expr.Range(), "channel_secret%s must not be empty: events are signed with it; %s", in, fix)
		return
	case secretAttr != nil:
		return // a wrong channel_secret, already reported
	}
	d.errorf(b.DefRange(), "bot %q has a channel_url and no channel_secret: its channel signs events with channel_secret (X-Livechat-Signature); %s", bot.Name, fix)
}

func (d *decoder) messages(body *hclsyntax.Body, in string) Messages {
	d.check(body, section{in: in, attrs: messagesAttrs})
	m := DefaultMessages
	for name, field := range map[string]*string{
		"start":       &m.Start,
		"end_prompt":  &m.EndPrompt,
		"end_button":  &m.EndButton,
		"unavailable": &m.Unavailable,

		"closed":         &m.Closed,
		"offline":        &m.Offline,
		"agent_joined":   &m.AgentJoined,
		"queue_position": &m.QueuePosition,
		"expected_wait":  &m.ExpectedWait,
		"ended":          &m.Ended,
	} {
		if s, a, ok := d.str(body, name, in); ok {
			if strings.TrimSpace(s) == "" {
				d.errorf(a.Expr.Range(), "%s%s must not be empty", name, in)
			}
			*field = s
		}
	}
	return m
}

// reconcile decodes a bot's reconcile block.
func (d *decoder) reconcile(body *hclsyntax.Body, in string) Reconcile {
	d.check(body, section{in: in, attrs: reconcileAttrs})
	r := DefaultReconcile
	if v, _, ok := d.attr(body, "enabled", in, cty.Bool); ok {
		r.Enabled = v.True()
	}
	if v, ok := d.duration(body, "interval", in, MaxReconcileInterval); ok {
		if v < MinReconcileInterval {
			d.errorf(body.Attributes["interval"].Expr.Range(), "interval%s must be at least %s, got %q", in, formatDuration(MinReconcileInterval), formatDuration(v))
		} else {
			r.Interval = v
		}
	}
	if s, a, ok := d.str(body, "rate_limit", in); ok {
		calls, per, err := parseRateLimit(s)
		if err != nil {
			d.errorf(a.Expr.Range(), "rate_limit%s must be calls per duration, as in \"40/20s\": %v", in, err)
		} else {
			r.RateLimitCalls, r.RateLimitPer = calls, per
		}
	}
	return r
}

// parseRateLimit reads "40/20s": 40 calls per 20 seconds.
func parseRateLimit(s string) (int, time.Duration, error) {
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("got %q, no /", s)
	}
	calls, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || calls < 1 || calls > 1_000_000 {
		return 0, 0, fmt.Errorf("got %q: the number of calls must be a whole number from 1 to 1000000", s)
	}
	per, err := parseDuration(strings.TrimSpace(d))
	if err != nil || per < time.Second || per > 24*time.Hour {
		return 0, 0, fmt.Errorf("got %q: the window must be a duration from 1s to 24h", s)
	}
	return calls, per, nil
}

// check reports the attributes and blocks of body that s does not accept.
func (d *decoder) check(body *hclsyntax.Body, s section) {
	for _, a := range attributes(body) {
		switch {
		case slices.Contains(s.attrs, a.Name):
		case slices.Contains(s.blocks, a.Name):
			d.errorf(a.NameRange, "%q%s is a block, not an attribute: write %s { ... }", a.Name, s.in, blockExample(a.Name))
		default:
			d.diags = append(d.diags, unknownNameDiag(a.NameRange, "attribute", a.Name, s.in, s.attrs))
		}
	}
	for _, b := range body.Blocks {
		switch {
		case slices.Contains(s.blocks, b.Type):
		case slices.Contains(s.attrs, b.Type):
			d.errorf(b.TypeRange, "%q%s is an attribute, not a block: write %s = ...", b.Type, s.in, b.Type)
		default:
			d.diags = append(d.diags, unknownNameDiag(b.TypeRange, "block type", b.Type, s.in, s.blocks))
		}
	}
}

func blockExample(typ string) string {
	switch typ {
	case "bot", "plugin":
		return typ + ` "NAME"`
	case "storage":
		return `storage "sqlite"`
	}
	return typ
}

// attributes returns body's attributes in source order.
func attributes(body *hclsyntax.Body) []*hclsyntax.Attribute {
	attrs := make([]*hclsyntax.Attribute, 0, len(body.Attributes))
	for _, a := range body.Attributes {
		attrs = append(attrs, a)
	}
	slices.SortFunc(attrs, func(a, b *hclsyntax.Attribute) int { return a.SrcRange.Start.Byte - b.SrcRange.Start.Byte })
	return attrs
}

// labels reports whether b has the one label called label, or none when
// label is "".
func (d *decoder) labels(b *hclsyntax.Block, what, label string) bool {
	want := 1
	if label == "" {
		want = 0
	}
	if len(b.Labels) == want {
		return true
	}
	r := b.DefRange()
	if len(b.LabelRanges) > want {
		r = b.LabelRanges[want]
	}
	if want == 0 {
		d.errorf(r, "%s block takes no label: write %s { ... }", what, what)
	} else {
		d.errorf(r, "%s block takes one label: write %s %q { ... }", what, what, label)
	}
	return false
}

// name reports whether the label of b is a valid name for a what.
func (d *decoder) name(b *hclsyntax.Block, what string) bool {
	if nameRE.MatchString(b.Labels[0]) {
		return true
	}
	d.errorf(b.LabelRanges[0], "invalid %s name %q: use only a-z, 0-9, \"-\" and \"_\"", what, b.Labels[0])
	return false
}

// attr evaluates the attribute name of body as a value of type want. ok is
// false when the attribute is absent or null (then a is nil), or wrong (with
// a diagnostic).
func (d *decoder) attr(body *hclsyntax.Body, name, in string, want cty.Type) (v cty.Value, a *hclsyntax.Attribute, ok bool) {
	a = body.Attributes[name]
	if a == nil {
		return cty.NilVal, nil, false
	}
	v, diags := eval(a.Expr, d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, a, false
	}
	if v.IsNull() {
		return cty.NilVal, nil, false
	}
	if outOfRange(v) {
		d.errorf(a.Expr.Range(), "%s%s holds a number out of range", name, in)
		return cty.NilVal, a, false
	}
	cv, err := convert.Convert(v, want)
	if err != nil || cv.IsNull() || !cv.IsWhollyKnown() || holdsNull(cv) {
		d.errorf(a.Expr.Range(), "%s%s must be %s, got %s", name, in, typeName(want), typeName(v.Type()))
		return cty.NilVal, a, false
	}
	return cv, a, true
}

// holdsNull reports whether a list or map v holds a null anywhere: the
// decoders read elements as values.
func holdsNull(v cty.Value) bool {
	found := false
	_ = cty.Walk(v, func(_ cty.Path, e cty.Value) (bool, error) {
		if e.IsNull() {
			found = true
		}
		return !found, nil
	})
	return found
}

// str is attr for strings.
func (d *decoder) str(body *hclsyntax.Body, name, in string) (string, *hclsyntax.Attribute, bool) {
	v, a, ok := d.attr(body, name, in, cty.String)
	if !ok {
		return "", a, false
	}
	return v.AsString(), a, true
}

// duration is attr for durations such as "30m", from more than 0 to max.
func (d *decoder) duration(body *hclsyntax.Body, name, in string, max time.Duration) (time.Duration, bool) {
	s, a, ok := d.str(body, name, in)
	if !ok {
		return 0, false
	}
	v, err := parseDuration(s)
	switch {
	case err != nil:
		d.errorf(a.Expr.Range(), "%s%s must be a duration such as 30s, 5m, 2h or 7d, got %q", name, in, s)
		return 0, false
	case v <= 0:
		d.errorf(a.Expr.Range(), "%s%s must be positive, got %q", name, in, s)
		return 0, false
	case v > max:
		d.errorf(a.Expr.Range(), "%s%s must be at most %s, got %q", name, in, formatDuration(max), s)
		return 0, false
	}
	return v, true
}

// parseDuration is time.ParseDuration that also takes whole days, alone or
// before the rest: "7d", "1d12h". A day is 24 hours.
func parseDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseInt(days, 10, 64)
	if err != nil || n < 0 || days[0] == '+' || n > math.MaxInt64/int64(24*time.Hour) {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	v := time.Duration(n) * 24 * time.Hour
	if rest == "" {
		return v, nil
	}
	r, err := time.ParseDuration(rest)
	if err != nil || r < 0 || r > math.MaxInt64-v || rest[0] == '+' || rest[0] == '-' {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return v + r, nil
}

// formatDuration is d without the zero units time.Duration.String adds:
// 168h rather than 168h0m0s. Whole days beyond a week are days: 3650d.
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 7*day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// path joins a relative p to the file's directory.
func (d *decoder) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(d.dir, p)
}

// typeName names t as messages say it: "a string", "a list"...
func typeName(t cty.Type) string {
	switch {
	case t == cty.String:
		return "a string"
	case t == cty.Number:
		return "a number"
	case t == cty.Bool:
		return "a bool"
	case t.Equals(cty.List(cty.String)):
		return "a list of strings"
	case t.Equals(cty.Map(cty.String)):
		return "a map of strings"
	case t.Equals(cty.Map(cty.List(cty.String))):
		return "a map of lists of strings"
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		return "a list"
	case t.IsObjectType() || t.IsMapType():
		return "a map"
	case t == cty.DynamicPseudoType:
		return "null"
	}
	return t.FriendlyName()
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// AttrRange returns the range of the bot block's attribute name, or the
// block's header when the attribute is absent: where the host points at
// when, say, the provider has no plugin.
func (b *Bot) AttrRange(name string) hcl.Range {
	if b.src != nil {
		if r, ok := b.src.attrs[name]; ok {
			return r
		}
	}
	return b.DeclRange
}

// maxExp bounds the binary exponent of numbers, a little beyond float64's.
// HCL turns numbers into strings with every digit: 1e10000000 would take
// seconds and megabytes, in a template or where a string is expected.
const maxExp = 1100

// checkNumbers reports the number literals of body that are out of range,
// before anything is evaluated.
func checkNumbers(body *hclsyntax.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		if lit, ok := n.(*hclsyntax.LiteralValueExpr); ok && outOfRange(lit.Val) {
			diags = append(diags, errorAt(lit.SrcRange, "number out of range"))
		}
		return nil
	})
	return diags
}

// outOfRange reports whether v holds a number whose exponent exceeds maxExp
// either way.
func outOfRange(v cty.Value) bool {
	found := false
	_ = cty.Walk(v, func(_ cty.Path, v cty.Value) (bool, error) {
		if found || !v.IsKnown() || v.IsNull() {
			return false, nil
		}
		if v.Type() == cty.Number {
			f := v.AsBigFloat()
			if e := f.MantExp(nil); f.Sign() != 0 && (e > maxExp || e < -maxExp) {
				found = true
			}
		}
		return true, nil
	})
	return found
}
