package pgstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// StartRun records that a run of one part began and returns its id, from
// a sequence: greater than every id handed out before, by any process.
func (d *DB) StartRun(ctx context.Context, planID, mapping, direction string, started time.Time) (int64, error) {
	var id int64
	err := d.pool.QueryRow(ctx, `INSERT INTO runs (id, plan_id, mapping, direction, started_at)
		VALUES (nextval('run_ids'), $1, $2, $3, $4) RETURNING id`, planID, mapping, direction, started.UTC()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("start run of mapping %s: %w", mapping, err)
	}
	return id, nil
}

// resultBatch is a batch of results as the set statements of
// RecordResults read it: arrays bound as $1 to $11, unnested into the
// rows of b. One statement per kind of change for the whole batch, not
// one per record, and no temporary table, whose catalog rows every batch
// would add and remove.
const resultBatch = `unnest($1::bigint[], $2::text[], $3::text[], $4::boolean[], $5::boolean[], $6::boolean[],
	$7::timestamptz[], $8::timestamptz[], $9::text[], $10::text[], $11::timestamptz[])
	AS b(seq, src, dst, uncouple, couple, synced, smod, dmod, stag, dtag, at_time)`

// RecordResults saves a batch of write outcomes in one transaction, with
// the couplings that successful creates make, the last-synced marks of
// updated couplings and the removal of their write intents, as the DuckDB
// state does: a result whose coupling another plan took meanwhile becomes
// a failure saying so (its Err is set).
func (d *DB) RecordResults(ctx context.Context, runID int64, side state.CouplingSide, results []state.RecordResult) error {
	if len(results) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return d.recordResults(ctx, tx, runID, side, results) })
	if err != nil {
		return fmt.Errorf("record results of run %d: %w", runID, err)
	}
	return nil
}

func (d *DB) recordResults(ctx context.Context, tx pgx.Tx, runID int64, side state.CouplingSide, results []state.RecordResult) error {
	src, _ := state.CouplingColumns(side.SourceIsTable)
	srcMod, dstMod := state.ModifiedColumns(side.SourceIsTable)
	srcTag, dstTag := state.EtagColumns(side.SourceIsTable)
	n := len(results)
	var (
		seqs                              = make([]int64, n)
		srcs                              = make([]string, n)
		dsts, stags, dtags                = make([]*string, n), make([]*string, n), make([]*string, n)
		uncouple, couple, syn             = make([]bool, n), make([]bool, n), make([]bool, n)
		smods, dmods, ats                 = make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
		anyUncouple, anyCouple, anySynced bool
	)
	for i := range results {
		r := &results[i]
		switch {
		case r.Err != "", r.Noop:
		case r.Uncouple, r.Recouple:
			uncouple[i], couple[i] = true, r.Couple
		case r.Couple:
			couple[i] = true
		default:
			syn[i] = true
		}
		anyUncouple, anyCouple, anySynced = anyUncouple || uncouple[i], anyCouple || couple[i], anySynced || syn[i]
		at := r.At.UTC()
		seqs[i], srcs[i], dsts[i], stags[i], dtags[i] = r.Seq, r.SourceID, optString(r.DestID), optString(r.SourceETag), optString(r.DestETag)
		smods[i], dmods[i], ats[i] = optTime(r.SourceModified), optTime(r.DestModified), &at
	}
	batch := []any{seqs, srcs, dsts, uncouple, couple, syn, smods, dmods, stags, dtags, ats}
	with := func(args ...any) []any { return append(append([]any{}, batch...), args...) }

	if anyUncouple {
		if _, err := tx.Exec(ctx, `DELETE FROM couplings WHERE mapping = $12 AND `+src+` IN (SELECT src FROM `+resultBatch+` WHERE uncouple)`,
			with(side.Mapping)...); err != nil {
			return fmt.Errorf("uncouple records of mapping %s: %w", side.Mapping, err)
		}
		for i := range results {
			r := &results[i]
			if !uncouple[i] || r.Op != "uncouple" {
				continue // a delete or a restore, not conflicts.delete: remove_coupling
			}
			_, err := tx.Exec(ctx, `INSERT INTO uncoupled VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (mapping, source_side, source_id)
				DO UPDATE SET source_modified = excluded.source_modified, source_etag = excluded.source_etag, uncoupled_at = excluded.uncoupled_at`,
				side.Mapping, state.SourceSide(side.SourceIsTable), r.SourceID, nullTime(r.SourceModified), nullString(r.SourceETag), r.At.UTC())
			if err != nil {
				return fmt.Errorf("remember the uncoupled record %s of mapping %s: %w", r.SourceID, side.Mapping, err)
			}
		}
	}
	if anyCouple {
		if err := d.coupleResults(ctx, tx, side, results, couple, with); err != nil {
			return err
		}
	}
	if anySynced {
		if _, err := tx.Exec(ctx, `UPDATE couplings SET last_synced_at = b.at_time, last_result = 'success',
				`+srcMod+` = coalesce(b.smod, couplings.`+srcMod+`), `+dstMod+` = b.dmod,
				`+srcTag+` = coalesce(b.stag, couplings.`+srcTag+`), `+dstTag+` = b.dtag
			FROM `+resultBatch+` WHERE b.synced AND couplings.mapping = $12 AND couplings.`+src+` = b.src`, with(side.Mapping)...); err != nil {
			return fmt.Errorf("mark records of mapping %s synced: %w", side.Mapping, err)
		}
		// A source record written successfully has had the values its
		// service assigned written back: the diff compared them.
		if _, err := tx.Exec(ctx, `DELETE FROM assigned_values WHERE mapping = $12 AND side = $13
			AND record_id IN (SELECT src FROM `+resultBatch+` WHERE synced)`, with(side.Mapping, state.SourceSide(side.SourceIsTable))...); err != nil {
			return fmt.Errorf("mark records of mapping %s synced: %w", side.Mapping, err)
		}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"run_records"}, []string{"run_id", "seq", "source_id", "dest_id", "op", "result", "message", "recorded_at"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			r := &results[i]
			result, msg := "success", any(nil)
			if r.Err != "" {
				result, msg = "failure", d.redact(r.Err)
			}
			return []any{runID, r.Seq, r.SourceID, nullString(r.DestID), r.Op, result, msg, r.At.UTC()}, nil
		}))
	if err != nil {
		return err
	}
	// The writes are settled: their intents go in the same transaction.
	if _, err := tx.Exec(ctx, `DELETE FROM write_intents WHERE run_id = $1 AND seq = ANY($2)`, runID, seqs); err != nil {
		return fmt.Errorf("settle write intents: %w", err)
	}
	return nil
}

