package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// Prepared statements: modernc.org/sqlite compiles a statement each time
// it is run unless it was prepared, and compiling was a sixth of the CPU
// of an event on the bot path (the profile in BENCHMARKS.md). The queries
// are fixed strings, so each is prepared once per connection and reused:
// readers prepare on first use; the writer's single connection is held by
// the transaction that first runs a query, so the query is prepared right
// after that transaction ends, and runs prepared from then on.

// maxStatements bounds the cache; queries beyond it run unprepared.
const maxStatements = 512

// stmtCache holds the prepared statements of one pool.
type stmtCache struct {
	pool *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
	want map[string]bool // writer: run unprepared in a transaction; prepare after it
}

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, m: map[string]*sql.Stmt{}, want: map[string]bool{}}
}

// lookup returns the prepared statement of query, or nil.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

// get returns the prepared statement of query, preparing it on the pool
// when it is new; nil when it cannot (the caller runs the query as is).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if s := c.lookup(query); s != nil {
		return s
	}
	c.mu.Lock()
	full := len(c.m) >= maxStatements
	c.mu.Unlock()
	if full {
		return nil
	}
	s, err := c.pool.PrepareContext(ctx, query)
	if err != nil {
		return nil // the query itself reports the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[query]; ok {
		s.Close()
		return old
	}
	c.m[query] = s
	return s
}

// wanted notes a query the writer ran unprepared.
func (c *stmtCache) wanted(query string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m)+len(c.want) < maxStatements {
		c.want[query] = true
	}
}

// prepareWanted prepares what the writer ran unprepared. It needs the
// writer's connection: call it when no transaction holds it.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	c.mu.Lock()
	var queries []string
	for q := range c.want {
		queries = append(queries, q)
	}
	clear(c.want)
	c.mu.Unlock()
	for _, q := range queries {
		c.get(ctx, q)
	}
}

// close closes every statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, s := range c.m {
		s.Close()
		delete(c.m, q)
	}
}

func readerPool(pool *sql.DB) readers { return readers{DB: pool, stmts: newStmtCache(pool)} }

// readers runs reads on the reader pool with prepared statements.
type readers struct {
	*sql.DB
	stmts *stmtCache
}

func (r readers) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := r.stmts.get(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return r.DB.ExecContext(ctx, query, args...)
}

func (r readers) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := r.stmts.get(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return r.DB.QueryContext(ctx, query, args...)
}

func (r readers) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := r.stmts.get(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return r.DB.QueryRowContext(ctx, query, args...)
}

// writeTx is a write transaction that runs the writer's prepared
// statements, and notes the queries it ran unprepared.
type writeTx struct {
	*sql.Tx
	stmts *stmtCache
}

func (w writeTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := w.stmts.lookup(query); s != nil {
		return w.Tx.StmtContext(ctx, s).ExecContext(ctx, args...)
	}
	w.stmts.wanted(query)
	return w.Tx.ExecContext(ctx, query, args...)
}

func (w writeTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if s := w.stmts.lookup(query); s != nil {
		return w.Tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	w.stmts.wanted(query)
	return w.Tx.QueryContext(ctx, query, args...)
}

func (w writeTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := w.stmts.lookup(query); s != nil {
		return w.Tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	w.stmts.wanted(query)
	return w.Tx.QueryRowContext(ctx, query, args...)
}
