package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
)

// Apply records a batch of writes before it is sent and its outcomes after:
// hundreds of rows a batch, many batches a run. A multi-row INSERT with a
// parameter per value is parsed and bound afresh each time, which cost more
// than the writes' HTTP; the rows go through DuckDB's Appender instead, and
// the set statements read them from a temporary table. An Appender appends
// within the transaction open on its connection, so a batch is still
// recorded whole or not at all.

// connTx runs fn on one connection inside a transaction that fn's
// statements and Appenders share, and commits it when fn succeeds.
func (d *DB) connTx(ctx context.Context, fn func(c *sql.Conn) error) (err error) {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `BEGIN TRANSACTION`); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// The statement that failed may have aborted the transaction
			// already; the rollback then has nothing to undo.
			_, _ = c.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
		}
	}()
	if err := fn(c); err != nil {
		return err
	}
	_, err = c.ExecContext(ctx, `COMMIT`)
	return err
}

// couplingTx is connTx for a transaction that adds couplings: under
// couplingsMu, so that what fn checks the couplings against stays what
// the table holds until fn's commit.
func (d *DB) couplingTx(ctx context.Context, fn func(c *sql.Conn) error) error {
	d.couplingsMu.Lock()
	defer d.couplingsMu.Unlock()
	return d.connTx(ctx, fn)
}

// appendRows appends n rows to catalog.table (the temporary catalog is
// "temp"; "" is the database's), the columns named, row(i) giving the
// values of the i-th.
func appendRows(c *sql.Conn, catalog, table string, columns []string, n int, row func(i int) []driver.Value) error {
	return appendStream(c, catalog, table, columns, func(add func([]driver.Value) error) error {
		for i := range n {
			if err := add(row(i)); err != nil {
				return err
			}
		}
		return nil
	})
}