// coupleResults makes the couplings of the results that ask for one,
// taking the batch in seq order so that of two results naming one record
// the first wins, and turns a result whose source or destination is
// coupled otherwise (by another plan, meanwhile) into a failure saying so.
func (d *DB) coupleResults(ctx context.Context, tx pgx.Tx, side state.CouplingSide, results []state.RecordResult, couple []bool, with func(...any) []any) error {
	src, dst := state.CouplingColumns(side.SourceIsTable)
	tableID, intID, tableMod, intMod, tableTag, intTag := "src", "dst", "smod", "dmod", "stag", "dtag"
	if !side.SourceIsTable {
		tableID, intID, tableMod, intMod, tableTag, intTag = intID, tableID, intMod, tableMod, intTag, tableTag
	}
	// ON CONFLICT DO NOTHING, with no target, skips a row that would break
	// either unique key, as another process's insert does too.
	if _, err := tx.Exec(ctx, `INSERT INTO couplings (mapping, table_id, integration_id, coupled_at, last_synced_at, last_result,
			table_modified, integration_modified, table_etag, integration_etag)
		SELECT $12, `+tableID+`, `+intID+`, at_time, at_time, 'success', `+tableMod+`, `+intMod+`, `+tableTag+`, `+intTag+`
		FROM `+resultBatch+` WHERE couple ORDER BY seq ON CONFLICT DO NOTHING`, with(side.Mapping)...); err != nil {
		return fmt.Errorf("couple records of mapping %s: %w", side.Mapping, err)
	}
	rows, err := tx.Query(ctx, `SELECT b.src, c.`+dst+` FROM `+resultBatch+` JOIN couplings c ON c.mapping = $12 AND c.`+src+` = b.src WHERE b.couple`,
		with(side.Mapping)...)
	if err != nil {
		return fmt.Errorf("couplings of mapping %s: %w", side.Mapping, err)
	}
	got := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return fmt.Errorf("couplings of mapping %s: %w", side.Mapping, err)
		}
		got[k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("couplings of mapping %s: %w", side.Mapping, err)
	}
	for i := range results {
		r := &results[i]
		if !couple[i] {
			continue
		}
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
			var from string
			err := tx.QueryRow(ctx, `SELECT `+src+` FROM couplings WHERE mapping = $1 AND `+dst+` = $2`, side.Mapping, r.DestID).Scan(&from)
			if errors.Is(err, pgx.ErrNoRows) {
				from = "(another)"
			} else if err != nil {
				return fmt.Errorf("coupling of %s in mapping %s: %w", r.DestID, side.Mapping, err)
			}
			r.Err = fmt.Sprintf("not coupled to %s: that destination record is coupled to source record %s already", r.DestID, from)
			if r.Op != "couple" {
				r.Err = fmt.Sprintf("wrote %s, but that destination record is coupled to source record %s already, so this source record was not coupled to it; check whether the two source records are one", r.DestID, from)
			}
			continue
		}
		for _, a := range r.Assigned {
			_, err := tx.Exec(ctx, `INSERT INTO assigned_values VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (mapping, side, record_id, field)
				DO UPDATE SET other_field = excluded.other_field, assigned_at = excluded.assigned_at`,
				side.Mapping, state.SourceSide(!side.SourceIsTable), r.DestID, a.Field, a.OtherField, r.At.UTC())
			if err != nil {
				return fmt.Errorf("remember the values %s assigned to record %s of mapping %s: %w", state.SourceSide(!side.SourceIsTable), r.DestID, side.Mapping, err)
			}
		}
	}
	return nil
}

