package state

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// Part names one direction of one mapping within a plan: the unit that is
// diffed, listed and applied.
type Part struct {
	PlanID    string
	Mapping   string
	Direction string
}

// DiffSpec says how to compare the staged rows of one mapping.
type DiffSpec struct {
	Part
	// SourceIsTable is true when the table side is the source (to_integration).
	SourceIsTable bool
	// Fields are the destination fields, in staged value order.
	Fields []DestField
	// SyncOnlyCoupled leaves uncoupled source records alone.
	SyncOnlyCoupled bool
	// DestEntity names the destination in reasons, e.g. "accounts".
	DestEntity string
}

// DestField is a destination field as the diff and apply see it.
type DestField struct {
	Name string
	// NotNull keeps the destination's value when the source's is null.
	NotNull bool
	// BindSet, when set, makes apply write the value as a lookup binding:
	// "Name@odata.bind": "/BindSet(value)".
	BindSet string
}

// Diff compares the staged source rows with the couplings and the staged
// destination rows, entirely in SQL, and saves one operation per source row
// (and the field changes of creates and updates) under the plan. It returns
// the count of each kind.
func (d *DB) Diff(ctx context.Context, s DiffSpec) (plan.Counts, error) {
	for _, r := range []Role{SourceRows, DestRows} {
		if err := d.dedupe(ctx, r); err != nil {
			return nil, err
		}
	}
	src, dst := couplingColumns(s.SourceIsTable)
	var distinct []string
	for i, f := range s.Fields {
		distinct = append(distinct, changedSQL(i, f))
	}
	changed := "false"
	if len(distinct) > 0 {
		changed = strings.Join(distinct, " OR ")
	}
	missing := sqlString(fmt.Sprintf("the coupled %s record no longer exists", s.DestEntity))
	// Operations are numbered in report order: creates, updates, failures,
	// skips, then unchanged, each by source key.
	ops := `
INSERT INTO plan_operations (plan_id, mapping, direction, seq, op, source_id, dest_id, etag, source_modified, reason)
SELECT ?, ?, ?, row_number() OVER (ORDER BY rank, source_id), op, source_id, dest_id, etag, source_modified, reason
FROM (
	SELECT s.key AS source_id, c.` + dst + ` AS dest_id, d.etag, s.modified AS source_modified,
		CASE
			WHEN NOT s.in_filter THEN 'skip'
			WHEN s.err IS NOT NULL THEN 'fail'
			WHEN c.` + dst + ` IS NULL AND ? THEN 'skip'
			WHEN c.` + dst + ` IS NULL THEN 'create'
			WHEN d.key IS NULL THEN 'fail'
			WHEN NOT d.in_filter THEN 'skip'
			WHEN ` + changed + ` THEN 'update'
			ELSE 'unchanged'
		END AS op,
		CASE
			WHEN NOT s.in_filter THEN 'left out by filter'
			WHEN s.err IS NOT NULL THEN s.err
			WHEN c.` + dst + ` IS NULL AND ? THEN 'not coupled (sync_only_coupled)'
			WHEN c.` + dst + ` IS NULL THEN NULL
			WHEN d.key IS NULL THEN ` + missing + `
			WHEN NOT d.in_filter THEN 'coupled record left out by integration_filter'
		END AS reason,
		CASE op WHEN 'create' THEN 1 WHEN 'update' THEN 2 WHEN 'fail' THEN 3 WHEN 'skip' THEN 4 ELSE 5 END AS rank
	FROM ` + stagingTable(SourceRows) + ` s
	LEFT JOIN couplings c ON c.mapping = ? AND c.` + src + ` = s.key
	LEFT JOIN ` + stagingTable(DestRows) + ` d ON d.key = c.` + dst + `
)`
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, ops, s.PlanID, s.Mapping, s.Direction, s.SyncOnlyCoupled, s.SyncOnlyCoupled, s.Mapping); err != nil {
		return nil, fmt.Errorf("diff mapping %s: %w", s.Mapping, err)
	}
	for i, f := range s.Fields {
		_, err := tx.ExecContext(ctx, `INSERT INTO plan_fields VALUES (?, ?, ?, ?, ?, ?)`,
			s.PlanID, s.Mapping, s.Direction, i, f.Name, nullString(f.BindSet))
		if err != nil {
			return nil, fmt.Errorf("save fields of mapping %s: %w", s.Mapping, err)
		}
	}
	if len(s.Fields) > 0 {
		var parts []string
		args := []any{}
		for i, f := range s.Fields {
			parts = append(parts, fmt.Sprintf(`
	SELECT o.plan_id, o.mapping, o.direction, o.seq, ? AS field, CASE WHEN o.op = 'create' THEN NULL ELSE d.v%[1]d END, s.v%[1]d
	FROM plan_operations o
	JOIN %[2]s s ON s.key = o.source_id
	LEFT JOIN %[3]s d ON d.key = o.dest_id
	WHERE o.plan_id = ? AND o.mapping = ? AND o.direction = ?
		AND ((o.op = 'create' AND s.v%[1]d IS NOT NULL) OR (o.op = 'update' AND %[4]s))`,
				i, stagingTable(SourceRows), stagingTable(DestRows), changedSQL(i, f)))
			args = append(args, f.Name, s.PlanID, s.Mapping, s.Direction)
		}
		q := `INSERT INTO plan_changes (plan_id, mapping, direction, seq, field, before, after)` + strings.Join(parts, "\nUNION ALL")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return nil, fmt.Errorf("diff fields of mapping %s: %w", s.Mapping, err)
		}
	}
	counts, err := countOps(ctx, tx, s.Part)
	if err != nil {
		return nil, err
	}
	return counts, tx.Commit()
}

