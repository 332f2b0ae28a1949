package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Watermark returns a mapping's watermark on one side, and whether it has one.
func (d *DB) Watermark(ctx context.Context, mapping, side string) (time.Time, bool, error) {
	var t time.Time
	err := d.db.QueryRowContext(ctx, `SELECT value FROM watermarks WHERE mapping = ? AND side = ?`, mapping, side).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("watermark of mapping %s, %s side: %w", mapping, side, err)
	}
	return t.UTC(), true, nil
}

// CouplingCount returns how many records a mapping has coupled.
func (d *DB) CouplingCount(ctx context.Context, mapping string) (int64, error) {
	var n int64
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM couplings WHERE mapping = ?`, mapping).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count couplings of mapping %s: %w", mapping, err)
	}
	return n, nil
}

// Coupling is a link between a table record and an integration record.
type Coupling struct {
	Mapping       string
	TableID       string
	IntegrationID string
}

// Couplings lists a mapping's couplings ordered by table id.
func (d *DB) Couplings(ctx context.Context, mapping string) ([]Coupling, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT mapping, table_id, integration_id FROM couplings WHERE mapping = ? ORDER BY table_id`, mapping)
	if err != nil {
		return nil, fmt.Errorf("couplings of mapping %s: %w", mapping, err)
	}
	defer rows.Close()
	var out []Coupling
	for rows.Next() {
		var c Coupling
		if err := rows.Scan(&c.Mapping, &c.TableID, &c.IntegrationID); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
