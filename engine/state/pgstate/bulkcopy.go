package pgstate

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/couplerhq/coupler/engine/state"
)

// The PostgreSQL state's side of coupler state migrate (state.Copy).

var (
	_ state.BulkExporter = (*DB)(nil)
	_ state.BulkImporter = (*DB)(nil)
)

// ExportTables calls fn with a reader of the state inside one read-only
// REPEATABLE READ transaction: every table is read as of its first
// statement, whatever workers still write meanwhile.
func (d *DB) ExportTables(ctx context.Context, fn func(state.TableReader) error) error {
	tx, err := d.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("state database %s: %w", d.where, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return fn(&pgTables{tx: tx})
}

// ImportTables calls fn with a writer inside one transaction, committed
// when fn returns nil; rows go in with COPY.
func (d *DB) ImportTables(ctx context.Context, fn func(state.TableWriter) error) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return fn(&pgTables{tx: tx}) })
}

// pgTables reads and writes whole tables in one transaction.
type pgTables struct {
	tx pgx.Tx
}

func (t *pgTables) Count(ctx context.Context, tab state.Table) (int64, error) {
	var n int64
	err := t.tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{tab.Name}.Sanitize()).Scan(&n)
	return n, err
}

func (t *pgTables) EachRow(ctx context.Context, tab state.Table, fn func(row []any) error) error {
	rows, err := t.tx.Query(ctx, tab.SelectSQL())
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		row, err := rows.Values()
		if err != nil {
			return err
		}
		for i, v := range row {
			if tm, ok := v.(time.Time); ok {
				// pgx gives a timestamptz in the local zone.
				row[i] = tm.UTC()
			}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// LastRunID is the greatest of the run_ids sequence's last value (less
// one when it has handed out none yet: a new sequence, or one set by
// SetLastRunID to 0) and the greatest run id.
func (t *pgTables) LastRunID(ctx context.Context) (int64, error) {
	var n int64
	err := t.tx.QueryRow(ctx, `SELECT greatest(
		(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM run_ids),
		coalesce((SELECT max(id) FROM runs), 0))`).Scan(&n)
	return n, err
}

func (t *pgTables) WriteRows(ctx context.Context, tab state.Table, rows [][]any) error {
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{tab.Name}, tab.Columns, pgx.CopyFromRows(rows))
	return err
}

func (t *pgTables) Clear(ctx context.Context, tab state.Table) error {
	_, err := t.tx.Exec(ctx, `DELETE FROM `+pgx.Identifier{tab.Name}.Sanitize())
	return err
}

func (t *pgTables) SetLastRunID(ctx context.Context, id int64) error {
	var err error
	if id > 0 {
		_, err = t.tx.Exec(ctx, `SELECT setval('run_ids', $1, true)`, id)
	} else {
		_, err = t.tx.Exec(ctx, `SELECT setval('run_ids', 1, false)`)
	}
	return err
}
