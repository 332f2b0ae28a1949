package state

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Run is one application of one mapping of a plan.
type Run struct {
	ID         int64
	PlanID     string
	Mapping    string
	Direction  string
	StartedAt  time.Time
	FinishedAt time.Time
	Inserted   int64
	Modified   int64
	Unchanged  int64
	Skipped    int64
	Failed     int64
}

// Duration is how long the run took; zero while it is running.
func (r Run) Duration() time.Duration {
	if r.FinishedAt.IsZero() {
		return 0
	}
	return r.FinishedAt.Sub(r.StartedAt)
}

// StartRun records that a run began and returns its id.
func (d *DB) StartRun(ctx context.Context, planID, mapping, direction string, started time.Time) (int64, error) {
	var id int64
	err := d.db.QueryRowContext(ctx, `INSERT INTO runs (id, plan_id, mapping, direction, started_at)
		VALUES (nextval('run_ids'), ?, ?, ?, ?) RETURNING id`, planID, mapping, direction, started.UTC()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("start run of mapping %s: %w", mapping, err)
	}
	return id, nil
}

// RecordResult is the outcome of one write, or of a record that failed
// before any write.
type RecordResult struct {
	Seq      int64
	SourceID string
	DestID   string
	Op       string
	// Err is empty on success.
	Err string
	// Couple asks for a new coupling SourceID <-> DestID (after a create).
	Couple bool
	At     time.Time
}

// CouplingSide says which coupling column holds a run's source ids.
type CouplingSide struct {
	Mapping       string
	SourceIsTable bool
}

// RecordResults saves a batch of write outcomes in one transaction, with the
// couplings that successful creates make, so that a crash never leaves a
// created record uncoupled in the state once its batch is confirmed.
func (d *DB) RecordResults(ctx context.Context, runID int64, side CouplingSide, results []RecordResult) error {
	if len(results) == 0 {
		return nil
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var vals []string
	var args []any
	var couple []string
	var cargs []any
	var synced []any
	for _, r := range results {
		result, msg := "success", any(nil)
		if r.Err != "" {
			result, msg = "failure", r.Err
		}
		vals = append(vals, "(?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, runID, r.Seq, r.SourceID, nullString(r.DestID), r.Op, result, msg, r.At.UTC())
		if r.Err == "" && r.Couple {
			tableID, intID := r.SourceID, r.DestID
			if !side.SourceIsTable {
				tableID, intID = intID, tableID
			}
			couple = append(couple, "(?, ?, ?, ?, ?, 'success')")
			cargs = append(cargs, side.Mapping, tableID, intID, r.At.UTC(), r.At.UTC())
		} else if r.Err == "" {
			synced = append(synced, r.SourceID)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO run_records VALUES `+strings.Join(vals, ","), args...); err != nil {
		return fmt.Errorf("record results of run %d: %w", runID, err)
	}
	if len(couple) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO couplings (mapping, table_id, integration_id, coupled_at, last_synced_at, last_result) VALUES `+strings.Join(couple, ","), cargs...); err != nil {
			return fmt.Errorf("couple created records of mapping %s: %w", side.Mapping, err)
		}
	}
	if len(synced) > 0 {
		src, _ := couplingColumns(side.SourceIsTable)
		ph := strings.TrimSuffix(strings.Repeat("?,", len(synced)), ",")
		q := `UPDATE couplings SET last_synced_at = ?, last_result = 'success' WHERE mapping = ? AND ` + src + ` IN (` + ph + `)`
		if _, err := tx.ExecContext(ctx, q, append([]any{time.Now().UTC(), side.Mapping}, synced...)...); err != nil {
			return fmt.Errorf("mark synced records of mapping %s: %w", side.Mapping, err)
		}
	}
	return tx.Commit()
}

// FinishRun saves a run's counts and end, and moves the source watermark in
// the same transaction, so the watermark never gets ahead of the run log.
func (d *DB) FinishRun(ctx context.Context, r Run, watermarkSide string, watermark time.Time) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `UPDATE runs SET finished_at = ?, inserted = ?, modified = ?, unchanged = ?, skipped = ?, failed = ? WHERE id = ?`,
		r.FinishedAt.UTC(), r.Inserted, r.Modified, r.Unchanged, r.Skipped, r.Failed, r.ID)
	if err != nil {
		return fmt.Errorf("finish run %d: %w", r.ID, err)
	}
	if !watermark.IsZero() {
		_, err = tx.ExecContext(ctx, upsertWatermark, r.Mapping, watermarkSide, watermark.UTC(), time.Now().UTC())
		if err != nil {
			return fmt.Errorf("set watermark of mapping %s: %w", r.Mapping, err)
		}
	}
	return tx.Commit()
}

// EarliestFailure returns the earliest source modified-on among the records
// of a run that failed, at plan or at apply time; zero when none failed.
func (d *DB) EarliestFailure(ctx context.Context, runID int64, part Part) (time.Time, error) {
	var t sql.NullTime
	err := d.db.QueryRowContext(ctx, `SELECT min(o.source_modified) FROM plan_operations o
		WHERE o.plan_id = ? AND o.mapping = ? AND o.direction = ? AND (o.op IN ('fail', 'conflict') OR EXISTS (
			SELECT 1 FROM run_records r WHERE r.run_id = ? AND r.seq = o.seq AND r.result = 'failure'))`,
		part.PlanID, part.Mapping, part.Direction, runID).Scan(&t)
	if err != nil {
		return time.Time{}, fmt.Errorf("earliest failure of run %d: %w", runID, err)
	}
	return t.Time.UTC(), nil
}

// Runs lists the most recent runs first, at most limit of them.
func (d *DB) Runs(ctx context.Context, limit int) ([]Run, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, plan_id, mapping, direction, started_at, finished_at, inserted, modified, unchanged, skipped, failed
		FROM runs ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var fin sql.NullTime
		if err := rows.Scan(&r.ID, &r.PlanID, &r.Mapping, &r.Direction, &r.StartedAt, &fin, &r.Inserted, &r.Modified, &r.Unchanged, &r.Skipped, &r.Failed); err != nil {
			return nil, err
		}
		r.FinishedAt = fin.Time
		out = append(out, r)
	}
	return out, rows.Err()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
