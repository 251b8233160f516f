package retention_test

import (
	"context"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/livechatd/livechatd/config"
	"github.com/livechatd/livechatd/host/retention"
	"github.com/livechatd/livechatd/host/sqlite"
	"github.com/prometheus/client_golang/prometheus"
)

// Example wires the job the way serve does: the policy from the config
// file's retention block, its own context, and a wait for Run to return
// before the store closes.
func Example() {
	dir, err := os.MkdirTemp("", "retention-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	cfg, err := config.Parse("livechatd.hcl", []byte(`retention { transcripts = "30d" }`))
	if err != nil {
		panic(err)
	}
	store, err := sqlite.Open(filepath.Join(dir, "livechat.db"), sqlite.Options{})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	reg := prometheus.NewRegistry()
	log := hclog.NewNullLogger()

	job, err := retention.New(store, retention.Policy{
		DoneWork:        cfg.Retention.DoneWork,
		DeadLetters:     cfg.Retention.DeadLetters,
		ProcessedEvents: cfg.Retention.ProcessedEvents,
		Requests:        cfg.Retention.Requests,
		Transcripts:     cfg.Retention.Transcripts,
		WebchatStreams:  cfg.Retention.WebchatStreams,
		Interval:        cfg.Retention.Interval,
		Batch:           cfg.Retention.Batch,
	}, retention.Options{Logger: log.Named("retention"), Registerer: reg})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); job.Run(ctx) }()

	// At shutdown, before the store closes:
	stop()
	<-done
	// Output:
}
