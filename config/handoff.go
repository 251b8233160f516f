package config

import (
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // hours.time_zone works where the system has no zoneinfo

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// The handoff blocks of a bot (issue 17, docs/handoff.md): waiting, hours
// and csat, and the messages they say.

var (
	waitingAttrs = []string{"enabled", "still_waiting_every", "max_wait", "message", "no_agent"}
	hoursAttrs   = []string{"time_zone", "weekly", "holidays", "offline_ticket"}
	csatAttrs    = []string{"question", "scale", "labels", "thanks"}
	// handoffMessages are the messages block's keys of issue 17.
	handoffMessages = []string{"closed", "offline", "agent_joined", "queue_position", "expected_wait", "ended"}
)

// Waiting is the bot's waiting block: what the user hears between START
// and the first agent message.
type Waiting struct {
	// Enabled is true unless `enabled = false`.
	Enabled bool
	// StillWaitingEvery is the interval of Message until an agent joins or
	// writes; at least MinWaitInterval.
	StillWaitingEvery time.Duration
	// MaxWait ends the session (LIVECHAT_SESSION_NO_AGENT to the bot) when
	// no agent wrote that long after START; at least MinWaitInterval, at
	// most MaxSessionTimeout. Zero (the default) is off: a session waits
	// for an agent until session_timeout, as before waiting {} existed.
	MaxWait time.Duration
	// Message is the "still waiting" text; NoAgent is said at max_wait.
	Message string
	NoAgent string
}

// DefaultWaiting is the Waiting of a bot without a waiting block.
var DefaultWaiting = Waiting{
	Enabled:           true,
	StillWaitingEvery: time.Minute,
	MaxWait:           0,
	Message:           "Thanks for waiting: you are still in the queue, and an agent will be with you shortly.",
	NoAgent:           "No agent could answer in time.",
}

// MinWaitInterval bounds still_waiting_every and max_wait from below.
const MinWaitInterval = time.Second

// Hours is the bot's hours block: when START opens a live session.
type Hours struct {
	// TimeZone is an IANA name, e.g. Europe/Paris; Location is it loaded.
	TimeZone string
	Location *time.Location
	// Weekly maps a weekday to its opening ranges, in minutes of the day,
	// sorted and not overlapping. A day that is absent is closed.
	Weekly map[time.Weekday][]Span
	// Holidays are closed dates (YYYY-MM-DD in TimeZone).
	Holidays []string
	// OfflineTicket opens a ticket with the transcript outside hours,
	// without a live session.
	OfflineTicket bool
}

// Span is an opening range of one day, in minutes since midnight: From
// included, To excluded (24:00 is 1440).
type Span struct{ From, To int }

// CSAT is the bot's csat block: the rating question asked after an end by
// the user or the agent.
type CSAT struct {
	Question string
	// Scale is the number of buttons, 2 to 10; the scores are 1 to Scale.
	Scale int
	// Labels are the buttons' titles, one per score; empty for "1".."Scale".
	Labels []string
	// Thanks answers the rating.
	Thanks string
}

// DefaultCSAT fills what a csat block leaves out.
var DefaultCSAT = CSAT{Question: "How would you rate this conversation?", Scale: 5, Thanks: "Thank you for your feedback!"}

// handoffMessageDefaults are the default texts of handoffMessages.
var handoffMessageDefaults = map[string]string{
	"closed":         "We are closed right now.",
	"offline":        "We are closed right now. We have passed your request on and will answer when we are back ({opens}).",
	"agent_joined":   "{agent} joined the conversation.",
	"queue_position": "You are number {position} in the queue.",
	"expected_wait":  "The expected wait is about {wait}.",
	// Not said unless set: the bot hears of the end and answers the user.
	"ended": "",
}

var weekdays = map[string]time.Weekday{"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday}

var spanRE = regexp.MustCompile(`^(\d\d):(\d\d)-(\d\d):(\d\d)$`)

// waiting decodes a bot's waiting block.
func (d *decoder) waiting(body *hclsyntax.Body, in string) Waiting {
	d.check(body, section{in: in, attrs: waitingAttrs})
	w := DefaultWaiting
	if v, _, ok := d.attr(body, "enabled", in, cty.Bool); ok {
		w.Enabled = v.True()
	}
	for name, field := range map[string]*time.Duration{"still_waiting_every": &w.StillWaitingEvery, "max_wait": &w.MaxWait} {
		if v, ok := d.duration(body, name, in, MaxSessionTimeout); ok {
			if v < MinWaitInterval {
				d.errorf(body.Attributes[name].Expr.Range(), "%s%s must be at least %s, got %q", name, in, formatDuration(MinWaitInterval), formatDuration(v))
				continue
			}
			*field = v
		}
	}
	for name, field := range map[string]*string{"message": &w.Message, "no_agent": &w.NoAgent} {
		if s, a, ok := d.str(body, name, in); ok {
			if strings.TrimSpace(s) == "" {
				d.errorf(a.Expr.Range(), "%s%s must not be empty", name, in)
			}
			*field = s
		}
	}
	return w
}

// hours decodes a bot's hours block.
func (d *decoder) hours(blk *hclsyntax.Block, in string) *Hours {
	body := blk.Body
	d.check(body, section{in: in, attrs: hoursAttrs})
	h := &Hours{Weekly: map[time.Weekday][]Span{}}
	if s, a, ok := d.str(body, "time_zone", in); ok {
		loc, err := time.LoadLocation(s)
		if err != nil || s == "" || s == "Local" {
			d.errorf(a.Expr.Range(), "time_zone%s must be an IANA time zone such as \"Europe/Paris\" or \"UTC\", got %q", in, s)
		} else {
			h.TimeZone, h.Location = s, loc
		}
	} else if a == nil {
		d.errorf(blk.DefRange(), "missing required attribute \"time_zone\"%s", in)
	}
	if v, a, ok := d.attr(body, "weekly", in, cty.Map(cty.List(cty.String))); ok {
		for it := v.ElementIterator(); it.Next(); {
			k, list := it.Element()
			day, known := weekdays[k.AsString()]
			if !known {
				d.errorf(a.Expr.Range(), "weekly%s: unknown day %q: use mon, tue, wed, thu, fri, sat and sun", in, k.AsString())
				continue
			}
			var spans []Span
			for lit := list.ElementIterator(); lit.Next(); {
				_, r := lit.Element()
				sp, err := parseSpan(r.AsString())
				if err != nil {
					d.errorf(a.Expr.Range(), "weekly.%s%s: %v", k.AsString(), in, err)
					continue
				}
				spans = append(spans, sp)
			}
			slices.SortFunc(spans, func(a, b Span) int { return a.From - b.From })
			for i := 1; i < len(spans); i++ {
				if spans[i].From < spans[i-1].To {
					d.errorf(a.Expr.Range(), "weekly.%s%s: the ranges %s and %s overlap", k.AsString(), in, spans[i-1], spans[i])
				}
			}
			h.Weekly[day] = spans
		}
	} else if a == nil {
		d.errorf(blk.DefRange(), "missing required attribute \"weekly\"%s: the opening ranges per day, e.g. weekly = { mon = [\"09:00-18:00\"] }", in)
	}
	if v, a, ok := d.attr(body, "holidays", in, cty.List(cty.String)); ok {
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			s := e.AsString()
			if _, err := time.Parse(time.DateOnly, s); err != nil {
				d.errorf(a.Expr.Range(), "holidays%s: %q is not a date written YYYY-MM-DD", in, s)
				continue
			}
			h.Holidays = append(h.Holidays, s)
		}
	}
	if v, _, ok := d.attr(body, "offline_ticket", in, cty.Bool); ok {
		h.OfflineTicket = v.True()
	}
	return h
}

func (s Span) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", s.From/60, s.From%60, s.To/60, s.To%60)
}

