package sqlite

import "context"

// WriterPragmas reads, on the writer connection, the pragmas Open sets.
func WriterPragmas(db *DB) map[string]string {
	out := map[string]string{}
	for _, p := range []string{"journal_mode", "synchronous", "foreign_keys", "busy_timeout"} {
		var v string
		if err := db.w.QueryRowContext(context.Background(), "PRAGMA "+p).Scan(&v); err != nil {
			v = "error: " + err.Error()
		}
		out[p] = v
	}
	return out
}

// QueuedTx counts the Tx calls waiting for the next batch.
func QueuedTx(db *DB) int {
	db.commits.mu.Lock()
	defer db.commits.mu.Unlock()
	return len(db.commits.pending)
}

// PreparedStatements counts the statements prepared on the writer and on
// the readers.
func PreparedStatements(db *DB) (writer, readers int) {
	db.wstmts.mu.Lock()
	writer = len(db.wstmts.m)
	db.wstmts.mu.Unlock()
	db.rq.stmts.mu.Lock()
	readers = len(db.rq.stmts.m)
	db.rq.stmts.mu.Unlock()
	return writer, readers
}
