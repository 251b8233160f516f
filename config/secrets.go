package config

import (
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/livechatd/livechatd/sdk"
	"github.com/zclconf/go-cty/cty"
)

// MinSecretBytes is the shortest admin_token, channel_secret or
// webhook_token that is not weak: 16 bytes, 128 bits when random.
const MinSecretBytes = 16

// KnownSecrets are values published as examples or defaults — in
// examples/livechatd.hcl, the README, the tests and the sandboxes — and
// commonly typed placeholders: anyone can guess them. Values shorter than
// MinSecretBytes are weak anyway and need not be listed.
var KnownSecrets = []string{
	"dev-admin-token", "dev-channel-secret", "dev-webhook-token", "dev-echo-webhook-token", "dev-token",
	"sandbox-api-key", "process-admin-token",
	"YOUR_WEBHOOK_TOKEN", "YOUR_ADMIN_TOKEN", "YOUR_CHANNEL_SECRET",
	"changeme", "change-me", "changeit", "secret", "password", "admin", "token",
	"0123456789abcdef", "00000000000000000000000000000000",
}

// SecretAttr is one attribute of the file holding a secret, where it is
// and where its value came from. It never holds more of the value than
// Value, which prints as "(sensitive)".
type SecretAttr struct {
	// Name is the attribute: admin_token, channel_secret, webhook_token,
	// or a sensitive attribute of a provider's config block.
	Name string
	// Bot is the bot whose block holds it; "" at the top level.
	Bot string
	// Provider is true for an attribute of the bot's config block.
	Provider bool
	Value    Secret
	// Range is the attribute's, name to value.
	Range hcl.Range
	// Env is the variable NAME of env("NAME", …) when the value is that
	// call; "" for any other expression.
	Env string
	// EnvDefault says the variable was not set and env()'s default was
	// used: a value written in the file, for development.
	EnvDefault bool
}

// Where names the attribute as messages do: admin_token, channel_secret in
// bot "shop", api_key in bot "shop" config.
func (s SecretAttr) Where() string {
	switch {
	case s.Bot == "":
		return s.Name
	case s.Provider:
		return fmt.Sprintf("%s in bot %q config", s.Name, s.Bot)
	}
	return fmt.Sprintf("%s in bot %q", s.Name, s.Bot)
}

// Weakness says what is wrong with the secret's value — a known example or
// default, or shorter than MinSecretBytes — or "" when nothing is. Empty
// values are not judged here: whether one is allowed is the attribute's
// own rule. A provider's credential is issued by its platform, so only the
// known values count against it.
func (s SecretAttr) Weakness() string {
	v := s.Value.Value()
	switch {
	case v == "":
		return ""
	case slices.Contains(KnownSecrets, v):
		return "is a published example value"
	case s.EnvDefault:
		return "is env()'s default, written in the file"
	case !s.Provider && len(v) < MinSecretBytes:
		return fmt.Sprintf("is shorter than %d bytes", MinSecretBytes)
	}
	return ""
}

// Fix says how to set a secret that will do, as the end of a sentence.
func (s SecretAttr) Fix() string {
	const random = "a random value of at least 16 bytes, e.g. from `openssl rand -hex 32`"
	if s.Provider {
		if s.Env != "" {
			return fmt.Sprintf("set the environment variable %s to the platform's real credential", s.Env)
		}
		return "set it to the platform's real credential, preferably as env(\"NAME\")"
	}
	if s.Env != "" {
		return fmt.Sprintf("set the environment variable %s to %s", s.Env, random)
	}
	return fmt.Sprintf("set it to %s, preferably as env(\"NAME\") rather than in the file", random)
}

// Secrets lists the host's secret attributes that the file sets:
// admin_token, and each bot's channel_secret and webhook_token, in file
// order. The provider blocks' sensitive attributes are Bot.ConfigSecrets.
func (f *File) Secrets() []SecretAttr {
	var out []SecretAttr
	add := func(s Secret) {
		if s.origin != nil {
			a := *s.origin
			a.Value = s
			out = append(out, a)
		}
	}
	add(f.AdminToken)
	for _, b := range f.Bots {
		add(b.ChannelSecret)
		add(b.WebhookToken)
	}
	slices.SortStableFunc(out, func(a, b SecretAttr) int { return a.Range.Start.Byte - b.Range.Start.Byte })
	return out
}

// recordOrigins notes in each of f's host secrets where it came from.
func recordOrigins(f *File, body *hclsyntax.Body, ctx *hcl.EvalContext) {
	record := func(s *Secret, a *hclsyntax.Attribute, bot string) {
		if a == nil || s.IsZero() {
			return
		}
		if attr, ok := secretAttr(a, ctx); ok && attr.Value.Value() == s.Value() {
			attr.Bot, attr.Value = bot, Secret{}
			s.origin = &attr
		}
	}
	record(&f.AdminToken, body.Attributes["admin_token"], "")
	for _, blk := range body.Blocks {
		if blk.Type != "bot" || len(blk.Labels) != 1 {
			continue
		}
		for i := range f.Bots {
			if b := &f.Bots[i]; b.Name == blk.Labels[0] && b.DeclRange == blk.DefRange() {
				record(&b.ChannelSecret, blk.Body.Attributes["channel_secret"], b.Name)
				record(&b.WebhookToken, blk.Body.Attributes["webhook_token"], b.Name)
			}
		}
	}
}

// ConfigSecrets lists the sensitive string attributes of the bot's config
// block, as the provider's schema marks them.
func (b *Bot) ConfigSecrets(schema sdk.Schema) []SecretAttr {
	if b.src == nil || b.src.config == nil {
		return nil
	}
	var out []SecretAttr
	for _, a := range attributes(b.src.config) {
		if sa, ok := schema.Attribute(a.Name); !ok || !sa.Sensitive {
			continue
		}
		if s, ok := secretAttr(a, b.src.ctx); ok {
			s.Bot, s.Provider = b.Name, true
			out = append(out, s)
		}
	}
	return out
}

// secretAttr evaluates a as a string secret and finds where its value came
// from; ok is false when it is no string (already reported).
func secretAttr(a *hclsyntax.Attribute, ctx *hcl.EvalContext) (SecretAttr, bool) {
	v, diags := a.Expr.Value(ctx)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() || v.Type() != cty.String {
		return SecretAttr{}, false
	}
	s := SecretAttr{Name: a.Name, Value: NewSecret(v.AsString()), Range: a.SrcRange}
	call, ok := a.Expr.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "env" || len(call.Args) == 0 {
		return s, true
	}
	name, diags := call.Args[0].Value(nil)
	if diags.HasErrors() || !name.IsWhollyKnown() || name.IsNull() || name.Type() != cty.String {
		return s, true
	}
	s.Env = name.AsString()
	if len(call.Args) == 2 {
		// env(NAME) alone fails when NAME is not set: the default was used.
		_, err := ctx.Functions["env"].Call([]cty.Value{name})
		s.EnvDefault = err != nil
	}
	return s, true
}
