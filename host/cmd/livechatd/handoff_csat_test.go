package main_test

import (
	"strings"
	"testing"

	"github.com/livechatd/livechatd/host/internal/fakes"
)

// CSAT through the real process: after the user ends the session, the
// channel gets the rating question with a button per score; the answer is
// thanked, never reaches the bot, reopens nothing, reaches the echo plugin
// (RecordRating: its note is kept with the closed session), and is counted
// in /metrics and /v1/stats, with the time to the first agent message and
// the session length.
func TestHandoffCSAT(t *testing.T) {
	bot := fakes.NewBot(t)
	channel := newHandoffChannel(t)
	e := newEnv(t)
	writeHandoffConfig(t, e, bot.URL(), channel.URL(), `csat {
    question = "How did we do?"
    scale    = 3
    labels   = ["Bad", "OK", "Good"]
    thanks   = "Thanks for rating us!"
  }`, "")
	p := start(t, e)
	id := sessionID(t, p.say("u1", button("LIVECHAT_SESSION_START")))
	channel.waitText(t, "Hello from Echo.")
	p.say("u1", button("LIVECHAT_SESSION_END"))
	q := channel.waitText(t, "How did we do?")
	buttons, _ := q.Payload.Content["buttons"].([]any)
	if len(buttons) != 3 {
		t.Fatalf("question %+v", q)
	}
	good := buttons[2].(map[string]any)["content"].(map[string]any)
	if good["title"] != "Good" {
		t.Errorf("button %v", good)
	}
	r := p.say("u1", button(good["payload"].(string)))
	if got := answerTexts(r); len(got) != 1 || got[0] != "Thanks for rating us!" || r["livechat"] != nil {
		t.Errorf("rating answered %v", r)
	}
	for _, v := range bot.Values() {
		if strings.HasPrefix(v, "LIVECHAT_CSAT") {
			t.Errorf("the bot heard %q", v)
		}
	}
	if s := p.admin("/v1/sessions/" + id); s["state"] != "ended" {
		t.Errorf("session %v", s)
	}
	st := p.admin("/v1/stats?bot=shop")
	csat, _ := st["csat"].(map[string]any)
	if scores, _ := csat["scores"].(map[string]any); scores["3"] != 1.0 || csat["mean"] != 3.0 {
		t.Errorf("stats csat %v", st)
	}
	if fa, _ := st["first_agent_seconds"].(map[string]any); fa["count"] != 1.0 {
		t.Errorf("stats first agent %v", st)
	}
	m := p.metrics()
	for _, line := range []string{
		`livechat_csat_ratings_total{bot="shop",provider="echo",score="3"} 1`,
		`livechat_session_outcomes_total{bot="shop",provider="echo",reason="user"} 1`,
		`livechat_first_agent_seconds_count{bot="shop",provider="echo"} 1`,
		`livechat_session_seconds_count{bot="shop",provider="echo"} 1`,
	} {
		if !hasLine(m, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
	// The rating reached the plugin: echo's RecordRating notes it on the
	// closed session, where it is kept, not delivered.
	waitSessionMessage(t, p, id, "rated 3/3 Good")
}