// optString is s, or nil for "", as an array element.
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// optTime is t in UTC, or nil for the zero time, as an array element.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// redact scrubs a failure message before it is stored (Options.Redact).
func (d *DB) redact(msg string) string {
	if d.redactFn == nil {
		return msg
	}
	return d.redactFn(msg)
}

// MarkUnchangedSynced records, for every coupled record a part of a plan
// found unchanged, the source record's modified-on and ETag as of the
// plan, on its own source side only, unless a write since has marked the
// coupling.
func (d *DB) MarkUnchangedSynced(ctx context.Context, part state.Part, sourceIsTable bool) error {
	_, err := d.pool.Exec(ctx, state.MarkUnchangedSyncedSQL(sourceIsTable),
		part.PlanID, part.Mapping, part.Direction)
	if err != nil {
		return fmt.Errorf("mark unchanged records of mapping %s synced: %w", part.Mapping, err)
	}
	return nil
}

// FinishRun saves a run's counts and end, and moves the source watermark,
// the source's change tracking token (when token is not empty) and the
// pass's kept definition (when definition is not empty) in the same
// transaction, so that none gets ahead of the run log.
func (d *DB) FinishRun(ctx context.Context, r state.Run, watermarkSide string, watermark time.Time, token, definition string) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE runs SET finished_at = $1, inserted = $2, modified = $3, unchanged = $4, skipped = $5, failed = $6,
			coupled = $7, deleted = $8, uncoupled = $9 WHERE id = $10`,
			r.FinishedAt.UTC(), r.Inserted, r.Modified, r.Unchanged, r.Skipped, r.Failed, r.Coupled, r.Deleted, r.Uncoupled, r.ID)
		if err != nil {
			return fmt.Errorf("finish run %d: %w", r.ID, err)
		}
		now := time.Now().UTC()
		if !watermark.IsZero() {
			if err := setWatermark(ctx, tx, r.Mapping, watermarkSide, watermark); err != nil {
				return err
			}
		}
		if token != "" {
			_, err := tx.Exec(ctx, `INSERT INTO change_tokens VALUES ($1, $2, $3, $4)
				ON CONFLICT (mapping, side) DO UPDATE SET token = excluded.token, updated_at = excluded.updated_at`, r.Mapping, watermarkSide, token, now)
			if err != nil {
				return fmt.Errorf("set change token of mapping %s, %s side: %w", r.Mapping, watermarkSide, err)
			}
		}
		if definition != "" {
			_, err := tx.Exec(ctx, `INSERT INTO mapping_definitions VALUES ($1, $2, $3, $4)
				ON CONFLICT (mapping, direction) DO UPDATE SET fingerprint = excluded.fingerprint, updated_at = excluded.updated_at`,
				r.Mapping, r.Direction, definition, now)
			if err != nil {
				return fmt.Errorf("keep the definition of mapping %s, %s: %w", r.Mapping, r.Direction, err)
			}
		}
		return nil
	})
}

// TrackFailures updates the failure record of every record a run of a part
// touched: a failure counts once more when its message repeats (and skips
// the record once it has failed state.SkipAfter times in a row, unless the
// failure is temporary), a success or an unchanged record clears it.
func (d *DB) TrackFailures(ctx context.Context, runID int64, part state.Part) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO record_failures AS f
			SELECT $1::text, $2::text, r.source_id, coalesce(r.message, ''), 1, false, o.source_modified, r.run_id
			FROM run_records r JOIN plan_operations o ON o.plan_id = $3 AND o.mapping = $1 AND o.direction = $2 AND o.seq = r.seq
			WHERE r.run_id = $4 AND r.result = 'failure'
			ON CONFLICT (mapping, direction, source_id) DO UPDATE SET
				-- Counted once per run, even when a resumed apply tracks
				-- the run's failures again.
				failures = CASE WHEN f.last_run = excluded.last_run THEN f.failures
					WHEN f.message = excluded.message THEN f.failures + 1 ELSE 1 END,
				skipped = CASE WHEN f.last_run = excluded.last_run THEN f.skipped
					WHEN starts_with(excluded.message, $5) THEN false
					WHEN f.message = excluded.message THEN f.failures + 1 >= $6 ELSE false END,
				message = excluded.message, source_modified = excluded.source_modified, last_run = excluded.last_run`,
			part.Mapping, part.Direction, part.PlanID, runID, state.TemporaryPrefix, state.SkipAfter)
		if err != nil {
			return fmt.Errorf("track failures of mapping %s: %w", part.Mapping, err)
		}
		// An unchanged record with a failure on record is in
		// plan_unchanged_marks.
		_, err = tx.Exec(ctx, `DELETE FROM record_failures WHERE mapping = $1 AND direction = $2 AND last_run <> $4 AND source_id IN (
			SELECT o.source_id FROM plan_operations o WHERE o.plan_id = $3 AND o.mapping = $1 AND o.direction = $2
				AND o.op NOT IN ('fail', 'conflict', 'skip', 'skipped')
				AND NOT EXISTS (SELECT 1 FROM run_records r WHERE r.run_id = $4 AND r.seq = o.seq AND r.result = 'failure')
			UNION ALL SELECT source_id FROM plan_unchanged_marks WHERE plan_id = $3 AND mapping = $1 AND direction = $2)`,
			part.Mapping, part.Direction, part.PlanID, runID)
		if err != nil {
			return fmt.Errorf("clear failures of mapping %s: %w", part.Mapping, err)
		}
		return nil
	})
}

