package config

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/livechatd/livechatd/host/webchat/rules"
)

// The webchat's settings in the file: a bot's webchat block (issue 17,
// point 9) and the upload keys of the limits block (point 5). What each
// may be is package rules', which the webchat applies too: config imports
// that leaf, never the webchat itself.

var webchatAttrs = []string{"title", "color", "position"}

// Webchat is a bot's webchat block: how its chat page and embeddable
// widget look. An empty field takes the webchat's default (title "Chat
// with <bot>", color #2f6fed, position "right"); a script tag's data-
// attributes override each field for the page it is on.
type Webchat struct {
	// Title is the chat's title, at most rules.MaxTitle characters.
	Title string
	// Color is the accent colour, #rgb or #rrggbb.
	Color string
	// Position is the side of the screen the widget's launcher sits on,
	// "right" or "left".
	Position string
	// DeclRange is the block's header; zero when the bot has none.
	DeclRange hcl.Range
}

// webchat decodes a bot's webchat block. It applies to a bot on the
// built-in webchat only: anywhere else nothing would ever show it, which
// an operator would rather hear of than find out.
func (d *decoder) webchat(blk *hclsyntax.Block, bot *Bot, in string) Webchat {
	body := blk.Body
	d.check(body, section{in: in, attrs: webchatAttrs})
	w := Webchat{DeclRange: blk.DefRange()}
	for _, f := range []struct {
		name  string
		field *string
		check func(string) string
	}{
		{"title", &w.Title, rules.CheckTitle},
		{"color", &w.Color, rules.CheckColor},
		{"position", &w.Position, rules.CheckPosition},
	} {
		s, a, ok := d.str(body, f.name, in)
		if !ok {
			continue
		}
		if strings.TrimSpace(s) == "" {
			d.errorf(a.Expr.Range(), "%s%s must not be empty; leave it out for the default", f.name, in)
			continue
		}
		if problem := f.check(s); problem != "" {
			d.errorf(a.Expr.Range(), "%s%s %s", f.name, in, problem)
			continue
		}
		*f.field = s
	}
	if bot.ChannelURL != "" {
		d.errorf(blk.DefRange(), "webchat block in bot %q applies to bots with channel = %q only, and this one has channel_url (%s): its channel draws its own chat",
			bot.Name, ChannelWebchat, position(bot.AttrRange("channel_url")))
	}
	return w
}
