package state

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// ChangeToken returns the token a mapping's next change-tracking read of
// one side starts from, and whether it has one.
func (d *DB) ChangeToken(ctx context.Context, mapping, side string) (string, bool, error) {
	tok, ok, err := d.optionalString(ctx, `SELECT token FROM change_tokens WHERE mapping = ? AND side = ?`, mapping, side)
	if err != nil {
		return "", false, fmt.Errorf("change token of mapping %s, %s side: %w", mapping, side, err)
	}
	return tok, ok, nil
}

// ClearChangeTokens forgets the change tracking tokens of the given
// mappings on both sides, so that their next change-tracking read reads
// every record and starts afresh. It returns how many it removed.
func (d *DB) ClearChangeTokens(ctx context.Context, mappings ...string) (int64, error) {
	var n int64
	for _, m := range mappings {
		res, err := d.db.ExecContext(ctx, `DELETE FROM change_tokens WHERE mapping = ?`, m)
		if err != nil {
			return n, fmt.Errorf("clear change tokens of mapping %s: %w", m, err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}

// setChangeToken stores a side's token in tx (FinishRun's transaction).
func setChangeToken(ctx context.Context, tx *sql.Tx, mapping, side, token string) error {
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO change_tokens VALUES (?, ?, ?, ?)`, mapping, side, token, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("set change token of mapping %s, %s side: %w", mapping, side, err)
	}
	return nil
}

// saveChangeReads records, with a plan (SavePlan's transaction), how each
// part read through change tracking was read and its tokens.
func saveChangeReads(ctx context.Context, tx *sql.Tx, p *plan.Plan) error {
	for _, m := range p.Mappings {
		if m.ChangeTracking == "" {
			continue
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO plan_change_tokens VALUES (?, ?, ?, ?, ?, ?, ?)`,
			p.ID, m.Name, m.Direction, string(m.ChangeTracking), nullString(m.BaseChangeToken), nullString(m.NewChangeToken), m.Removed)
		if err != nil {
			return fmt.Errorf("save plan %s, mapping %s: change tracking: %w", p.ID, m.Name, err)
		}
	}
	return nil
}

// loadChangeReads fills the change tracking of a loaded plan's parts.
func loadChangeReads(ctx context.Context, q querier, p *plan.Plan) error {
	rows, err := q.QueryContext(ctx, `SELECT mapping, direction, mode, coalesce(base_token, ''), coalesce(new_token, ''), removed
		FROM plan_change_tokens WHERE plan_id = ?`, p.ID)
	if err != nil {
		return fmt.Errorf("load plan %s: change tracking: %w", p.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var mapping, direction, mode, base, next string
		var removed int64
		if err := rows.Scan(&mapping, &direction, &mode, &base, &next, &removed); err != nil {
			return err
		}
		for _, m := range p.Mappings {
			if m.Name == mapping && m.Direction == direction {
				m.ChangeTracking, m.BaseChangeToken, m.NewChangeToken, m.Removed = plan.ChangeRead(mode), base, next, removed
			}
		}
	}
	return rows.Err()
}