// Retry takes records out of the skipped state: the given source ids, or
// every failed record of the mapping when ids is empty, and in the same
// transaction moves each direction's source watermark back to the
// earliest modified-on among them, so that the next plan reads them
// again. It returns how many it released and those earliest times.
func (d *DB) Retry(ctx context.Context, mapping string, ids []string) (int64, map[string]time.Time, error) {
	where, args := `mapping = $1`, []any{mapping}
	if len(ids) > 0 {
		where, args = where+` AND source_id = ANY($2)`, append(args, ids)
	}
	var n int64
	earliest := map[string]time.Time{}
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT direction, count(*), min(source_modified) FROM record_failures WHERE `+where+` GROUP BY direction`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var dir string
			var k int64
			var t *time.Time
			if err := rows.Scan(&dir, &k, &t); err != nil {
				rows.Close()
				return err
			}
			n += k
			if t != nil {
				earliest[dir] = t.UTC()
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM record_failures WHERE `+where, args...); err != nil {
			return err
		}
		for direction, t := range earliest {
			side := plan.SideTable
			if direction == "from_integration" {
				side = plan.SideIntegration
			}
			if err := lowerWatermark(ctx, tx, mapping, side, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("retry records of mapping %s: %w", mapping, err)
	}
	return n, earliest, nil
}

