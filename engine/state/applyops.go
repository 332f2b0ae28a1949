package state

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/couplerhq/coupler/engine/plan"
)

// OperationsToWrite returns what apply needs of the operations of one part
// of a plan with seq after afterSeq and of one of kinds, in seq order, at
// most limit of them: each operation's identity, versions and its changes'
// fields and values after (not before, not display values, which apply
// does not use). It reads the operations, then their changes, in two
// queries: a join would repeat each operation's columns on every one of
// its changes, and scanning values out of DuckDB is most of the cost.
func (d *DB) OperationsToWrite(ctx context.Context, part Part, afterSeq int64, limit int, kinds []plan.Kind) ([]plan.Operation, error) {
	ks := make([]string, len(kinds))
	for i, k := range kinds {
		ks[i] = string(k)
	}
	fail := func(err error) ([]plan.Operation, error) {
		return nil, fmt.Errorf("operations of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT seq, op, source_id, dest_id, etag, source_etag, source_modified FROM plan_operations
		WHERE plan_id = ? AND mapping = ? AND direction = ? AND seq > ? AND op IN (SELECT unnest(?::VARCHAR[])) ORDER BY seq LIMIT ?`,
		part.PlanID, part.Mapping, part.Direction, afterSeq, ks, limit)
	if err != nil {
		return fail(err)
	}
	var ops []plan.Operation
	for rows.Next() {
		var (
			op                     plan.Operation
			kind                   string
			dest, etag, sourceETag sql.NullString
			modified               sql.NullTime
		)
		if err := rows.Scan(&op.Seq, &kind, &op.SourceID, &dest, &etag, &sourceETag, &modified); err != nil {
			rows.Close()
			return fail(err)
		}
		op.Kind, op.DestID, op.ETag, op.SourceETag, op.SourceModified = plan.Kind(kind), dest.String, etag.String, sourceETag.String, modified.Time
		ops = append(ops, op)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	if len(ops) == 0 {
		return nil, nil
	}
	// The changes of the seqs read, in the seq range they span, which
	// DuckDB finds by its zone maps; operations of other kinds in the range
	// are passed over.
	rows, err = d.db.QueryContext(ctx, `SELECT seq, field, after FROM plan_changes
		WHERE plan_id = ? AND mapping = ? AND direction = ? AND seq >= ? AND seq <= ? ORDER BY seq, field`,
		part.PlanID, part.Mapping, part.Direction, ops[0].Seq, ops[len(ops)-1].Seq)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var seq int64
		var field string
		var after sql.NullString
		if err := rows.Scan(&seq, &field, &after); err != nil {
			return fail(err)
		}
		for i < len(ops) && ops[i].Seq < seq {
			i++
		}
		if i == len(ops) {
			break
		}
		if ops[i].Seq == seq {
			ops[i].Changes = append(ops[i].Changes, plan.Change{Field: field, After: rawJSON(after)})
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return ops, nil
}
