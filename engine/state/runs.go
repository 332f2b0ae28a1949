package state

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
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
	// Coupled counts records coupled by matching.
	Coupled int64
	// Deleted counts destination records deleted; Uncoupled couplings
	// removed.
	Deleted   int64
	Uncoupled int64
	// Interrupted is a run that never finished and never will unless its
	// plan is resumed: its plan is not being applied (plan.Interrupted, or
	// pruned). FinishedAt is zero.
	Interrupted bool
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
	err := d.connTx(ctx, func(c *sql.Conn) error {
		err := c.QueryRowContext(ctx, `INSERT INTO runs (id, plan_id, mapping, direction, started_at)
			VALUES (nextval('run_ids'), ?, ?, ?, ?) RETURNING id`, planID, mapping, direction, started.UTC()).Scan(&id)
		if err != nil {
			return err
		}
		// The table has no key (schema version 11): an id the sequence
		// gives again (a state file whose sequence fell behind its run
		// log) would mix two runs' records.
		var taken int
		if err := c.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE id = ?`, id).Scan(&taken); err != nil {
			return err
		}
		if taken > 1 {
			return fmt.Errorf("run id %d is taken already: the state database's run_ids sequence is behind its run log", id)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("start run of mapping %s: %w", mapping, err)
	}
	// In the main file before its first intents are journalled: intents
	// restored from the journal name a run that exists, and no later run
	// is given the same id (docs/reliability.md).
	return id, d.durable(ctx)
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
	// Couple asks for a new coupling SourceID <-> DestID (after a create);
	// with Recouple it replaces the source's coupling (after a restore).
	Couple   bool
	Recouple bool
	// Uncouple asks to remove the source's coupling.
	Uncouple bool
	// Noop is a success that changes nothing, e.g. a match the other pass
	// of a bidirectional mapping has coupled already.
	Noop bool
	// SourceModified and DestModified are each side's modified-on after the
	// write, as far as known; they become the coupling's last-synced marks.
	SourceModified time.Time
	DestModified   time.Time
	// SourceETag and DestETag are each side's ETag after the write, as far
	// as known.
	SourceETag string
	DestETag   string
	// Assigned lists the fields that the destination's service filled in
	// when this create made the record without a value for them: the next
	// plan writes them back to the source (assigned_values).
	Assigned []AssignedField
	At       time.Time
}

// AssignedField is a field that flows both ways and that the service of
// the record coupler created filled in: Field is the created record's, and
// OtherField the source record's, which the value is written back to.
type AssignedField struct {
	Field, OtherField string
}

// CouplingSide says which coupling column holds a run's source ids.
type CouplingSide struct {
	Mapping       string
	SourceIsTable bool
}

// RecordResults saves a batch of write outcomes in one transaction, with the
// couplings that successful creates make and the last-synced marks of
// updated couplings, so that a crash never leaves a created record
// uncoupled in the state once its batch is confirmed.
func (d *DB) RecordResults(ctx context.Context, runID int64, side CouplingSide, results []RecordResult) error {
	if len(results) == 0 {
		return nil
	}
	// The journal's lock is held from before the transaction until its
	// intents are no longer pending: a checkpoint in between (durable)
	// would write them into the database as pending, where this
	// transaction, begun before, deletes nothing.
	j := d.journal
	j.mu.Lock()
	defer j.mu.Unlock()
	// And couplingsMu, for the couplings the results add (couplingTx).
	err := d.couplingTx(ctx, func(c *sql.Conn) error { return d.recordResults(ctx, c, runID, side, results) })
	if err != nil {
		return err
	}
	for _, r := range results {
		delete(j.pending, intentKey{runID, r.Seq})
	}
	// Not checkpointed here: should a damaged log lose these results,
	// their intents, in the journal since before the batch was sent, are
	// put back and settled again (see replayJournal).
	return nil
}

// resultBatchColumns are the columns of the temporary table result_batch,
// one row per result of the batch being recorded.
var resultBatchColumns = []string{"pos", "seq", "src", "dst", "uncouple", "couple", "synced", "smod", "dmod", "stag", "dtag", "at_time"}

// runRecordColumns are run_records' columns in the order recordResults
// appends them.
var runRecordColumns = []string{"run_id", "seq", "source_id", "dest_id", "op", "result", "message", "recorded_at"}

func (d *DB) recordResults(ctx context.Context, c *sql.Conn, runID int64, side CouplingSide, results []RecordResult) error {
	src, dst := CouplingColumns(side.SourceIsTable)
	srcMod, dstMod := ModifiedColumns(side.SourceIsTable)
	srcTag, dstTag := EtagColumns(side.SourceIsTable)
	var uncouple, couple, synced []*RecordResult
	for i := range results {
		r := &results[i]
		switch {
		case r.Err != "", r.Noop:
		case r.Uncouple, r.Recouple:
			uncouple = append(uncouple, r)
			if r.Couple {
				couple = append(couple, r)
			}
		case r.Couple:
			couple = append(couple, r)
		default:
			synced = append(synced, r)
		}
	}
	// The batch, for the set statements below: one statement per kind of
	// change for the whole batch, not one per record, which would make a
	// large apply crawl.
	if _, err := c.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE result_batch (pos INTEGER, seq BIGINT, src VARCHAR, dst VARCHAR,
		uncouple BOOLEAN, couple BOOLEAN, synced BOOLEAN, smod TIMESTAMP, dmod TIMESTAMP, stag VARCHAR, dtag VARCHAR, at_time TIMESTAMP)`); err != nil {
		return fmt.Errorf("record results of run %d: %w", runID, err)
	}
	kind := func(set []*RecordResult) map[*RecordResult]bool {
		m := make(map[*RecordResult]bool, len(set))
		for _, r := range set {
			m[r] = true
		}
		return m
	}
	isUncouple, isCouple, isSynced := kind(uncouple), kind(couple), kind(synced)
	err := appendRows(c, "temp", "result_batch", resultBatchColumns, len(results), func(i int) []driver.Value {
		r := &results[i]
		return []driver.Value{int32(i), r.Seq, r.SourceID, nullString(r.DestID), isUncouple[r], isCouple[r], isSynced[r],
			nullTime(r.SourceModified), nullTime(r.DestModified), nullString(r.SourceETag), nullString(r.DestETag), r.At.UTC()}
	})
	if err != nil {
		return fmt.Errorf("record results of run %d: %w", runID, err)
	}
	if len(uncouple) > 0 {
		if _, err := c.ExecContext(ctx, `DELETE FROM couplings WHERE mapping = ? AND `+src+` IN (SELECT src FROM result_batch WHERE uncouple)`, side.Mapping); err != nil {
			return fmt.Errorf("uncouple records of mapping %s: %w", side.Mapping, err)
		}
		for _, r := range uncouple {
			if r.Op != "uncouple" {
				continue // a delete or a restore, not conflicts.delete: remove_coupling
			}
			_, err := c.ExecContext(ctx, `INSERT OR REPLACE INTO uncoupled VALUES (?, ?, ?, ?, ?, ?)`,
				side.Mapping, SourceSide(side.SourceIsTable), r.SourceID, nullTime(r.SourceModified), nullString(r.SourceETag), r.At.UTC())
			if err != nil {
				return fmt.Errorf("remember the uncoupled record %s of mapping %s: %w", r.SourceID, side.Mapping, err)
			}
		}
	}
	if len(couple) > 0 {
		// The batch's columns in the couplings' order: the source's side
		// is the table's or the integration's.
		tableID, intID, tableMod, intMod, tableTag, intTag := "src", "dst", "smod", "dmod", "stag", "dtag"
		if !side.SourceIsTable {
			tableID, intID, tableMod, intMod, tableTag, intTag = intID, tableID, intMod, tableMod, intTag, tableTag
		}
		// A source coupled meanwhile (by another plan) keeps its coupling;
		// the record just created is then reported, not silently kept.
		// Rows whose source or destination is coupled already are left
		// out by anti-joins (DuckDB's ON CONFLICT DO NOTHING checked each
		// row on its own and took 40 times as long: 700 ms for 2,000 rows
		// into 100,000 couplings). The table has no keys (schema version
		// 12): couplingsMu keeps the couplings the anti-joins see as they are
		// until this commits.
		twice := namesTwice(couple)
		insert := `INSERT INTO couplings (mapping, table_id, integration_id, coupled_at, last_synced_at, last_result,
				table_modified, integration_modified, table_etag, integration_etag)
			SELECT ?, ` + tableID + `, ` + intID + `, at_time, at_time, 'success', ` + tableMod + `, ` + intMod + `, ` + tableTag + `, ` + intTag + `
			FROM result_batch b WHERE couple`
		args := []any{side.Mapping}
		if twice {
			// Which of the rows naming one record wins is decided here, in
			// seq order, as inserting them in order with a unique index
			// would (PostgreSQL's store still does).
			pos, err := firstCouplings(ctx, c, side, results, isCouple)
			if err != nil {
				return err
			}
			insert += ` AND b.pos IN (SELECT unnest(?::INTEGER[]))`
			args = append(args, pos)
		} else {
			insert += `
				AND NOT EXISTS (SELECT 1 FROM couplings c WHERE c.mapping = ? AND c.table_id = b.` + tableID + `)
				AND NOT EXISTS (SELECT 1 FROM couplings c WHERE c.mapping = ? AND c.integration_id = b.` + intID + `)`
			args = append(args, side.Mapping, side.Mapping)
		}
		res, err := c.ExecContext(ctx, insert, args...)
		if err != nil {
			return fmt.Errorf("couple records of mapping %s: %w", side.Mapping, err)
		}
		// Each row inserted is the coupling its result asked for; only
		// when some were left out are the couplings read back to tell why.
		got := make(map[string]string, len(couple))
		if n, err := res.RowsAffected(); err == nil && !twice && n == int64(len(couple)) {
			for _, r := range couple {
				got[r.SourceID] = r.DestID
			}
		} else {
			rows, err := c.QueryContext(ctx, `SELECT b.src, c.`+dst+` FROM result_batch b JOIN couplings c ON c.mapping = ? AND c.`+src+` = b.src WHERE b.couple`, side.Mapping)
			if err != nil {
				return fmt.Errorf("couplings of mapping %s: %w", side.Mapping, err)
			}
			if got, err = scanStringMap(rows); err != nil {
				return fmt.Errorf("couplings of mapping %s: %w", side.Mapping, err)
			}
		}
		for _, r := range couple {
			to, ok := got[r.SourceID]
			switch {
			case to == r.DestID:
			case ok && r.Op == "couple":
				r.Err = fmt.Sprintf("not coupled to %s: the source record was coupled to %s meanwhile", r.DestID, to)
			case ok:
				r.Err = fmt.Sprintf("created %s, but the source record was coupled to %s meanwhile; remove the duplicate", r.DestID, to)
			default:
				// The source is free: the destination record is the one
				// coupled, to another source record.
				from, err := coupledSource(ctx, c, side, r.DestID)
				if err != nil {
					return err
				}
				r.Err = fmt.Sprintf("not coupled to %s: that destination record is coupled to source record %s already", r.DestID, from)
				if r.Op != "couple" {
					r.Err = fmt.Sprintf("wrote %s, but that destination record is coupled to source record %s already, so this source record was not coupled to it; check whether the two source records are one", r.DestID, from)
				}
				continue
			}
			for _, a := range r.Assigned {
				_, err := c.ExecContext(ctx, `INSERT OR REPLACE INTO assigned_values VALUES (?, ?, ?, ?, ?, ?)`,
					side.Mapping, SourceSide(!side.SourceIsTable), r.DestID, a.Field, a.OtherField, r.At.UTC())
				if err != nil {
					return fmt.Errorf("remember the values %s assigned to record %s of mapping %s: %w", SourceSide(!side.SourceIsTable), r.DestID, side.Mapping, err)
				}
			}
		}
	}
	if len(synced) > 0 {
		stmts := []struct {
			q    string
			args []any
		}{
			{`UPDATE couplings SET last_synced_at = v.at_time, last_result = 'success',
				` + srcMod + ` = coalesce(v.smod, couplings.` + srcMod + `), ` + dstMod + ` = v.dmod,
				` + srcTag + ` = coalesce(v.stag, couplings.` + srcTag + `), ` + dstTag + ` = v.dtag
			FROM result_batch v WHERE v.synced AND couplings.mapping = ? AND couplings.` + src + ` = v.src`, []any{side.Mapping}},
			// A source record written successfully has had the values
			// its service assigned written back: the diff compared them.
			{`DELETE FROM assigned_values WHERE mapping = ? AND side = ? AND record_id IN (SELECT src FROM result_batch WHERE synced)`,
				[]any{side.Mapping, SourceSide(side.SourceIsTable)}},
		}
		for _, st := range stmts {
			if _, err := c.ExecContext(ctx, st.q, st.args...); err != nil {
				return fmt.Errorf("mark records of mapping %s synced: %w", side.Mapping, err)
			}
		}
	}
	err = appendRows(c, "", "run_records", runRecordColumns, len(results), func(i int) []driver.Value {
		r := &results[i]
		result, msg := "success", driver.Value(nil)
		if r.Err != "" {
			result, msg = "failure", d.redact(r.Err)
		}
		return []driver.Value{runID, r.Seq, r.SourceID, nullString(r.DestID), r.Op, result, msg, r.At.UTC()}
	})
	if err != nil {
		return fmt.Errorf("record results of run %d: %w", runID, err)
	}
	// The writes are settled: their intents go in the same transaction.
	if _, err := c.ExecContext(ctx, `DELETE FROM write_intents WHERE run_id = ? AND seq IN (SELECT seq FROM result_batch)`, runID); err != nil {
		return fmt.Errorf("settle write intents of run %d: %w", runID, err)
	}
	return nil
}

