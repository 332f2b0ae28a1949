package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// Approve records that by approved plan id at at, unless someone has
// already: the first approval stands. It returns the approval that
// stands.
func (d *DB) Approve(ctx context.Context, id, by string, at time.Time) (*plan.Approval, error) {
	if _, err := d.db.ExecContext(ctx, `INSERT INTO plan_approvals VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, id, by, at.UTC()); err != nil {
		return nil, fmt.Errorf("approve plan %s: %w", id, err)
	}
	a, err := d.approval(ctx, id)
	if err == nil && a == nil {
		err = fmt.Errorf("approve plan %s: the approval was not recorded", id)
	}
	return a, err
}

// approval returns who approved plan id and when; nil when nobody has.
func (d *DB) approval(ctx context.Context, id string) (*plan.Approval, error) {
	a := &plan.Approval{}
	err := d.db.QueryRowContext(ctx, `SELECT approved_by, approved_at FROM plan_approvals WHERE plan_id = ?`, id).Scan(&a.By, &a.At)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("approval of plan %s: %w", id, err)
	}
	a.At = a.At.UTC()
	return a, nil
}
