package engine_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/sqlite"
)

// Calls to a bot reuse their connections: 32 users talking at once, for
// several rounds, open about 32 connections to the bot, not one per call.
// (Go's default transport keeps 2 idle connections per host: under load
// most calls opened a new one.)
func TestBotConnectionsAreReused(t *testing.T) {
	var opened atomic.Int64
	bot := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"messages":[]}`)
	}))
	bot.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	bot.Start()
	t.Cleanup(bot.Close)

	db, err := sqlite.Open(filepath.Join(t.TempDir(), "livechat.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := &engine.Bot{Name: "shop", Provider: "fake", SessionTimeout: 30 * time.Minute, StartTimeout: time.Minute,
		ExpiredNotice: host.ExpiredNoticeImmediate, BotURL: bot.URL, ChannelURL: "http://channel.invalid/deliver"}
	eng := engine.New(db, engine.ProvidersFunc(func(string) (engine.Provider, error) { return nil, fmt.Errorf("none") }),
		[]*engine.Bot{b}, engine.Options{})

	const clients, rounds = 32, 5
	for round := range rounds {
		var wg sync.WaitGroup
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev := textEvent(fmt.Sprintf("u%d", c), "", fmt.Sprintf("hi %d", round))
				if _, err := eng.HandleEvent(context.Background(), "shop", ev); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	if n := opened.Load(); n > clients+clients/4 {
		t.Errorf("%d calls opened %d connections to the bot; want them reused (at most about %d)", clients*rounds, n, clients)
	}
	t.Logf("%d calls, %d connections", clients*rounds, opened.Load())
}
