package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/livechatd/livechatd/host/internal/pgtest"
)

// The postgres phase: the livechat path of mode (a) — the real livechatd
// and echo plugin — with the store on PostgreSQL, first one replica, then
// three on one database behind a round-robin balancer (in this process,
// for both, so that the two rows differ only by the replicas). The
// database is Options.PostgresDSN's server, or a throwaway cluster
// (host/internal/pgtest) when that is empty. Each row gets a fresh
// database.

// replicaCounts are the postgres phase's rows.
var replicaCounts = []int{1, 3}

func (h *harness) postgres(ctx context.Context) error {
	admin := h.opts.PostgresDSN
	if admin == "" {
		h.logf("postgres: starting a throwaway cluster (pgtest)")
		srv, err := pgtest.Start()
		if err != nil {
			return fmt.Errorf("start PostgreSQL: %w (install: %s)", err, pgtest.InstallHint)
		}
		defer srv.Stop()
		admin = srv.DSN("postgres")
	}
	for _, n := range replicaCounts {
		if err := h.postgresReplicas(ctx, admin, n); err != nil {
			return fmt.Errorf("%d replicas: %w", n, err)
		}
	}
	return nil
}

// freshDatabase creates a new database on admin's server and returns its
// DSN.
func freshDatabase(ctx context.Context, admin, name string) (string, error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		return "", err
	}
	u, err := url.Parse(admin)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("the PostgreSQL DSN must be a URL (postgres://…)")
	}
	u.Path = "/" + name
	return u.String(), nil
}

func (h *harness) postgresReplicas(ctx context.Context, admin string, n int) error {
	dsn, err := freshDatabase(ctx, admin, fmt.Sprintf("livechat_bench_%d", n))
	if err != nil {
		return err
	}
	b, err := newBot()
	if err != nil {
		return err
	}
	defer b.close()
	ch, err := newChannel()
	if err != nil {
		return err
	}
	defer ch.close()
	backends := make([]*url.URL, n)
	for i := range n {
		dir, err := h.newDir(fmt.Sprintf("postgres-%d-r%d", n, i+1))
		if err != nil {
			return err
		}
		if err := install(h.echo, dir, "echo"); err != nil {
			return err
		}
		params := confParams{BotURL: b.eventsURL(), ChannelURL: ch.deliverURL(), Bots: []botConf{{Name: botName, Provider: "echo"}},
			PostgresDSN: dsn, Replica: fmt.Sprintf("bench-r%d", i+1)}
		if _, err := h.writeConfig(dir, params); err != nil {
			return err
		}
		d, err := h.start(dir)
		if err != nil {
			return err
		}
		defer d.stop()
		if _, err := d.waitReady(ctx, h.client); err != nil {
			return err
		}
		backends[i], _ = url.Parse(d.url())
	}
	lb, err := serveLoopback(roundRobin(backends))
	if err != nil {
		return err
	}
	defer lb.close()
	label := "PostgreSQL, 1 replica"
	if n > 1 {
		label = fmt.Sprintf("PostgreSQL, %d replicas", n)
	}
	h.logf("postgres: %s", label)
	_, err = h.livechat(ctx, fmt.Sprintf("pg%d", n), label, lb.url(), ch, false)
	return err
}

// roundRobin is the balancer in front of the replicas: each request to
// the next one in turn.
func roundRobin(backends []*url.URL) http.Handler {
	var next atomic.Uint64
	transport := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true, IdleConnTimeout: time.Minute}
	return &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(backends[int(next.Add(1)%uint64(len(backends)))])
			r.Out.Host = r.In.Host
		},
	}
}
