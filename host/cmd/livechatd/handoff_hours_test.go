package main_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/fakes"
)

// hoursClosedNow is an hours block open all week except today and
// tomorrow, holidays (UTC; a run across midnight stays within them).
const hoursClosedNow = `hours {
    time_zone = "UTC"
    weekly    = { mon = ["00:00-24:00"], tue = ["00:00-24:00"], wed = ["00:00-24:00"], thu = ["00:00-24:00"], fri = ["00:00-24:00"], sat = ["00:00-24:00"], sun = ["00:00-24:00"] }
    holidays  = ["%s", "%s"]
    %s
  }
  messages {
    closed  = "We are closed."
    offline = "We will answer soon ({opens})."
  }`

// Outside hours, START opens no live session: the user reads
// messages.closed and a session_ended event (closed_hours), and the bot
// takes over with LIVECHAT_SESSION_CLOSED_HOURS; the attempt is counted.
// With offline_ticket, a ticket is opened (the echo plugin's
// StartSession runs: its greeting is kept, not delivered) and the user
// reads messages.offline.
func TestHandoffClosedHours(t *testing.T) {
	for _, offline := range []bool{false, true} {
		t.Run(map[bool]string{false: "closed", true: "offline ticket"}[offline], func(t *testing.T) {
			bot := fakes.NewBot(t)
			channel := newHandoffChannel(t)
			e := newEnv(t)
			extra := ""
			if offline {
				extra = "offline_ticket = true"
			}
			now := time.Now().UTC()
			today, tomorrow := now.Format(time.DateOnly), now.Add(24*time.Hour).Format(time.DateOnly)
			writeHandoffConfig(t, e, bot.URL(), channel.URL(), fmt.Sprintf(hoursClosedNow, today, tomorrow, extra), "")
			p := start(t, e)
			r := p.say("u1", button("LIVECHAT_SESSION_START"))
			texts := answerTexts(r)
			if len(texts) != 2 || texts[1] != fakes.Reply("LIVECHAT_SESSION_CLOSED_HOURS") || r["livechat"] != nil {
				t.Fatalf("answer %v", r)
			}
			opens := time.Date(now.Year(), now.Month(), now.Day()+2, 0, 0, 0, 0, time.UTC).Format("Mon 2 Jan 15:04 MST")
			if want := map[bool]string{false: "We are closed.", true: "We will answer soon (" + opens + ")."}[offline]; texts[0] != want && !(offline && strings.HasPrefix(texts[0], "We will answer soon (")) {
				t.Errorf("text %q, want %q", texts[0], want)
			}
			if ev := answerEvents(r); len(ev) != 1 || ev[0] != "session_ended:closed_hours" {
				t.Errorf("events %v", ev)
			}
			sessions, _ := p.admin("/v1/sessions?bot=shop")["sessions"].([]any)
			switch {
			case !offline && len(sessions) != 0:
				t.Errorf("sessions %v", sessions)
			case offline && len(sessions) != 1:
				t.Fatalf("sessions %v", sessions)
			case offline:
				if s := sessions[0].(map[string]any); s["state"] != "ended" || s["end_reason"] != "closed_hours" {
					t.Errorf("the offline ticket's session is %v, want ended with reason closed_hours", s)
				}
			}
			st := p.admin("/v1/stats?bot=shop")
			if reasons, _ := st["end_reasons"].(map[string]any); reasons["closed_hours"] != 1.0 {
				t.Errorf("stats %v", st)
			}
			if got := answerTexts(p.say("u1", text("still there?"))); len(got) != 1 || got[0] != "bot: still there?" {
				t.Errorf("next message %v", got)
			}
		})
	}
}
