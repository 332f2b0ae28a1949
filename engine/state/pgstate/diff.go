package pgstate

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// The diff stays DuckDB's (issue 17): a worker stages both sides and
// diffs them in a DuckDB of its own, then copies what the diff made of
// each part into the shared state with SaveDiff, before SavePlan makes
// the plan visible.

// Diff is what the diff of one part of a plan made, as the workspace
// holds it (state.PartDiff).
type Diff = state.PartDiff

// Unchanged is a record a diff found unchanged that apply notes
// (state.UnchangedMark).
type Unchanged = state.UnchangedMark

// diffBatch is how many operations SaveDiff copies at a time: their
// changes go in a second COPY, so a batch is held in memory.
const diffBatch = 5000

// errStopped ends the operations of a Diff when saving them failed.
var errStopped = errors.New("stopped")

// SaveDiff keeps what the diff of one part made until SavePlan of its
// plan, which writes it in its own transaction: a plan appears whole or
// not at all, and another process's PrunePlans, which removes what no
// saved plan owns, cannot take the diff of a plan being saved. diff's
// Operations must stay readable until then (the engine's workspace keeps
// the plan until it is saved); DiscardPlan forgets it.
func (d *DB) SaveDiff(ctx context.Context, diff state.PartDiff) error {
	d.pendingMu.Lock()
	defer d.pendingMu.Unlock()
	if d.pending == nil {
		d.pending = map[string][]state.PartDiff{}
	}
	d.pending[diff.Part.PlanID] = append(d.pending[diff.Part.PlanID], diff)
	return nil
}

// takeDiffs returns the diffs SaveDiff keeps for plan id, and forgets
// them.
func (d *DB) takeDiffs(id string) []state.PartDiff {
	d.pendingMu.Lock()
	defer d.pendingMu.Unlock()
	diffs := d.pending[id]
	delete(d.pending, id)
	return diffs
}

// writeDiff writes what the diff of one part made in tx, with COPY: a
// part can have 100,000 operations and a million changes.
func writeDiff(ctx context.Context, tx pgx.Tx, diff state.PartDiff) error {
	p := diff.Part
	err := func() error {
		for i, f := range diff.Fields {
			if _, err := tx.Exec(ctx, `INSERT INTO plan_fields VALUES ($1, $2, $3, $4, $5, $6)`,
				p.PlanID, p.Mapping, p.Direction, i, f.Name, nullString(f.BindSet)); err != nil {
				return fmt.Errorf("fields: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO plan_unchanged VALUES ($1, $2, $3, $4)`, p.PlanID, p.Mapping, p.Direction, diff.Unchanged); err != nil {
			return fmt.Errorf("unchanged records: %w", err)
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"plan_unchanged_marks"},
			[]string{"plan_id", "mapping", "direction", "source_id", "dest_id", "source_modified", "source_etag"},
			pgx.CopyFromSlice(len(diff.Marks), func(i int) ([]any, error) {
				m := &diff.Marks[i]
				return []any{p.PlanID, p.Mapping, p.Direction, m.SourceID, m.DestID, nullTime(m.SourceModified), nullString(m.SourceETag)}, nil
			}))
		if err != nil {
			return fmt.Errorf("unchanged records: %w", err)
		}
		if diff.Operations == nil {
			return nil
		}
		var batch []plan.Operation
		var saveErr error
		err = diff.Operations(func(o plan.Operation) error {
			batch = append(batch, o)
			if len(batch) < diffBatch {
				return nil
			}
			saveErr = copyOperations(ctx, tx, p, batch)
			batch = batch[:0]
			if saveErr != nil {
				return errStopped
			}
			return nil
		})
		if saveErr != nil {
			return saveErr
		}
		if err != nil {
			return fmt.Errorf("read operations: %w", err)
		}
		return copyOperations(ctx, tx, p, batch)
	}()
	if err != nil {
		return fmt.Errorf("save the diff of plan %s, mapping %s (%s): %w", p.PlanID, p.Mapping, p.Direction, err)
	}
	return nil
}

// copyOperations copies a batch of a part's operations and their changes.
func copyOperations(ctx context.Context, tx pgx.Tx, p state.Part, ops []plan.Operation) error {
	if len(ops) == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"plan_operations"},
		[]string{"plan_id", "mapping", "direction", "seq", "op", "source_id", "dest_id", "etag", "source_etag", "source_modified",
			"reason", "source_display", "dest_display"},
		pgx.CopyFromSlice(len(ops), func(i int) ([]any, error) {
			o := &ops[i]
			src, err := displayText(o.SourceDisplay)
			if err != nil {
				return nil, fmt.Errorf("record %s: display: %w", o.SourceID, err)
			}
			dst, err := displayText(o.DestDisplay)
			if err != nil {
				return nil, fmt.Errorf("record %s: display: %w", o.SourceID, err)
			}
			return []any{p.PlanID, p.Mapping, p.Direction, o.Seq, string(o.Kind), o.SourceID, nullString(o.DestID), nullString(o.ETag),
				nullString(o.SourceETag), nullTime(o.SourceModified), nullString(o.Reason), src, dst}, nil
		}))
	if err != nil {
		return fmt.Errorf("operations: %w", err)
	}
	var changes [][]any
	for _, o := range ops {
		for _, c := range o.Changes {
			changes = append(changes, []any{p.PlanID, p.Mapping, p.Direction, o.Seq, c.Field, jsonText(c.Before), jsonText(c.After)})
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"plan_changes"}, []string{"plan_id", "mapping", "direction", "seq", "field", "before", "after"},
		pgx.CopyFromRows(changes)); err != nil {
		return fmt.Errorf("changes: %w", err)
	}
	return nil
}