// runFailures selects the operations o of a part ($1 plan, $2 mapping, $3
// direction) that failed in planning or in run $4 and are not skipped:
// the records the next run must read again.
const runFailures = `o.plan_id = $1 AND o.mapping = $2 AND o.direction = $3 AND (o.op IN ('fail', 'conflict') OR EXISTS (
			SELECT 1 FROM run_records r WHERE r.run_id = $4 AND r.seq = o.seq AND r.result = 'failure'))
			AND NOT EXISTS (SELECT 1 FROM record_failures f WHERE f.mapping = o.mapping AND f.direction = o.direction
				AND f.source_id = o.source_id AND f.skipped)`

// EarliestFailure returns the earliest source modified-on among the
// records of a run that failed, at plan or at apply time, and are not
// skipped; zero when none failed.
func (d *DB) EarliestFailure(ctx context.Context, runID int64, part state.Part) (time.Time, error) {
	var t *time.Time
	err := d.pool.QueryRow(ctx, `SELECT min(o.source_modified) FROM plan_operations o WHERE `+runFailures,
		part.PlanID, part.Mapping, part.Direction, runID).Scan(&t)
	if err != nil {
		return time.Time{}, fmt.Errorf("earliest failure of run %d: %w", runID, err)
	}
	return utc(t), nil
}

