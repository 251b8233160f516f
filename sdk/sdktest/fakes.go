package sdktest

import "sync"

// Fakes keeps one fake platform per bot, for a Platform adapter whose
// platform has one webhook per account (as Chatwoot, Zendesk or Intercom
// do), so each bot the suite configures needs an account of its own.
//
// The adapter asks Of(bot) in Config, PointWebhooks and the agent's
// methods, and loops over All in WaitDelivered, Fail, Heal and
// DropWebhooks. Of is safe for concurrent use: the suite drives many bots
// at once.
type Fakes[F any] struct {
	newFake func(bot string) F

	mu    sync.Mutex
	index map[string]int // bot → position in made
	made  []F
}

// NewFakes returns an empty Fakes that makes the fake of a bot with
// newFake the first time the bot is asked for. newFake runs under the
// Fakes' lock, once per bot: it must not call the same Fakes.
func NewFakes[F any](newFake func(bot string) F) *Fakes[F] {
	return &Fakes[F]{newFake: newFake, index: map[string]int{}}
}

// Of is the fake of bot, made on first use.
func (fs *Fakes[F]) Of(bot string) F {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if i, ok := fs.index[bot]; ok {
		return fs.made[i]
	}
	f := fs.newFake(bot)
	fs.index[bot] = len(fs.made)
	fs.made = append(fs.made, f)
	return f
}

// All is every fake made so far, in the order they were made, so a loop
// over them (failing or healing each) runs the same way every time. The
// slice is the caller's.
func (fs *Fakes[F]) All() []F {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]F(nil), fs.made...)
}