// namesTwice reports whether results to couple name a source or a
// destination record twice, or lack a destination: then firstCouplings
// decides which stand.
func namesTwice(couple []*RecordResult) bool {
	src := make(map[string]bool, len(couple))
	dst := make(map[string]bool, len(couple))
	for _, r := range couple {
		if src[r.SourceID] || r.DestID == "" || dst[r.DestID] {
			return true
		}
		src[r.SourceID], dst[r.DestID] = true, true
	}
	return false
}

// firstCouplings returns the positions in results (result_batch's pos)
// of the results to couple whose coupling is to be inserted: in seq
// order, each whose source and destination are coupled neither in the
// state nor by an earlier result so chosen. A result without a
// destination is chosen when its source is free, and its insert then fails
// on the NOT NULL, as when a unique index decided (a NULL conflicts with
// nothing). It must run under couplingsMu, after the batch's uncouplings.
func firstCouplings(ctx context.Context, c *sql.Conn, side CouplingSide, results []RecordResult, isCouple map[*RecordResult]bool) ([]int32, error) {
	src, dst := CouplingColumns(side.SourceIsTable)
	rows, err := c.QueryContext(ctx, `SELECT `+src+`, `+dst+` FROM couplings WHERE mapping = ?
		AND (`+src+` IN (SELECT src FROM result_batch WHERE couple) OR `+dst+` IN (SELECT dst FROM result_batch WHERE couple))`, side.Mapping)
	if err != nil {
		return nil, fmt.Errorf("couplings of mapping %s: %w", side.Mapping, err)
	}
	defer rows.Close()
	srcTaken := map[string]bool{}
	dstTaken := map[string]bool{}
	for rows.Next() {
		var s, d string
		if err := rows.Scan(&s, &d); err != nil {
			return nil, fmt.Errorf("couplings of mapping %s: %w", side.Mapping, err)
		}
		srcTaken[s], dstTaken[d] = true, true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("couplings of mapping %s: %w", side.Mapping, err)
	}
	var order []int32
	for i := range results {
		if isCouple[&results[i]] {
			order = append(order, int32(i))
		}
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(results[a].Seq, results[b].Seq) })
	chosen := order[:0]
	for _, i := range order {
		r := &results[i]
		if srcTaken[r.SourceID] || r.DestID != "" && dstTaken[r.DestID] {
			continue
		}
		srcTaken[r.SourceID] = true
		if r.DestID != "" {
			dstTaken[r.DestID] = true
		}
		chosen = append(chosen, i)
	}
	return chosen, nil
}

