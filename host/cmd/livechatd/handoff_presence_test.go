package main_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/livechatd/livechatd/host/internal/fakes"
)

const avatar = "https://cdn.example.com/echo.png"

// Presence through the real process: the echo agent joins with its name
// and avatar (text and agent_joined event), tells the queue position and
// the expected wait, and types (a typing payload, not stored); the user's
// typing and read receipts reach the plugin (echo mirrors the typing and
// counts the receipts), are answered with no message and never reach the
// bot.
func TestHandoffPresence(t *testing.T) {
	bot := fakes.NewBot(t)
	channel := newHandoffChannel(t)
	e := newEnv(t)
	writeHandoffConfig(t, e, bot.URL(), channel.URL(), "", `avatar_url = "`+avatar+`"
    agent_name = "Eve"`)
	p := start(t, e)
	id := sessionID(t, p.say("u1", button("LIVECHAT_SESSION_START")))

	joined := channel.waitEvent(t, "agent_joined", nil)
	if joined.Author.Name != "Eve" || joined.Author.AvatarURL != avatar || joined.Payload.Content["avatar_url"] != avatar {
		t.Errorf("agent_joined %+v", joined)
	}
	channel.waitText(t, "Eve joined the conversation.")
	greeting := channel.waitText(t, "Hello from Echo.")
	if greeting.Author.AvatarURL != avatar {
		t.Errorf("the agent's message has no avatar: %+v", greeting.Author)
	}

	p.say("u1", text("queue"))
	channel.waitText(t, "You are number 2 in the queue. The expected wait is about 2 minutes.")
	channel.waitEvent(t, "waiting", func(c map[string]any) bool { return c["position"] == 2.0 && c["expected_wait"] == 90.0 })

	p.say("u1", text("typing"))
	typing := channel.wait(t, "a typing indicator", func(m handoffMessage) bool { return m.Payload.ContentType == "typing" })
	if typing.Payload.Content["duration"] != 5000.0 || typing.Author.Name != "Eve" {
		t.Errorf("typing %+v", typing)
	}

	status, r := p.event("u1", map[string]any{"content_type": "typing", "content": map[string]any{"duration": 3000}}, nil)
	if msgs, _ := r["messages"].([]any); status != 200 || len(msgs) != 0 {
		t.Errorf("user typing answered %d %v", status, r)
	}
	// Echo mirrors the user's typing: a second indicator, ended by the stop.
	channel.waitN(t, "the mirrored typing", 2, func(m handoffMessage) bool {
		return m.Payload.ContentType == "typing" && m.Payload.Content["duration"] == 5000.0
	})
	p.event("u1", map[string]any{"content_type": "typing", "content": map[string]any{"duration": 0}}, nil)
	channel.wait(t, "the mirrored stop", func(m handoffMessage) bool {
		return m.Payload.ContentType == "typing" && m.Payload.Content["duration"] == 0.0
	})

	// Read receipts reach the plugin, held to one every 2 s per session.
	for range 3 {
		status, r := p.event("u1", map[string]any{"content_type": "read"}, nil)
		if msgs, _ := r["messages"].([]any); status != 200 || len(msgs) != 0 {
			t.Errorf("a read receipt answered %d %v", status, r)
		}
	}
	p.say("u1", text("read"))
	channel.waitText(t, "echo: read receipts=1")
	if slices.ContainsFunc(bot.Values(), func(v string) bool { return strings.Contains(v, "typing") }) {
		t.Errorf("the bot heard typing: %q", bot.Values())
	}
	sess := p.admin("/v1/sessions/" + id)
	for _, m := range sess["messages"].([]any) {
		if strings.Contains(toJSON(m), `"content_type":"typing"`) {
			t.Errorf("typing stored: %s", toJSON(m))
		}
	}
}

// `livechatd plugins` lists what each plugin's platform can do.
func TestHandoffPluginsCapabilities(t *testing.T) {
	e := newEnv(t)
	e.writeConfig(t, "http://127.0.0.1:9/events", "http://127.0.0.1:9/deliver", "30m", "")
	out, errOut, code := run(t, "plugins", "-config", e.config)
	if code != 0 {
		t.Fatalf("plugins: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if f := strings.Fields(lines[0]); len(f) != 6 || f[4] != "CAPABILITIES" {
		t.Errorf("header %q", lines[0])
	}
	want := "push,agent_assigned,agent_typing,user_typing,read,attachments,routing,queue_position,csat"
	if f := strings.Fields(lines[1]); len(f) != 6 || f[0] != "echo" || f[4] != want || f[5] != "ok" {
		t.Errorf("echo line %q, want capabilities %s", lines[1], want)
	}
}
