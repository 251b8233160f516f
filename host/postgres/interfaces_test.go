package postgres_test

import (
	"github.com/livechatd/livechatd/host"
	"github.com/livechatd/livechatd/host/engine"
	"github.com/livechatd/livechatd/host/postgres"
	"github.com/livechatd/livechatd/host/retention"
	"github.com/livechatd/livechatd/host/storetest"
	"github.com/livechatd/livechatd/host/webchat"
)

// Everything the host asks of host/sqlite's DB beside host.Store, so that
// serve can take either store.
var (
	_ host.Store           = (*postgres.DB)(nil)
	_ storetest.Store      = (*postgres.DB)(nil)
	_ retention.Store      = (*postgres.DB)(nil)
	_ webchat.Log          = (*postgres.DB)(nil)
	_ engine.OutboxCounter = (*postgres.DB)(nil)
)
