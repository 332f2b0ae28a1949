package state

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"time"
)

// Intent is a write about to be sent, recorded before it is sent so that a
// process stopped while it was in flight can find out, when it starts
// again, whether the write happened (see docs/reliability.md).
type Intent struct {
	RunID     int64
	PlanID    string
	Mapping   string
	Direction string
	Seq       int64
	Op        string
	SourceID  string
	DestID    string
	// ClientKey is the key a create sends for the new record; empty when
	// the destination makes the key.
	ClientKey string
	// Fields is the JSON object written.
	Fields         string
	SourceModified time.Time
	SourceETag     string
	CreatedAt      time.Time
}

// RecordIntents saves the intents of one batch. They are removed by
// RecordResults (the results of the same run and seqs) or by DropIntents.
//
// They are appended to the intents journal (journal.go), fsynced, and held
// pending in memory; only a checkpoint (durable) writes those still
// pending into the database. Written there at once, they were most of
// what an apply logged: DuckDB checkpoints on its own each time its log
// passes 16 MiB, and each such checkpoint rewrote the couplings' indexes
// whole (until schema version 12 dropped them).
func (d *DB) RecordIntents(ctx context.Context, intents []Intent) error {
	if len(intents) == 0 {
		return nil
	}
	// On disk, outside the write-ahead log, before the batch is sent: a
	// damaged log cannot then forget a write that may have happened.
	full, err := d.journal.recordIntents(intents)
	if err != nil {
		return fmt.Errorf("record write intents of mapping %s: %w", intents[0].Mapping, err)
	}
	if full {
		return d.durable(ctx)
	}
	return nil
}

// asStored is in as the database gives it back: its times in UTC, to the
// microsecond. Intents held pending in memory are listed as those stored.
func asStored(in Intent) Intent {
	in.CreatedAt = in.CreatedAt.Truncate(time.Microsecond).UTC()
	if !in.SourceModified.IsZero() {
		in.SourceModified = in.SourceModified.Truncate(time.Microsecond).UTC()
	}
	return in
}

// insertIntents adds intents to write_intents.
func insertIntents(c *sql.Conn, intents []Intent) error {
	return appendRows(c, "", "write_intents", intentColumns, len(intents), func(i int) []driver.Value { return intentRow(&intents[i]) })
}

// intentRow is in's row of write_intents, in intentColumns' order.
func intentRow(in *Intent) []driver.Value {
	return []driver.Value{in.RunID, in.PlanID, in.Mapping, in.Direction, in.Seq, in.Op, in.SourceID, nullString(in.DestID),
		nullString(in.ClientKey), in.Fields, nullTime(in.SourceModified), nullString(in.SourceETag), in.CreatedAt.UTC()}
}

// intentColumns are write_intents' columns in the order RecordIntents
// appends them.
var intentColumns = []string{"run_id", "plan_id", "mapping", "direction", "seq", "op", "source_id", "dest_id",
	"client_key", "fields", "source_modified", "source_etag", "created_at"}

// PendingIntents lists the intents left behind by a process that stopped
// while writing, and those of the batches in flight, oldest first.
func (d *DB) PendingIntents(ctx context.Context) ([]Intent, error) {
	// Held across both reads: a checkpoint between them would move the
	// intents in memory into the table, after the table was read.
	j := d.journal
	j.mu.Lock()
	defer j.mu.Unlock()
	rows, err := d.db.QueryContext(ctx, `SELECT run_id, plan_id, mapping, direction, seq, op, source_id, coalesce(dest_id, ''),
		coalesce(client_key, ''), fields, source_modified, coalesce(source_etag, ''), created_at
		FROM write_intents`)
	if err != nil {
		return nil, fmt.Errorf("pending write intents: %w", err)
	}
	defer rows.Close()
	var out []Intent
	for rows.Next() {
		var in Intent
		var mod sql.NullTime
		if err := rows.Scan(&in.RunID, &in.PlanID, &in.Mapping, &in.Direction, &in.Seq, &in.Op, &in.SourceID, &in.DestID,
			&in.ClientKey, &in.Fields, &mod, &in.SourceETag, &in.CreatedAt); err != nil {
			return nil, err
		}
		in.SourceModified = mod.Time
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending write intents: %w", err)
	}
	out = append(out, j.pendingLocked()...)
	slices.SortFunc(out, func(a, b Intent) int {
		return cmp.Or(cmp.Compare(a.RunID, b.RunID), cmp.Compare(a.Seq, b.Seq))
	})
	return out, nil
}