// displayText is display values as the state saves them, JSON text; NULL
// for none.
func displayText(v plan.Display) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// jsonText is a change's value as saved, JSON text; NULL for none.
func jsonText(v json.RawMessage) any {
	if v == nil {
		return nil
	}
	return string(v)
}

// EachMappingRow streams a mapping's rows of one of the tables the diff
// reads (state.MappingTables), for a worker to load into its workspace
// before it plans the mapping.
func (d *DB) EachMappingRow(ctx context.Context, table state.MappingTable, mapping string, fn func(row []driver.Value) error) error {
	if err := state.CheckMappingTable(table); err != nil {
		return err
	}
	cols := make([]string, len(table.Columns))
	for i, c := range table.Columns {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	rows, err := d.pool.Query(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+pgx.Identifier{table.Name}.Sanitize()+` WHERE mapping = $1`, mapping)
	if err != nil {
		return fmt.Errorf("%s of mapping %s: %w", table.Name, mapping, err)
	}
	defer rows.Close()
	row := make([]driver.Value, len(table.Columns))
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return fmt.Errorf("%s of mapping %s: %w", table.Name, mapping, err)
		}
		for i, v := range vals {
			if t, ok := v.(time.Time); ok {
				v = t.UTC()
			}
			row[i] = v
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s of mapping %s: %w", table.Name, mapping, err)
	}
	return nil
}

// WriteMappingCSV implements state.MappingCSV with COPY … TO STDOUT, in
// a transaction whose time zone is UTC, so that times come out as the
// workspace keeps them.
func (d *DB) WriteMappingCSV(ctx context.Context, table state.MappingTable, mapping string, w io.Writer) error {
	if err := state.CheckMappingTable(table); err != nil {
		return err
	}
	cols := make([]string, len(table.Columns))
	for i, c := range table.Columns {
		cols[i] = pgx.Identifier{c}.Sanitize()
	}
	// COPY takes no parameters: the name goes in as an escape string
	// literal, which means the same whatever standard_conforming_strings
	// says.
	literal := `E'` + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(mapping) + `'`
	q := `COPY (SELECT ` + strings.Join(cols, ", ") + ` FROM ` + pgx.Identifier{table.Name}.Sanitize() + ` WHERE mapping = ` + literal + `) TO STDOUT WITH (FORMAT csv)`
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		// Times are written as ISO text in UTC, whatever the server's,
		// database's or role's settings, for the reader to parse.
		if _, err := tx.Exec(ctx, `SET LOCAL TIME ZONE 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'`); err != nil {
			return err
		}
		_, err := tx.Conn().PgConn().CopyTo(ctx, w, q)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s of mapping %s: %w", table.Name, mapping, err)
	}
	return nil
}
