package main_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserWebchatClosedHours: outside the bot's hours (today is a
// holiday), "talk to a human" opens no live session: the chat shows
// messages.closed and the conversation-ended marker for closed_hours, no
// "Connecting you to an agent…" banner, and the bot, told
// LIVECHAT_SESSION_CLOSED_HOURS, takes over in the same chat.
func TestBrowserWebchatClosedHours(t *testing.T) {
	// Yesterday, today and tomorrow in UTC are holidays, so the test holds
	// across midnight.
	now := time.Now().UTC()
	var days string
	for _, d := range []time.Time{now.AddDate(0, 0, -1), now, now.AddDate(0, 0, 1)} {
		days += fmt.Sprintf("%q, ", d.Format(time.DateOnly))
	}
	p := webchatProcWith(t, "", fmt.Sprintf(`  hours {
    time_zone = "UTC"
    weekly = {
      mon = ["00:00-24:00"]
      tue = ["00:00-24:00"]
      wed = ["00:00-24:00"]
      thu = ["00:00-24:00"]
      fri = ["00:00-24:00"]
      sat = ["00:00-24:00"]
      sun = ["00:00-24:00"]
    }
    holidays = [%s]
  }
`, days))
	ctx := browser(t)
	do(t, ctx, "open the chat", chromedp.Navigate(p.url+"/chat/shop"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-user] #chat-input`)),
		chromedp.Click(chromedp.CSS(`#profile summary`)),
		chromedp.SendKeys(chromedp.CSS(`#profile-firstname`), "Jane"),
		chromedp.Click(chromedp.CSS(`#profile-save`)),
	)
	sayIn(t, ctx, "hi")
	do(t, ctx, "ask for a human outside the hours",
		chromedp.WaitVisible(message("bot", "Hello Jane! I am the demo bot.")),
		chromedp.Click(`//button[@data-testid="button"][contains(., "Yes, talk to a human!")]`),
		chromedp.WaitVisible(`//li[@data-testid="ended-marker"][@data-reason="closed_hours"]`),
		chromedp.WaitVisible(message("bot", "Our team is away right now. Leave your email here and we will write to you when we are back.")),
	)
	shot(t, ctx, "closed-hours")
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	banner, err := chromedp.Run(sctx, chromedp.Evaluate[bool](`(() => { const b = document.querySelector('#connecting-banner'); return !!b && b.offsetParent !== null })()`))
	if err != nil {
		t.Fatal(err)
	}
	if banner {
		t.Error("the chat shows the connecting banner although no session was opened")
	}
	got := chatTexts(t, ctx)
	if countContaining(got, "", "We are closed right now.") != 1 {
		t.Errorf("the chat does not show messages.closed once: %q", got)
	}
	if sessions := p.admin("/v1/sessions?bot=shop")["sessions"].([]any); len(sessions) != 0 {
		t.Errorf("a session was opened outside the hours: %v", sessions)
	}
}
