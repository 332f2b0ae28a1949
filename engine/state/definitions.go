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
	var fp string
	err := d.db.QueryRowContext(ctx, `SELECT fingerprint FROM mapping_definitions WHERE mapping = ? AND direction = ?`, mapping, direction).Scan(&fp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("definition of mapping %s, %s: %w", mapping, direction, err)
	}
	return fp, true, nil
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

// savePlanDefinitions records, with a plan (SavePlan's transaction), the
// definition each part was made with.
func savePlanDefinitions(ctx context.Context, tx *sql.Tx, p *plan.Plan) error {
	for _, m := range p.Mappings {
		if m.Definition == "" {
			continue
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO plan_definitions VALUES (?, ?, ?, ?, ?)`, p.ID, m.Name, m.Direction, m.Definition, m.DefinitionChanged)
		if err != nil {
			return fmt.Errorf("save plan %s, mapping %s: definition: %w", p.ID, m.Name, err)
		}
	}
	return nil
}

// loadPlanDefinitions fills the definitions of a loaded plan's parts.
func loadPlanDefinitions(ctx context.Context, q querier, p *plan.Plan) error {
	rows, err := q.QueryContext(ctx, `SELECT mapping, direction, fingerprint, changed FROM plan_definitions WHERE plan_id = ?`, p.ID)
	if err != nil {
		return fmt.Errorf("load plan %s: definitions: %w", p.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var mapping, direction, fp string
		var changed bool
		if err := rows.Scan(&mapping, &direction, &fp, &changed); err != nil {
			return err
		}
		for _, m := range p.Mappings {
			if m.Name == mapping && m.Direction == direction {
				m.Definition, m.DefinitionChanged = fp, changed
			}
		}
	}
	return rows.Err()
}
