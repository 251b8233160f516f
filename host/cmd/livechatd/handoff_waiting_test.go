package main_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host/internal/fakes"
)

const waitingBlock = `waiting {
    still_waiting_every = "1s"
    max_wait            = "3s"
    message             = "Still waiting for an agent…"
    no_agent            = "Sorry, nobody is free."
  }`

// The acceptance case of issue 17: with the echo agent silent, a user who
// starts a session hears the "still waiting" message, and after max_wait
// the session ends, the user reads waiting.no_agent and a session_ended
// event (reason max_wait), and the bot takes over with
// LIVECHAT_SESSION_NO_AGENT, its answer delivered; the next message goes
// to the bot. The outcome is counted in /metrics and /v1/stats.
func TestHandoffWaitingAcceptance(t *testing.T) {
	bot := fakes.NewBot(t)
	channel := newHandoffChannel(t)
	e := newEnv(t)
	writeHandoffConfig(t, e, bot.URL(), channel.URL(), waitingBlock, `silent = true`)
	p := start(t, e)

	started := time.Now()
	r := p.say("u1", button("LIVECHAT_SESSION_START"))
	id := sessionID(t, r)
	channel.waitText(t, "Still waiting for an agent…")
	channel.waitEvent(t, "waiting", nil)
	channel.waitText(t, "Sorry, nobody is free.")
	ended := channel.waitEvent(t, "session_ended", func(c map[string]any) bool { return c["reason"] == "max_wait" })
	if took := time.Since(started); took < 3*time.Second {
		t.Errorf("the session ended %s after START, before max_wait", took)
	}
	if ended.Author.Type != "system" {
		t.Errorf("session_ended author %+v", ended.Author)
	}
	ev := bot.WaitValue(t, "LIVECHAT_SESSION_NO_AGENT")
	if ev.Client["user_id"] != "u1" {
		t.Errorf("the bot's notice is for %v", ev.Client)
	}
	channel.waitText(t, fakes.Reply("LIVECHAT_SESSION_NO_AGENT"))
	// "Still waiting" came before the end, never after it.
	texts := channel.texts()
	last := strings.Join(texts, "|")
	if i, j := strings.LastIndex(last, "Still waiting for an agent…"), strings.Index(last, "Sorry, nobody is free."); i < 0 || i > j {
		t.Errorf("channel texts %q", texts)
	}
	if s := p.admin("/v1/sessions/" + id); s["state"] != "ended" || s["end_reason"] != "max_wait" {
		t.Errorf("session %v, want it ended for max_wait", s)
	}
	if got := p.say("u1", text("anyone?")); len(answerTexts(got)) != 1 || answerTexts(got)[0] != "bot: anyone?" || got["livechat"] != nil {
		t.Errorf("after max_wait the bot answers: %v", got)
	}
	if m := p.metrics(); !hasLine(m, `livechat_session_outcomes_total{bot="shop",provider="echo",reason="max_wait"} 1`) {
		t.Errorf("metrics lack the max_wait outcome:\n%s", grepLines(m, "livechat_session_outcomes_total"))
	}
	st := p.admin("/v1/stats?bot=shop")
	if reasons, _ := st["end_reasons"].(map[string]any); reasons["max_wait"] != 1.0 || st["sessions"] != 1.0 {
		t.Errorf("stats %v", st)
	}
}

// Waiting times are stored, not timers: a livechatd killed while a user
// waits still ends the session at max_wait once it runs again.
func TestHandoffWaitingSurvivesRestart(t *testing.T) {
	bot := fakes.NewBot(t)
	channel := newHandoffChannel(t)
	e := newEnv(t)
	writeHandoffConfig(t, e, bot.URL(), channel.URL(), strings.Replace(waitingBlock, `"3s"`, `"4s"`, 1), `silent = true`)
	p := start(t, e)
	id := sessionID(t, p.say("u1", button("LIVECHAT_SESSION_START")))
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p = start(t, e)
	bot.WaitValue(t, "LIVECHAT_SESSION_NO_AGENT")
	channel.waitText(t, "Sorry, nobody is free.")
	if s := p.admin("/v1/sessions/" + id); s["state"] != "ended" || s["end_reason"] != "max_wait" {
		t.Errorf("session %v", s)
	}
}

// An old "Quit livechat" button clicked after the session ended does
// nothing visible: no error, no message, and the bot hears END once.
func TestHandoffStaleEndDoesNothing(t *testing.T) {
	bot := fakes.NewBot(t)
	channel := newHandoffChannel(t)
	e := newEnv(t)
	writeHandoffConfig(t, e, bot.URL(), channel.URL(), "", "")
	p := start(t, e)
	p.say("u1", button("LIVECHAT_SESSION_START"))
	channel.waitText(t, "Hello from Echo.")
	r := p.say("u1", button("LIVECHAT_SESSION_END"))
	if got := answerTexts(r); len(got) != 1 || got[0] != fakes.Reply("LIVECHAT_SESSION_END") {
		t.Errorf("first END answered %v", r)
	}
	if got := answerEvents(r); len(got) != 1 || got[0] != "session_ended:user" {
		t.Errorf("first END's events %v", got)
	}
	for range 2 {
		status, again := p.event("u1", button("LIVECHAT_SESSION_END"), nil)
		if status != 200 {
			t.Fatalf("a second END: %d %v", status, again)
		}
		if msgs, _ := again["messages"].([]any); len(msgs) != 0 || again["livechat"] != nil || again["error"] != nil {
			t.Errorf("a second END answered %v, want no message", again)
		}
	}
	n := 0
	for _, v := range bot.Values() {
		if v == "LIVECHAT_SESSION_END" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the bot heard END %d times, want 1: %q", n, bot.Values())
	}
}

func grepLines(page, prefix string) string {
	var out []string
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