// RunFailed reports whether a run of a part left a record failed and not
// skipped, which the next run must read again.
func (d *DB) RunFailed(ctx context.Context, runID int64, part state.Part) (bool, error) {
	var failed bool
	err := d.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM plan_operations o WHERE `+runFailures+`)`,
		part.PlanID, part.Mapping, part.Direction, runID).Scan(&failed)
	if err != nil {
		return false, fmt.Errorf("failures of run %d: %w", runID, err)
	}
	return failed, nil
}

// Runs lists the most recent runs first, at most limit of them. A run
// that has not finished (under way, or stopped) is counted from the
// records its batches wrote; one whose plan is not applying is
// interrupted.
func (d *DB) Runs(ctx context.Context, limit int) ([]state.Run, error) {
	rows, err := d.pool.Query(ctx, `SELECT r.id, r.plan_id, r.mapping, r.direction, r.started_at, r.finished_at, r.inserted, r.modified, r.unchanged,
			r.skipped, r.failed, r.coupled, r.deleted, r.uncoupled, r.finished_at IS NULL AND coalesce(p.status, '') <> 'applying'
		FROM runs r LEFT JOIN plans p ON p.id = r.plan_id ORDER BY r.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var out []state.Run
	for rows.Next() {
		var r state.Run
		var fin *time.Time
		if err := rows.Scan(&r.ID, &r.PlanID, &r.Mapping, &r.Direction, &r.StartedAt, &fin, &r.Inserted, &r.Modified, &r.Unchanged,
			&r.Skipped, &r.Failed, &r.Coupled, &r.Deleted, &r.Uncoupled, &r.Interrupted); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list runs: %w", err)
		}
		r.StartedAt, r.FinishedAt = r.StartedAt.UTC(), utc(fin)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	for i := range out {
		if !out[i].FinishedAt.IsZero() {
			continue
		}
		if err := d.countRecorded(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// countRecorded adds to r's counts what its recorded records say: each
// success by its kind, every other result as failed.
func (d *DB) countRecorded(ctx context.Context, r *state.Run) error {
	rows, err := d.pool.Query(ctx, `SELECT op, result = 'success', count(*) FROM run_records WHERE run_id = $1 GROUP BY 1, 2`, r.ID)
	if err != nil {
		return fmt.Errorf("records of run %d: %w", r.ID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var op string
		var ok bool
		var n int64
		if err := rows.Scan(&op, &ok, &n); err != nil {
			return fmt.Errorf("records of run %d: %w", r.ID, err)
		}
		countRecords(r, op, ok, n)
	}
	return rows.Err()
}

// countRecords adds n recorded records of kind op to a run's counts, as
// the DuckDB state counts them: successes by kind (state.Run.Count),
// anything else as failed.
func countRecords(r *state.Run, op string, success bool, n int64) {
	if !success {
		r.Failed += n
		return
	}
	for range n {
		r.Count(op)
	}
}

// Failures lists the failed records of the latest run of each mapping and
// direction (all mappings when mapping is empty) and the skipped ones,
// newest first, from the errors view, with the display values of the
// operation of the plan the run applied.
func (d *DB) Failures(ctx context.Context, mapping string, limit int) ([]state.Failure, error) {
	rows, err := d.pool.Query(ctx, `WITH e AS (SELECT * FROM errors WHERE ($1 = '' OR mapping = $1) ORDER BY recorded_at DESC, source_id`+byteOrder+` LIMIT $2)
		SELECT e.run_id, e.mapping, e.direction, e.source_id, coalesce(e.dest_id, ''), e.op, coalesce(e.message, ''), e.recorded_at,
			(SELECT max(o.source_display) FROM runs r JOIN plan_operations o ON o.plan_id = r.plan_id AND o.mapping = r.mapping AND o.direction = r.direction
				WHERE r.id = e.run_id AND o.source_id = e.source_id),
			(SELECT max(o.dest_display) FROM runs r JOIN plan_operations o ON o.plan_id = r.plan_id AND o.mapping = r.mapping AND o.direction = r.direction
				WHERE r.id = e.run_id AND o.source_id = e.source_id)
		FROM e ORDER BY e.recorded_at DESC, e.source_id`+byteOrder, mapping, limit)
	if err != nil {
		return nil, fmt.Errorf("list failures: %w", err)
	}
	defer rows.Close()
	var out []state.Failure
	for rows.Next() {
		var f state.Failure
		var srcShow, dstShow *string
		if err := rows.Scan(&f.RunID, &f.Mapping, &f.Direction, &f.SourceID, &f.DestID, &f.Op, &f.Message, &f.At, &srcShow, &dstShow); err != nil {
			return nil, fmt.Errorf("list failures: %w", err)
		}
		f.At = f.At.UTC()
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

// UnfinishedRun returns the latest run of one part of a plan that was
// started but never finished, with its counts rebuilt from the results it
// recorded, and the seqs it recorded; ok is false when there is none.
func (d *DB) UnfinishedRun(ctx context.Context, part state.Part) (run state.Run, done map[int64]bool, ok bool, err error) {
	err = d.pool.QueryRow(ctx, `SELECT id, started_at FROM runs WHERE plan_id = $1 AND mapping = $2 AND direction = $3 AND finished_at IS NULL
		ORDER BY id DESC LIMIT 1`, part.PlanID, part.Mapping, part.Direction).Scan(&run.ID, &run.StartedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return run, nil, false, nil
	}
	if err != nil {
		return run, nil, false, fmt.Errorf("unfinished run of mapping %s: %w", part.Mapping, err)
	}
	run.PlanID, run.Mapping, run.Direction, run.StartedAt = part.PlanID, part.Mapping, part.Direction, run.StartedAt.UTC()
	rows, err := d.pool.Query(ctx, `SELECT seq, op, result FROM run_records WHERE run_id = $1`, run.ID)
	if err != nil {
		return run, nil, false, fmt.Errorf("records of run %d: %w", run.ID, err)
	}
	defer rows.Close()
	done = map[int64]bool{}
	for rows.Next() {
		var seq int64
		var op, result string
		if err := rows.Scan(&seq, &op, &result); err != nil {
			return run, nil, false, fmt.Errorf("records of run %d: %w", run.ID, err)
		}
		done[seq] = true
		countRecords(&run, op, result == "success", 1)
	}
	return run, done, true, rows.Err()
}

// FinishedParts returns the parts of a plan whose run finished: a resumed
// apply skips them.
func (d *DB) FinishedParts(ctx context.Context, planID string) (map[state.Part]bool, error) {
	rows, err := d.pool.Query(ctx, `SELECT mapping, direction FROM runs WHERE plan_id = $1 AND finished_at IS NOT NULL`, planID)
	if err != nil {
		return nil, fmt.Errorf("runs of plan %s: %w", planID, err)
	}
	defer rows.Close()
	out := map[state.Part]bool{}
	for rows.Next() {
		p := state.Part{PlanID: planID}
		if err := rows.Scan(&p.Mapping, &p.Direction); err != nil {
			return nil, fmt.Errorf("runs of plan %s: %w", planID, err)
		}
		out[p] = true
	}
	return out, rows.Err()
}