// coupledSource returns the source record a destination record is coupled to.
func coupledSource(ctx context.Context, c *sql.Conn, side CouplingSide, destID string) (string, error) {
	src, dst := CouplingColumns(side.SourceIsTable)
	var id string
	err := c.QueryRowContext(ctx, `SELECT `+src+` FROM couplings WHERE mapping = ? AND `+dst+` = ?`, side.Mapping, destID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "(another)", nil
	}
	if err != nil {
		return "", fmt.Errorf("coupling of %s in mapping %s: %w", destID, side.Mapping, err)
	}
	return id, nil
}

// scanStringMap reads rows of two strings into a map from the first to the
// second, and closes rows.
func scanStringMap(rows *sql.Rows) (map[string]string, error) {
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// MarkUnchangedSynced records, for every coupled record a part of a plan
// found unchanged, the source record's modified-on and ETag as of the plan:
// that side has not changed since, so a later plan need not see it as a
// change. Only the part's own source side is marked: the destination side is
// the other pass's source, and marking it here would hide a change of it
// that the other pass failed to write.
func (d *DB) MarkUnchangedSynced(ctx context.Context, part Part, sourceIsTable bool) error {
	_, err := d.db.ExecContext(ctx, MarkUnchangedSyncedSQL(sourceIsTable),
		part.PlanID, part.Mapping, part.Direction)
	if err != nil {
		return fmt.Errorf("mark unchanged records of mapping %s synced: %w", part.Mapping, err)
	}
	return nil
}

// AlreadyCoupled returns, for those of the given source ids that are
// coupled, the id they are coupled to, so that apply does not create a
// record a later plan has already created.
func (d *DB) AlreadyCoupled(ctx context.Context, mapping string, sourceIsTable bool, ids []string) (map[string]string, error) {
	if len(ids) == 0 {
		return map[string]string{}, nil
	}
	src, dst := CouplingColumns(sourceIsTable)
	// The ids as one list parameter: a parameter each (IN (?, ?, …))
	// made DuckDB parse and bind thousands for an apply batch, 60 to 190
	// ms for 3,200 ids against 4 to 19 ms as a list.
	rows, err := d.db.QueryContext(ctx, `SELECT `+src+`, `+dst+` FROM couplings WHERE mapping = ? AND `+src+` IN (SELECT unnest(?::VARCHAR[]))`, mapping, ids)
	if err != nil {
		return nil, fmt.Errorf("couplings of mapping %s: %w", mapping, err)
	}
	return scanStringMap(rows)
}

// FinishRun saves a run's counts and end, and moves the source watermark,
// the source's change tracking token (when token is not empty) and the
// pass's kept definition (when definition is not empty) in the same
// transaction, so that none gets ahead of the run log.
func (d *DB) FinishRun(ctx context.Context, r Run, watermarkSide string, watermark time.Time, token, definition string) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `UPDATE runs SET finished_at = ?, inserted = ?, modified = ?, unchanged = ?, skipped = ?, failed = ?,
		coupled = ?, deleted = ?, uncoupled = ? WHERE id = ?`,
		r.FinishedAt.UTC(), r.Inserted, r.Modified, r.Unchanged, r.Skipped, r.Failed, r.Coupled, r.Deleted, r.Uncoupled, r.ID)
	if err != nil {
		return fmt.Errorf("finish run %d: %w", r.ID, err)
	}
	if !watermark.IsZero() {
		_, err = tx.ExecContext(ctx, upsertWatermark, r.Mapping, watermarkSide, watermark.UTC(), time.Now().UTC())
		if err != nil {
			return fmt.Errorf("set watermark of mapping %s: %w", r.Mapping, err)
		}
	}
	if token != "" {
		if err := setChangeToken(ctx, tx, r.Mapping, watermarkSide, token); err != nil {
			return err
		}
	}
	if definition != "" {
		if err := setDefinition(ctx, tx, r.Mapping, r.Direction, definition); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return d.durable(ctx)
}

