package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// A plan's field changes are stored in plan_change_values under the number
// plan_change_parts gives their part, and read through the view
// plan_changes (schema version 9): the plan, mapping and direction,
// repeated on each of a first sync's million changes, made saving and
// checkpointing them take twice as long. Since schema version 14 the
// changes of creates and restores are in plan_create_values, a row per
// operation (packCreatesSQL), which the view unpacks too.

// execQuerier writes and reads the database: a transaction or one
// connection.
type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	querier
}

// numberPart returns the number of a part of a plan in plan_change_parts,
// giving it one first when it has none.
func numberPart(ctx context.Context, tx execQuerier, part Part) (int64, error) {
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO plan_change_parts (plan_id, mapping, direction) VALUES (?, ?, ?)`,
		part.PlanID, part.Mapping, part.Direction); err != nil {
		return 0, fmt.Errorf("number plan %s, mapping %s, %s: %w", part.PlanID, part.Mapping, part.Direction, err)
	}
	id, _, err := partNumber(ctx, tx, part)
	return id, err
}

// partNumber returns the number of a part of a plan in plan_change_parts;
// ok is false when it has none, and so no changes.
func partNumber(ctx context.Context, q querier, part Part) (id int64, ok bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT id FROM plan_change_parts WHERE plan_id = ? AND mapping = ? AND direction = ?`,
		part.PlanID, part.Mapping, part.Direction).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("number of plan %s, mapping %s, %s: %w", part.PlanID, part.Mapping, part.Direction, err)
	}
	return id, true, nil
}

// deleteChangesSQL are the statements that delete the changes of the
// plans that where, a condition on plan_change_parts' plan_id, picks;
// before those parts go.
func deleteChangesSQL(where string) []string {
	return []string{
		`DELETE FROM plan_change_values WHERE part IN (SELECT id FROM plan_change_parts WHERE ` + where + `)`,
		`DELETE FROM plan_create_values WHERE part IN (SELECT id FROM plan_change_parts WHERE ` + where + `)`,
	}
}

// writeChangeRows appends rows of the plan_changes view, as Tables lists
// its columns (plan_id, mapping, direction, seq, field, before, after),
// into plan_change_values, numbering their parts: coupler state migrate
// copies the view's rows.
func writeChangeRows(ctx context.Context, c *sql.Conn, rows [][]any) error {
	ids := map[Part]int64{}
	parts := make([]Part, len(rows))
	for i, r := range rows {
		p, ok := rowPart(r)
		if !ok {
			return fmt.Errorf("plan_changes: a row without its plan, mapping or direction: %v", r)
		}
		parts[i] = p
		if _, done := ids[p]; done {
			continue
		}
		id, err := numberPart(ctx, c, p)
		if err != nil {
			return err
		}
		ids[p] = id
	}
	cols := []string{"part", "seq", "field", "before", "after"}
	return appendRows(c, "", "plan_change_values", cols, len(rows), func(i int) []driver.Value {
		r := rows[i]
		return []driver.Value{ids[parts[i]], r[3], r[4], r[5], r[6]}
	})
}

// rowPart is the part of a row of the plan_changes view.
func rowPart(r []any) (Part, bool) {
	if len(r) != 7 {
		return Part{}, false
	}
	plan, ok1 := r[0].(string)
	mapping, ok2 := r[1].(string)
	direction, ok3 := r[2].(string)
	return Part{PlanID: plan, Mapping: mapping, Direction: direction}, ok1 && ok2 && ok3
}