// Counts returns how many operations of each kind a part of a plan has.
func (d *DB) Counts(ctx context.Context, part Part) (plan.Counts, error) {
	return countOps(ctx, d.db, part)
}

// SettleConflicts finds the records of a bidirectional mapping that both
// passes of a plan would update: changed on both sides since the last sync.
// With a policy, the losing side's update becomes a skip; without one, both
// become conflicts, and neither side is written.
func (d *DB) SettleConflicts(ctx context.Context, planID, mapping, policy string) error {
	const to, from = "to_integration", "from_integration"
	both := `SELECT a.seq FROM plan_operations a JOIN plan_operations b
		ON b.plan_id = a.plan_id AND b.mapping = a.mapping AND b.direction = ? AND b.op = 'update'
		AND b.source_id = a.dest_id AND b.dest_id = a.source_id
		WHERE a.plan_id = ? AND a.mapping = ? AND a.direction = ? AND a.op = 'update'`
	mark := func(tx *sql.Tx, direction, other, op, reason string) error {
		_, err := tx.ExecContext(ctx, `UPDATE plan_operations SET op = ?, reason = ?
			WHERE plan_id = ? AND mapping = ? AND direction = ? AND seq IN (`+both+`)`,
			op, reason, planID, mapping, direction, other, planID, mapping, direction)
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	switch policy {
	case "send_to_integration":
		err = mark(tx, from, to, "skip", "update conflict settled by conflicts.update: send_to_integration (the table side wins)")
	case "get_from_integration":
		err = mark(tx, to, from, "skip", "update conflict settled by conflicts.update: get_from_integration (the integration side wins)")
	default:
		// Both passes are marked in one statement each, but the second must
		// still find the first's rows: mark the table pass by a temporary
		// kind, then the integration pass, then finish the first.
		reason := "changed on both sides since the last sync; set conflicts.update to settle it"
		if err = mark(tx, to, from, "conflict-pending", reason); err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE plan_operations SET op = 'conflict', reason = ?
				WHERE plan_id = ? AND mapping = ? AND direction = ? AND seq IN (
				SELECT b.seq FROM plan_operations a JOIN plan_operations b
				ON b.plan_id = a.plan_id AND b.mapping = a.mapping AND b.direction = ? AND b.op = 'update'
				AND b.source_id = a.dest_id AND b.dest_id = a.source_id
				WHERE a.plan_id = ? AND a.mapping = ? AND a.direction = ? AND a.op = 'conflict-pending')`,
				reason, planID, mapping, from, from, planID, mapping, to)
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE plan_operations SET op = 'conflict' WHERE plan_id = ? AND mapping = ? AND op = 'conflict-pending'`, planID, mapping)
		}
	}
	if err != nil {
		return fmt.Errorf("settle update conflicts of mapping %s: %w", mapping, err)
	}
	return tx.Commit()
}

// NotModified counts the coupled records of a mapping that an incremental
// read did not return: they have not changed since the watermark.
func (d *DB) NotModified(ctx context.Context, mapping string, sourceIsTable bool) (int64, error) {
	src, _ := couplingColumns(sourceIsTable)
	var n int64
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM couplings c WHERE c.mapping = ?
		AND NOT EXISTS (SELECT 1 FROM `+stagingTable(SourceRows)+` s WHERE s.key = c.`+src+`)`, mapping).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count unmodified records of mapping %s: %w", mapping, err)
	}
	return n, nil
}

// LatestSourceModified returns the latest modified-on among the staged source
// rows, zero when there are none or none carry a timestamp.
func (d *DB) LatestSourceModified(ctx context.Context) (time.Time, error) {
	var t *time.Time
	if err := d.db.QueryRowContext(ctx, `SELECT max(modified) FROM `+stagingTable(SourceRows)).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("latest modified source row: %w", err)
	}
	if t == nil {
		return time.Time{}, nil
	}
	return t.UTC(), nil
}

// DropStaging removes the staging tables once a plan no longer needs them,
// so that the state file does not keep a copy of both systems.
func (d *DB) DropStaging(ctx context.Context) error {
	for _, r := range []Role{SourceRows, DestRows} {
		if _, err := d.db.ExecContext(ctx, `DROP TABLE IF EXISTS `+stagingTable(r)); err != nil {
			return fmt.Errorf("drop %s: %w", stagingTable(r), err)
		}
	}
	return nil
}

// changedSQL is true when staged value i differs between source and
// destination; a not_null field never counts a null source as a change.
func changedSQL(i int, f DestField) string {
	c := fmt.Sprintf("s.v%d IS DISTINCT FROM d.v%d", i, i)
	if f.NotNull {
		c = fmt.Sprintf("(s.v%d IS NOT NULL AND %s)", i, c)
	}
	return c
}

// sqlString quotes s as a SQL string literal.
func sqlString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