// TemporaryPrefix starts the message of a failure that says nothing about
// the record (no answer, a server error): such a record is tried again by
// every run and never skipped.
const TemporaryPrefix = "temporary failure: "

// SkipAfter is how many runs in a row a record must fail with the same
// message before it is skipped, as the product does.
const SkipAfter = 2

// TrackFailures updates the failure record of every record a run of a part
// touched: a failure counts once more when its message repeats (and skips
// the record once it has failed SkipAfter times in a row), a success or an
// unchanged record clears it.
func (d *DB) TrackFailures(ctx context.Context, runID int64, part Part) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO record_failures AS f
		SELECT ?, ?, r.source_id, coalesce(r.message, ''), 1, false, o.source_modified, r.run_id
		FROM run_records r JOIN plan_operations o ON o.plan_id = ? AND o.mapping = ? AND o.direction = ? AND o.seq = r.seq
		WHERE r.run_id = ? AND r.result = 'failure'
		ON CONFLICT (mapping, direction, source_id) DO UPDATE SET
			-- Counted once per run, even when a resumed apply tracks
			-- the run's failures again.
			failures = CASE WHEN f.last_run = excluded.last_run THEN f.failures
				WHEN f.message = excluded.message THEN f.failures + 1 ELSE 1 END,
			skipped = CASE WHEN f.last_run = excluded.last_run THEN f.skipped
				WHEN starts_with(excluded.message, '`+TemporaryPrefix+`') THEN false
				WHEN f.message = excluded.message THEN f.failures + 1 >= ? ELSE false END,
			message = excluded.message, source_modified = excluded.source_modified, last_run = excluded.last_run`,
		part.Mapping, part.Direction, part.PlanID, part.Mapping, part.Direction, runID, SkipAfter)
	if err != nil {
		return fmt.Errorf("track failures of mapping %s: %w", part.Mapping, err)
	}
	// An unchanged record with a failure on record is in
	// plan_unchanged_marks.
	_, err = tx.ExecContext(ctx, `DELETE FROM record_failures WHERE mapping = ? AND direction = ? AND last_run <> ? AND source_id IN (
		SELECT o.source_id FROM plan_operations o WHERE o.plan_id = ? AND o.mapping = ? AND o.direction = ?
			AND o.op NOT IN ('fail', 'conflict', 'skip', 'skipped')
			AND NOT EXISTS (SELECT 1 FROM run_records r WHERE r.run_id = ? AND r.seq = o.seq AND r.result = 'failure')
		UNION ALL SELECT source_id FROM plan_unchanged_marks WHERE plan_id = ? AND mapping = ? AND direction = ?)`,
		part.Mapping, part.Direction, runID, part.PlanID, part.Mapping, part.Direction, runID, part.PlanID, part.Mapping, part.Direction)
	if err != nil {
		return fmt.Errorf("clear failures of mapping %s: %w", part.Mapping, err)
	}
	return tx.Commit()
}

// Retry takes records out of the skipped state: the given source ids, or
// every failed record of the mapping when ids is empty, and in the same
// transaction moves each direction's source watermark back to the earliest
// modified-on among them, so that the next plan reads them again. It
// returns how many it released and those earliest times.
func (d *DB) Retry(ctx context.Context, mapping string, ids []string) (int64, map[string]time.Time, error) {
	where := `mapping = ?`
	args := []any{mapping}
	if len(ids) > 0 {
		where += ` AND source_id IN (` + placeholders(len(ids)) + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	// Releasing and moving the watermarks back is one transaction: released
	// records behind a watermark that stayed would never be read again.
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT direction, count(*), min(source_modified) FROM record_failures WHERE `+where+` GROUP BY direction`, args...)
	if err != nil {
		return 0, nil, fmt.Errorf("failed records of mapping %s: %w", mapping, err)
	}
	var n int64
	earliest := map[string]time.Time{}
	for rows.Next() {
		var dir string
		var k int64
		var t sql.NullTime
		if err := rows.Scan(&dir, &k, &t); err != nil {
			rows.Close()
			return 0, nil, err
		}
		n += k
		if t.Valid {
			earliest[dir] = t.Time
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM record_failures WHERE `+where, args...); err != nil {
		return 0, nil, fmt.Errorf("retry records of mapping %s: %w", mapping, err)
	}
	for direction, t := range earliest {
		side := plan.SideTable
		if direction == "from_integration" {
			side = plan.SideIntegration
		}
		_, err := tx.ExecContext(ctx, `UPDATE watermarks SET value = ?, updated_at = ? WHERE mapping = ? AND side = ? AND value > ?`,
			t.UTC(), time.Now().UTC(), mapping, side, t.UTC())
		if err != nil {
			return 0, nil, fmt.Errorf("move watermark of mapping %s back: %w", mapping, err)
		}
	}
	return n, earliest, tx.Commit()
}

// LowerWatermark moves a mapping's watermark on one side back to t if it is
// later, so that records modified since t are read again.
func (d *DB) LowerWatermark(ctx context.Context, mapping, side string, t time.Time) error {
	_, err := d.db.ExecContext(ctx, `UPDATE watermarks SET value = ?, updated_at = ? WHERE mapping = ? AND side = ? AND value > ?`,
		t.UTC(), time.Now().UTC(), mapping, side, t.UTC())
	if err != nil {
		return fmt.Errorf("move watermark of mapping %s back: %w", mapping, err)
	}
	return nil
}

// EarliestFailure returns the earliest source modified-on among the records
// of a run that failed, at plan or at apply time, and are not skipped; zero
// when none failed.
func (d *DB) EarliestFailure(ctx context.Context, runID int64, part Part) (time.Time, error) {
	var t sql.NullTime
	err := d.db.QueryRowContext(ctx, `SELECT min(o.source_modified) FROM plan_operations o WHERE `+runFailures,
		part.PlanID, part.Mapping, part.Direction, runID).Scan(&t)
	if err != nil {
		return time.Time{}, fmt.Errorf("earliest failure of run %d: %w", runID, err)
	}
	return t.Time.UTC(), nil
}

// runFailures selects the operations o of a part (plan, mapping, direction)
// that failed in planning or in a run (run id) and are not skipped: the
// records the next run must read again.
const runFailures = `o.plan_id = ? AND o.mapping = ? AND o.direction = ? AND (o.op IN ('fail', 'conflict') OR EXISTS (
			SELECT 1 FROM run_records r WHERE r.run_id = ? AND r.seq = o.seq AND r.result = 'failure'))
			AND NOT EXISTS (SELECT 1 FROM record_failures f WHERE f.mapping = o.mapping AND f.direction = o.direction
				AND f.source_id = o.source_id AND f.skipped)`

// RunFailed reports whether a run of a part left a record failed and not
// skipped, which the next run must read again: a change tracking token
// then stays where it was, since unlike a watermark it cannot be held back
// to the failed record.
func (d *DB) RunFailed(ctx context.Context, runID int64, part Part) (bool, error) {
	var n int64
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM plan_operations o WHERE `+runFailures,
		part.PlanID, part.Mapping, part.Direction, runID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("failures of run %d: %w", runID, err)
	}
	return n > 0, nil
}

