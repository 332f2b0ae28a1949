package pgstate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/couplerhq/coupler/engine/plan"
)

// ExportOperations writes a plan's operations, one row per changed field
// as the operations view has them, to path: format is "parquet" or
// "jsonl"; empty mappings and kinds mean all. PostgreSQL writes neither
// format, so the rows stream into a DuckDB of the moment, in a temporary
// directory that spills to disk, and DuckDB's COPY writes the file, the
// same statement the DuckDB state runs: the files are alike whichever
// state made them.
func (d *DB) ExportOperations(ctx context.Context, planID, format, path string, mappings []string, kinds []plan.Kind) (n int64, err error) {
	var formatSQL string
	switch format {
	case "parquet":
		formatSQL = "FORMAT PARQUET"
	case "jsonl":
		formatSQL = "FORMAT JSON"
	default:
		return 0, fmt.Errorf("export format must be parquet or jsonl, not %q", format)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("export plan %s to %s: %w", planID, path, err)
		}
	}()
	dir, err := os.MkdirTemp("", "coupler-export-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	connector, err := duckdb.NewConnector(filepath.Join(dir, "export.duckdb")+"?threads=1", nil)
	if err != nil {
		return 0, err
	}
	defer connector.Close()
	db := sql.OpenDB(connector)
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	// The view's columns and types, with the order rows arrive in.
	if _, err := conn.ExecContext(ctx, `CREATE TABLE operations (n BIGINT, plan_id VARCHAR, mapping VARCHAR, direction VARCHAR, seq BIGINT,
		op VARCHAR, source_id VARCHAR, dest_id VARCHAR, reason VARCHAR, field VARCHAR, before VARCHAR, after VARCHAR)`); err != nil {
		return 0, err
	}
	ks := make([]string, len(kinds))
	for i, k := range kinds {
		ks[i] = string(k)
	}
	rows, err := d.pool.Query(ctx, `SELECT plan_id, mapping, direction, seq, op, source_id, dest_id, reason, field, before, after FROM operations
		WHERE plan_id = $1 AND (cardinality($2::text[]) = 0 OR mapping = ANY($2)) AND (cardinality($3::text[]) = 0 OR op = ANY($3))
		ORDER BY mapping`+byteOrder+`, direction`+byteOrder+`, seq, field`+byteOrder, planID, append([]string{}, mappings...), ks)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return errors.New("not a DuckDB connection")
		}
		a, err := duckdb.NewAppenderFromConn(c, "", "operations")
		if err != nil {
			return err
		}
		var i int64
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				a.Close()
				return err
			}
			row := make([]driver.Value, 0, len(vals)+1)
			row = append(row, i)
			for _, v := range vals {
				row = append(row, v)
			}
			if err := a.AppendRow(row...); err != nil {
				a.Close()
				return err
			}
			i++
		}
		if err := rows.Err(); err != nil {
			a.Close()
			return err
		}
		return a.Close()
	})
	if err != nil {
		return 0, err
	}
	res, err := conn.ExecContext(ctx, `COPY (SELECT * EXCLUDE (n) FROM operations ORDER BY n) TO '`+strings.ReplaceAll(path, "'", "''")+`' (`+formatSQL+`)`)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