// DropIntents forgets intents whose writes are known not to have happened,
// so that the operations are tried again.
func (d *DB) DropIntents(ctx context.Context, runID int64, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	// Held across the delete and the journalled drop: a checkpoint in
	// between would write the intents in memory into the table, where
	// nothing deletes them again.
	j := d.journal
	j.mu.Lock()
	defer j.mu.Unlock()
	args := []any{runID}
	for _, s := range seqs {
		args = append(args, s)
	}
	if _, err := d.db.ExecContext(ctx, `DELETE FROM write_intents WHERE run_id = ? AND seq IN (`+placeholders(len(seqs))+`)`, args...); err != nil {
		return fmt.Errorf("drop write intents of run %d: %w", runID, err)
	}
	// Journalled, so that the journal does not put them back after the
	// log is lost: settled again, a create without a client key could
	// not be told from one that happened.
	if err := j.dropLocked(runID, seqs); err != nil {
		return fmt.Errorf("drop write intents of run %d: %w", runID, err)
	}
	return nil
}

// UnfinishedRun returns the run of one part of a plan that was started but
// never finished (the process stopped), with its counts rebuilt from the
// results it recorded, and the seqs of the operations it recorded; ok is
// false when there is none.
func (d *DB) UnfinishedRun(ctx context.Context, part Part) (run Run, done map[int64]bool, ok bool, err error) {
	err = d.db.QueryRowContext(ctx, `SELECT id, started_at FROM runs WHERE plan_id = ? AND mapping = ? AND direction = ? AND finished_at IS NULL
		ORDER BY id DESC LIMIT 1`, part.PlanID, part.Mapping, part.Direction).Scan(&run.ID, &run.StartedAt)
	if err == sql.ErrNoRows {
		return run, nil, false, nil
	}
	if err != nil {
		return run, nil, false, fmt.Errorf("unfinished run of mapping %s: %w", part.Mapping, err)
	}
	run.PlanID, run.Mapping, run.Direction = part.PlanID, part.Mapping, part.Direction
	rows, err := d.db.QueryContext(ctx, `SELECT seq, op, result FROM run_records WHERE run_id = ?`, run.ID)
	if err != nil {
		return run, nil, false, fmt.Errorf("records of run %d: %w", run.ID, err)
	}
	defer rows.Close()
	done = map[int64]bool{}
	for rows.Next() {
		var seq int64
		var op, result string
		if err := rows.Scan(&seq, &op, &result); err != nil {
			return run, nil, false, err
		}
		done[seq] = true
		run.countRecords(op, result == "success", 1)
	}
	return run, done, true, rows.Err()
}

// Count adds one successful operation of kind op to the run's counts.
func (r *Run) Count(op string) { r.countRecords(op, true, 1) }

// countRecords adds n recorded records of kind op to the run's counts:
// successes by kind, anything else as failed.
func (r *Run) countRecords(op string, success bool, n int64) {
	if !success {
		r.Failed += n
		return
	}
	switch op {
	case "create", "restore":
		r.Inserted += n
	case "couple":
		r.Coupled += n
	case "delete":
		r.Deleted += n
		r.Uncoupled += n
	case "uncouple":
		r.Uncoupled += n
	case "update", "settled":
		r.Modified += n
	}
}

// FinishedParts returns the parts of a plan whose run finished: a resumed
// apply skips them.
func (d *DB) FinishedParts(ctx context.Context, planID string) (map[Part]bool, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT mapping, direction FROM runs WHERE plan_id = ? AND finished_at IS NOT NULL`, planID)
	if err != nil {
		return nil, fmt.Errorf("runs of plan %s: %w", planID, err)
	}
	defer rows.Close()
	out := map[Part]bool{}
	for rows.Next() {
		p := Part{PlanID: planID}
		if err := rows.Scan(&p.Mapping, &p.Direction); err != nil {
			return nil, err
		}
		out[p] = true
	}
	return out, rows.Err()
}

// AppliedAfter returns a plan sharing a mapping with plan id whose apply
// began after plan id's apply began: resuming plan id would then write what
// that later plan may have changed. "" when there is none.
func (d *DB) AppliedAfter(ctx context.Context, id string) (other string, err error) {
	err = d.db.QueryRowContext(ctx, `SELECT p2.id FROM plans p
		JOIN plan_mappings m ON m.plan_id = p.id
		JOIN plan_mappings m2 ON m2.mapping = m.mapping AND m2.plan_id <> p.id
		JOIN plans p2 ON p2.id = m2.plan_id
		WHERE p.id = ? AND p2.status IN ('applying', 'interrupted', 'applied') AND p2.applied_at > p.applied_at
		ORDER BY p2.applied_at LIMIT 1`, id).Scan(&other)
	if err == sql.ErrNoRows {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("plans applied after plan %s: %w", id, err)
	}
	return other, nil
}