// Runs lists the most recent runs first, at most limit of them.
func (d *DB) Runs(ctx context.Context, limit int) ([]Run, error) {
	// A run without an end whose plan is not applying (interrupted, or
	// pruned since) is not running: its apply stopped.
	rows, err := d.db.QueryContext(ctx, `SELECT r.id, r.plan_id, r.mapping, r.direction, r.started_at, r.finished_at, r.inserted, r.modified, r.unchanged, r.skipped, r.failed,
		r.coupled, r.deleted, r.uncoupled, r.finished_at IS NULL AND coalesce(p.status, '') <> 'applying'
		FROM runs r LEFT JOIN plans p ON p.id = r.plan_id ORDER BY r.id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var fin sql.NullTime
		if err := rows.Scan(&r.ID, &r.PlanID, &r.Mapping, &r.Direction, &r.StartedAt, &fin, &r.Inserted, &r.Modified, &r.Unchanged, &r.Skipped, &r.Failed, &r.Coupled, &r.Deleted, &r.Uncoupled, &r.Interrupted); err != nil {
			return nil, err
		}
		r.FinishedAt = fin.Time
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	// A run's counts are written when it finishes; one that has not (under
	// way, or stopped) is counted from the records its batches wrote, so
	// that a killed run does not look as if it did nothing.
	for i := range out {
		if out[i].FinishedAt.IsZero() {
			if err := d.countRecorded(ctx, &out[i]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// countRecorded adds to r's counts what its recorded records say: each
// success by its kind, every other result as failed.
func (d *DB) countRecorded(ctx context.Context, r *Run) error {
	rows, err := d.db.QueryContext(ctx, `SELECT op, result = 'success', count(*) FROM run_records WHERE run_id = ? GROUP BY ALL`, r.ID)
	if err != nil {
		return fmt.Errorf("records of run %d: %w", r.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var op string
		var ok bool
		var n int64
		if err := rows.Scan(&op, &ok, &n); err != nil {
			return err
		}
		r.countRecords(op, ok, n)
	}
	return rows.Err()
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Failure is one record that failed in a run.
type Failure struct {
	RunID     int64
	Mapping   string
	Direction string
	SourceID  string
	DestID    string
	Op        string
	Message   string
	At        time.Time
	// SourceDisplay and DestDisplay are the record's display fields as the
	// plan the run applied read them (plan.Operation); nil when none.
	SourceDisplay, DestDisplay plan.Display
}

// Failures lists the failed records of the latest run of each mapping and
// direction (all mappings when mapping is empty), newest first: what is
// still failing, as far as the last runs know. It reads the errors view.
func (d *DB) Failures(ctx context.Context, mapping string, limit int) ([]Failure, error) {
	// The display values come from the operation of the plan the run
	// applied: run_records keep ids only.
	rows, err := d.db.QueryContext(ctx, `WITH e AS (SELECT * FROM errors WHERE (? = '' OR mapping = ?) ORDER BY recorded_at DESC, source_id LIMIT ?)
		SELECT e.run_id, e.mapping, e.direction, e.source_id, coalesce(e.dest_id, ''), e.op, coalesce(e.message, ''), e.recorded_at,
			(SELECT max(o.source_display) FROM runs r JOIN plan_operations o ON o.plan_id = r.plan_id AND o.mapping = r.mapping AND o.direction = r.direction
				WHERE r.id = e.run_id AND o.source_id = e.source_id),
			(SELECT max(o.dest_display) FROM runs r JOIN plan_operations o ON o.plan_id = r.plan_id AND o.mapping = r.mapping AND o.direction = r.direction
				WHERE r.id = e.run_id AND o.source_id = e.source_id)
		FROM e ORDER BY e.recorded_at DESC, e.source_id`, mapping, mapping, limit)
	if err != nil {
		return nil, fmt.Errorf("list failures: %w", err)
	}
	defer rows.Close()
	var out []Failure
	for rows.Next() {
		var f Failure
		var srcShow, dstShow sql.NullString
		if err := rows.Scan(&f.RunID, &f.Mapping, &f.Direction, &f.SourceID, &f.DestID, &f.Op, &f.Message, &f.At, &srcShow, &dstShow); err != nil {
			return nil, err
		}
		if f.SourceDisplay, err = parseDisplay(srcShow); err == nil {
			f.DestDisplay, err = parseDisplay(dstShow)
		}
		if err != nil {
			return nil, fmt.Errorf("failure of record %s: display: %w", f.SourceID, err)
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// CoupledDestinations returns, for those of the given destination ids that
// are coupled, the source they are coupled to.
func (d *DB) CoupledDestinations(ctx context.Context, mapping string, sourceIsTable bool, ids []string) (map[string]string, error) {
	return d.AlreadyCoupled(ctx, mapping, !sourceIsTable, ids)
}
