package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// The DuckDB state's side of coupler state migrate (copy.go).

var (
	_ BulkExporter = (*DB)(nil)
	_ BulkImporter = (*DB)(nil)
)

// ExportTables calls fn with a reader of the state inside one read-only
// transaction on one connection: DuckDB's snapshot isolation keeps what
// it reads as of the transaction's start.
func (d *DB) ExportTables(ctx context.Context, fn func(TableReader) error) error {
	// A copy must see the writes in flight (it refuses them).
	if err := d.flushPending(ctx); err != nil {
		return err
	}
	c, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `BEGIN TRANSACTION READ ONLY`); err != nil {
		return err
	}
	// The connection goes back to the pool: the transaction must end
	// however fn does.
	defer c.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
	return fn(&duckTables{c: c})
}

// ImportTables calls fn with a writer inside one transaction, committed
// when fn returns nil: rows go in through DuckDB's Appender, as apply's
// batches do (bulk.go). It adds couplings, so under couplingsMu, and
// refuses couplings that couple a record twice, which the table has no
// keys to refuse since schema version 12.
func (d *DB) ImportTables(ctx context.Context, fn func(TableWriter) error) error {
	return d.couplingTx(ctx, func(c *sql.Conn) error {
		if err := fn(&duckTables{c: c}); err != nil {
			return err
		}
		return coupledOnce(ctx, c)
	})
}

// coupledOnce returns an error naming a record that the couplings couple
// twice in one mapping, if any.
func coupledOnce(ctx context.Context, c *sql.Conn) error {
	var mapping, side, id string
	var n int64
	err := c.QueryRowContext(ctx, `
		SELECT * FROM (
			SELECT mapping, 'table' AS side, table_id AS id, count(*) AS n FROM couplings GROUP BY mapping, table_id HAVING count(*) > 1
			UNION ALL
			SELECT mapping, 'integration', integration_id, count(*) FROM couplings GROUP BY mapping, integration_id HAVING count(*) > 1
		) ORDER BY mapping, side DESC, id LIMIT 1`).Scan(&mapping, &side, &id, &n)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("couplings: %w", err)
	}
	return fmt.Errorf("couplings: mapping %s couples %s record %s %d times; a record is coupled once", mapping, side, id, n)
}

// duckTables reads and writes whole tables on one connection.
type duckTables struct {
	c *sql.Conn
}

func (t *duckTables) Count(ctx context.Context, tab Table) (int64, error) {
	var n int64
	err := t.c.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(tab.Name)).Scan(&n)
	return n, err
}

func (t *duckTables) EachRow(ctx context.Context, tab Table, fn func(row []any) error) error {
	rows, err := t.c.QueryContext(ctx, tab.SelectSQL())
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		row := make([]any, len(tab.Columns))
		ptrs := make([]any, len(row))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		for i, v := range row {
			if tm, ok := v.(time.Time); ok {
				row[i] = tm.UTC()
			}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// LastRunID is the greatest of the run_ids sequence's last value (or its
// start, less one, when it has handed out none: a state copied in by
// SetLastRunID) and the greatest run id.
func (t *duckTables) LastRunID(ctx context.Context) (int64, error) {
	var n int64
	err := t.c.QueryRowContext(ctx, `SELECT greatest(
		coalesce((SELECT max(coalesce(last_value, start_value - 1)) FROM duckdb_sequences()
			WHERE database_name = current_database() AND schema_name = 'main' AND sequence_name = 'run_ids'), 0),
		coalesce((SELECT max(id) FROM runs), 0))`).Scan(&n)
	return n, err
}

func (t *duckTables) WriteRows(ctx context.Context, tab Table, rows [][]any) error {
	if tab.Name == "plan_changes" {
		return writeChangeRows(ctx, t.c, rows)
	}
	return appendRows(t.c, "", tab.Name, tab.Columns, len(rows), func(i int) []driver.Value {
		vals := make([]driver.Value, len(rows[i]))
		for j, v := range rows[i] {
			vals[j] = v
		}
		return vals
	})
}

func (t *duckTables) Clear(ctx context.Context, tab Table) error {
	if tab.Name == "plan_changes" {
		_, err := t.c.ExecContext(ctx, `DELETE FROM plan_change_values; DELETE FROM plan_create_values; DELETE FROM plan_change_parts`)
		return err
	}
	_, err := t.c.ExecContext(ctx, `DELETE FROM `+quoteIdent(tab.Name))
	return err
}

// SetLastRunID makes the sequence anew: DuckDB has no setval.
func (t *duckTables) SetLastRunID(ctx context.Context, id int64) error {
	_, err := t.c.ExecContext(ctx, fmt.Sprintf(`DROP SEQUENCE run_ids; CREATE SEQUENCE run_ids START %d`, id+1))
	return err
}