// parseSpan reads "09:00-18:00"; the end may be 24:00.
func parseSpan(s string) (Span, error) {
	m := spanRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Span{}, fmt.Errorf("%q is not a range written HH:MM-HH:MM", s)
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v } // two digits, checked by spanRE
	from, to := n(1)*60+n(2), n(3)*60+n(4)
	switch {
	case n(1) > 23 || n(2) > 59 || n(4) > 59 || n(3) > 24 || (n(3) == 24 && n(4) != 0):
		return Span{}, fmt.Errorf("%q holds a time that does not exist (00:00 to 24:00)", s)
	case to <= from:
		return Span{}, fmt.Errorf("%q ends before it starts; split a range across midnight in two days", s)
	}
	return Span{from, to}, nil
}

// csat decodes a bot's csat block.
func (d *decoder) csat(body *hclsyntax.Body, in string) *CSAT {
	d.check(body, section{in: in, attrs: csatAttrs})
	c := DefaultCSAT
	for name, field := range map[string]*string{"question": &c.Question, "thanks": &c.Thanks} {
		if s, a, ok := d.str(body, name, in); ok {
			if strings.TrimSpace(s) == "" {
				d.errorf(a.Expr.Range(), "%s%s must not be empty", name, in)
			}
			*field = s
		}
	}
	if v, a, ok := d.attr(body, "scale", in, cty.Number); ok {
		n, acc := v.AsBigFloat().Int64()
		if !v.AsBigFloat().IsInt() || acc != big.Exact || n < 2 || n > 10 {
			d.errorf(a.Expr.Range(), "scale%s must be a whole number from 2 to 10", in)
		} else {
			c.Scale = int(n)
		}
	}
	if v, a, ok := d.attr(body, "labels", in, cty.List(cty.String)); ok {
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if strings.TrimSpace(e.AsString()) == "" {
				d.errorf(a.Expr.Range(), "labels%s must not hold an empty title", in)
			}
			c.Labels = append(c.Labels, e.AsString())
		}
		if len(c.Labels) != c.Scale {
			d.errorf(a.Expr.Range(), "labels%s holds %d titles; it needs one per score, %d (scale)", in, len(c.Labels), c.Scale)
		}
	}
	return &c
}
