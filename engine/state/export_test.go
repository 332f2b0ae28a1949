package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
)

// AppendForTest appends rows to a table of the state in one transaction:
// the conformance suite writes what a diff makes with it, which the diff
// makes from staging tables here.
func (d *DB) AppendForTest(ctx context.Context, table string, columns []string, rows [][]driver.Value) error {
	return d.connTx(ctx, func(c *sql.Conn) error {
		if table == "plan_changes" { // a view: its rows go in as migrate copies them
			view := make([][]any, len(rows))
			for i, r := range rows {
				view[i] = make([]any, len(r))
				for j, v := range r {
					view[i][j] = v
				}
			}
			return writeChangeRows(ctx, c, view)
		}
		return appendRows(c, "", table, columns, len(rows), func(i int) []driver.Value { return rows[i] })
	})
}

// SetJournalLimitForTest sets the size past which RecordIntents
// checkpoints and empties the intents journal.
func (d *DB) SetJournalLimitForTest(n int64) {
	d.journal.mu.Lock()
	d.journal.limit = n
	d.journal.mu.Unlock()
}
