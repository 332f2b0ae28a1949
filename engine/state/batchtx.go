package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/duckdb/duckdb-go/v2"
)

// batchTx is one transaction on one connection that can both run
// statements and bulk-load rows through DuckDB's Appender. Apply records a
// batch of hundreds or thousands of intents and results at a time; as
// multi-row INSERT ... VALUES statements, with a parameter per value, DuckDB
// spent more time parsing and binding them than running them (issue 16:
// recording took most of an apply). The Appender writes the rows straight
// into the table's storage, inside the connection's open transaction, so a
// batch is still all or nothing.
type batchTx struct {
	ctx  context.Context
	conn *sql.Conn
}

// inBatchTx runs fn in one transaction and commits it when fn succeeds;
// otherwise it rolls back, and a connection that cannot roll back is thrown
// away rather than handed back to the pool with a transaction open.
func (d *DB) inBatchTx(ctx context.Context, fn func(tx *batchTx) error) (err error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN TRANSACTION`); err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if err := fn(&batchTx{ctx: ctx, conn: conn}); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, `COMMIT`)
	return err
}

// exec runs one statement in the transaction.
func (tx *batchTx) exec(q string, args ...any) error {
	_, err := tx.conn.ExecContext(tx.ctx, q, args...)
	return err
}

// query runs one query in the transaction.
func (tx *batchTx) query(q string, args ...any) (*sql.Rows, error) {
	return tx.conn.QueryContext(tx.ctx, q, args...)
}

// appendRows appends n rows to table (of catalog, "" for the state
// database, "temp" for a temporary table) in the transaction; row(i, a)
// appends the i-th with a.AppendRow, a value for each of columns in order.
// The columns are named so that a table can grow columns (with defaults)
// without breaking this.
func (tx *batchTx) appendRows(catalog, table string, columns []string, n int, row func(i int, a *duckdb.Appender) error) error {
	return tx.conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderWithColumns(dc.(driver.Conn), catalog, "", table, columns)
		if err != nil {
			return fmt.Errorf("appender for %s: %w", table, err)
		}
		for i := range n {
			if err := row(i, a); err != nil {
				return errors.Join(err, a.Close())
			}
		}
		// Close flushes: the rows join the open transaction.
		return a.Close()
	})
}
