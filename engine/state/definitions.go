package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// Definition returns the fingerprint of a mapping pass's definition as the
// last run that applied it without a failed record kept it, and whether
// one was kept.
func (d *DB) Definition(ctx context.Context, mapping, direction string) (string, bool, error) {
	fp, ok, err := d.optionalString(ctx, `SELECT fingerprint FROM mapping_definitions WHERE mapping = ? AND direction = ?`, mapping, direction)
	if err != nil {
		return "", false, fmt.Errorf("definition of mapping %s, %s: %w", mapping, direction, err)
	}
	return fp, ok, nil
}

// optionalString runs a query of one string; ok is false when it finds no
// row.
func (d *DB) optionalString(ctx context.Context, query string, args ...any) (s string, ok bool, err error) {
	err = d.db.QueryRowContext(ctx, query, args...).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return s, err == nil, err
}

// setDefinition keeps a pass's definition, in the transaction that ends
// its run.
func setDefinition(ctx context.Context, tx *sql.Tx, mapping, direction, fingerprint string) error {
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO mapping_definitions VALUES (?, ?, ?, ?)`, mapping, direction, fingerprint, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("keep the definition of mapping %s, %s: %w", mapping, direction, err)
	}
	return nil
}

// savePlanParts records, with a plan (SavePlan's transaction), the
// definition each part was made with and whether it awaits a first-sync
// acknowledgement.
func savePlanParts(ctx context.Context, tx *sql.Tx, p *plan.Plan) error {
	for _, m := range p.Mappings {
		if m.Definition == "" && !m.CreatesIntoExisting {
			continue
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO plan_parts VALUES (?, ?, ?, ?, ?, ?)`, p.ID, m.Name, m.Direction, m.Definition, m.DefinitionChanged, m.CreatesIntoExisting)
		if err != nil {
			return fmt.Errorf("save plan %s, mapping %s: definition: %w", p.ID, m.Name, err)
		}
	}
	return nil
}

// loadPlanParts fills what plan_parts holds of a loaded plan's parts.
func loadPlanParts(ctx context.Context, q querier, p *plan.Plan) error {
	rows, err := q.QueryContext(ctx, `SELECT mapping, direction, fingerprint, changed, creates_into_existing FROM plan_parts WHERE plan_id = ?`, p.ID)
	if err != nil {
		return fmt.Errorf("load plan %s: parts: %w", p.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var mapping, direction, fp string
		var changed, into bool
		if err := rows.Scan(&mapping, &direction, &fp, &changed, &into); err != nil {
			return err
		}
		for _, m := range p.Mappings {
			if m.Name == mapping && m.Direction == direction {
				m.Definition, m.DefinitionChanged, m.CreatesIntoExisting = fp, changed, into
			}
		}
	}
	return rows.Err()
}

// Acknowledge records that the first sync of mapping may create records in
// a destination that already holds records.
func (d *DB) Acknowledge(ctx context.Context, mapping string) error {
	_, err := d.db.ExecContext(ctx, `INSERT OR REPLACE INTO first_sync_acks VALUES (?, ?)`, mapping, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("acknowledge the first sync of mapping %s: %w", mapping, err)
	}
	return nil
}

// Acknowledged reports whether the first sync of mapping was acknowledged.
func (d *DB) Acknowledged(ctx context.Context, mapping string) (bool, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM first_sync_acks WHERE mapping = ?`, mapping).Scan(&n); err != nil {
		return false, fmt.Errorf("first sync acknowledgement of mapping %s: %w", mapping, err)
	}
	return n > 0, nil
}

// StagedDestInFilter counts the staged destination records that are in
// the mapping's filter.
func (d *DB) StagedDestInFilter(ctx context.Context) (int64, error) {
	var n int64
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM `+stagingTable(DestRows)+` WHERE in_filter`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the destination records in the filter: %w", err)
	}
	return n, nil
}
