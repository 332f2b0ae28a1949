package state

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/couplerhq/coupler/engine/plan"
)

// ErrNoPlan is returned when a plan asked for does not exist.
var ErrNoPlan = errors.New("no such plan")

// querier is what reads the database: a *sql.DB, a transaction or one
// connection.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// countOps counts the operations of each kind in a part of a plan, the
// unchanged records counted in plan_unchanged included.
// OperationReader is what LoadOperations reads a saved plan's operations
// through: the implementation's own Counts and Operations (Plans), and how
// many unchanged records a part lists one by one.
type OperationReader interface {
	Counts(ctx context.Context, part Part) (plan.Counts, error)
	Operations(ctx context.Context, part Part, afterSeq int64, limit int, kinds []plan.Kind, fn func(plan.Operation) error) error
	// ListedUnchanged counts the unchanged records a part of a plan lists
	// one by one: those of a plan saved before DuckDB's schema version 8.
	ListedUnchanged(ctx context.Context, part Part) (int64, error)
}

// LoadOperations fills each mapping of a loaded plan with its counts and
// at most limit of its operations (negative: all) of the given kinds
// (none: every kind but unchanged), and how many it left out: the part of
// LoadPlan that every implementation shares.
func LoadOperations(ctx context.Context, r OperationReader, p *plan.Plan, limit int, kinds ...plan.Kind) error {
	if len(kinds) == 0 {
		kinds = append(slices.Clone(plan.Writes), plan.Conflict, plan.Fail, plan.Skipped)
	}
	for _, m := range p.Mappings {
		part := Part{PlanID: p.ID, Mapping: m.Name, Direction: m.Direction}
		var err error
		if m.Counts, err = r.Counts(ctx, part); err != nil {
			return err
		}
		// Unchanged records are counted, not listed (plan_unchanged):
		// only those listed can be omitted.
		var total int64
		for _, k := range kinds {
			if k != plan.Unchanged {
				total += m.Counts[k]
				continue
			}
			n, err := r.ListedUnchanged(ctx, part)
			if err != nil {
				return err
			}
			total += n
		}
		err = r.Operations(ctx, part, 0, limit, kinds, func(op plan.Operation) error {
			m.Operations = append(m.Operations, op)
			return nil
		})
		if err != nil {
			return err
		}
		m.Omitted = total - int64(len(m.Operations))
	}
	return nil
}

func countOps(ctx context.Context, q querier, part Part) (plan.Counts, error) {
	rows, err := q.QueryContext(ctx, `SELECT op, count(*) FROM plan_operations WHERE plan_id = ? AND mapping = ? AND direction = ? GROUP BY op
		UNION ALL SELECT 'unchanged', records FROM plan_unchanged WHERE plan_id = ? AND mapping = ? AND direction = ?`,
		part.PlanID, part.Mapping, part.Direction, part.PlanID, part.Mapping, part.Direction)
	if err != nil {
		return nil, fmt.Errorf("count operations of mapping %s: %w", part.Mapping, err)
	}
	defer rows.Close()
	counts := plan.Counts{}
	for _, k := range plan.Kinds {
		counts[k] = 0
	}
	for rows.Next() {
		var op string
		var n int64
		if err := rows.Scan(&op, &n); err != nil {
			return nil, err
		}
		counts[plan.Kind(op)] += n
	}
	return counts, rows.Err()
}

// ListedUnchanged counts the unchanged records a part of a plan lists one
// by one: those of a plan saved before schema version 8 (see
// plan_unchanged).
func (d *DB) ListedUnchanged(ctx context.Context, part Part) (int64, error) {
	var n int64
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM plan_operations WHERE plan_id = ? AND mapping = ? AND direction = ? AND op = 'unchanged'`,
		part.PlanID, part.Mapping, part.Direction).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count operations of mapping %s: %w", part.Mapping, err)
	}
	return n, nil
}

// SavePlan records a plan's header and its mappings. The operations were
// saved by Diff; SavePlan makes the plan visible, so a plan interrupted
// before it is saved never shows up as applicable.
//
// A plan named as another is refused, unless replaceName: then the other
// plan loses the name, in the same transaction.
func (d *DB) SavePlan(ctx context.Context, p *plan.Plan, baseWatermarks map[string]time.Time, replaceName bool) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if p.Name != "" {
		other, ok, err := planNamed(ctx, tx, p.Name)
		switch {
		case err != nil:
			return err
		case ok && !replaceName:
			return NameTakenError(p.Name, other)
		case ok:
			if _, err := tx.ExecContext(ctx, `UPDATE plans SET name = NULL WHERE id = ?`, other); err != nil {
				return fmt.Errorf("take the name %q from plan %s: %w", p.Name, other, err)
			}
		}
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO plans (id, created_at, full_read, fingerprint, status, name) VALUES (?, ?, ?, ?, ?, ?)`,
		p.ID, p.CreatedAt.UTC(), p.Full, p.Fingerprint, string(plan.Planned), nullString(p.Name))
	if err != nil {
		return fmt.Errorf("save plan %s: %w", p.ID, err)
	}
	for i, m := range p.Mappings {
		_, err = tx.ExecContext(ctx, `INSERT INTO plan_mappings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, i, m.Name, m.Direction,
			m.Source.Side, m.Source.Connector, m.Source.Entity, m.Source.Key, m.Source.Modified,
			m.Dest.Side, m.Dest.Connector, m.Dest.Entity, m.Dest.Key, m.Dest.Modified,
			nullTime(baseWatermarks[WatermarkKey(m.Name, m.Source.Side)]), nullTime(m.Since), m.ReadStarted.UTC(), nullTime(m.NewWatermark),
			m.Read, m.NotModified, nullString(m.Record), m.DestRead, m.Coupled, warningsValue(m.Warnings), warningsValue(m.NeedsApproval))
		if err != nil {
			return fmt.Errorf("save plan %s, mapping %s: %w", p.ID, m.Name, err)
		}
	}
	if err := saveChangeReads(ctx, tx, p); err != nil {
		return err
	}
	if err := savePlanParts(ctx, tx, p); err != nil {
		return err
	}
	return tx.Commit()
}

// NameTakenError is the error for a plan name another plan has.
func NameTakenError(name, other string) error {
	return fmt.Errorf("a plan named %q exists already (%s); choose another name, or replace it with --force (the other plan keeps its id)", name, other)
}

// PlanNamed returns the id of the plan named name; ok is false when there
// is none.
func (d *DB) PlanNamed(ctx context.Context, name string) (id string, ok bool, err error) {
	return planNamed(ctx, d.db, name)
}

func planNamed(ctx context.Context, q querier, name string) (id string, ok bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT id FROM plans WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("plan named %q: %w", name, err)
	}
	return id, true, nil
}

// WatermarkKey names a mapping's watermark on one side in the maps that
// SavePlan and PlanBase use.
func WatermarkKey(mapping, side string) string { return mapping + "/" + side }

// planTables are the tables that hold a plan's parts, by plan_id, besides
// plans itself and plan_change_values and plan_create_values, which hold
// them by plan_change_parts' numbers: deletePlanRows deletes from them all.
var planTables = []string{"plan_change_parts", "plan_operations", "plan_unchanged", "plan_unchanged_marks", "plan_fields", "plan_change_tokens", "plan_parts", "plan_approvals", "plan_mappings"}

// deletePlanRows deletes the rows of the plans that where, a condition on
// plan_id with its args, picks from every table that holds plans' parts.
func deletePlanRows(ctx context.Context, tx *sql.Tx, where string, args ...any) error {
	stmts := deleteChangesSQL(where)
	for _, t := range planTables {
		stmts = append(stmts, `DELETE FROM `+t+` WHERE `+where)
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// DiscardPlan deletes whatever a failed plan left behind.
func (d *DB) DiscardPlan(ctx context.Context, id string) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := deletePlanRows(ctx, tx, `plan_id = ?`, id); err != nil {
		return fmt.Errorf("discard plan %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM plans WHERE id = ?`, id); err != nil {
		return fmt.Errorf("discard plan %s: %w", id, err)
	}
	return tx.Commit()
}

// LatestPlan returns the id of the newest plan, which is the only one apply
// takes by default: older ones were made before it and are stale once
// anything is applied.
func (d *DB) LatestPlan(ctx context.Context) (id string, status plan.Status, err error) {
	var st string
	err = d.db.QueryRowContext(ctx, `SELECT id, status FROM plans ORDER BY created_at DESC, id DESC LIMIT 1`).Scan(&id, &st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("%w: no plan has been made yet; run coupler plan first", ErrNoPlan)
	}
	if err != nil {
		return "", "", fmt.Errorf("latest plan: %w", err)
	}
	return id, plan.Status(st), nil
}

// SetPlanStatus moves a plan to status, but only from one of the statuses in
// from, so that two applies of one plan cannot both proceed.
func (d *DB) SetPlanStatus(ctx context.Context, id string, to plan.Status, from ...plan.Status) error {
	args := []any{string(to), id}
	var ph []string
	for _, f := range from {
		ph = append(ph, "?")
		args = append(args, string(f))
	}
	// One statement, so that a plan is never applying without the time
	// its apply began (which staleness checks compare).
	args = append([]any{to == plan.Applying, time.Now().UTC()}, args...)
	res, err := d.db.ExecContext(ctx, `UPDATE plans SET applied_at = CASE WHEN ? THEN ? ELSE applied_at END, status = ? WHERE id = ? AND status IN (`+strings.Join(ph, ",")+`)`, args...)
	if err != nil {
		return fmt.Errorf("plan %s: set status %s: %w", id, to, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var have string
		if err := d.db.QueryRowContext(ctx, `SELECT status FROM plans WHERE id = ?`, id).Scan(&have); err != nil {
			return fmt.Errorf("%w: %s", ErrNoPlan, id)
		}
		return fmt.Errorf("plan %s is %s, not %v", id, have, from)
	}
	return d.durable(ctx)
}

// MarkInterrupted moves every plan still applying to plan.Interrupted and
// returns their ids. Call it only while no apply can be running on this
// database (under LockWrites, DuckDB's file lock keeping other processes
// out): such a plan's apply then stopped before it finished. Its applied_at
// stays, since staleness checks compare it.
func (d *DB) MarkInterrupted(ctx context.Context) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `UPDATE plans SET status = 'interrupted' WHERE status = 'applying' RETURNING id`)
	if err != nil {
		return nil, fmt.Errorf("mark interrupted plans: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("mark interrupted plans: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		if err := d.durable(ctx); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// AppliedSince returns a plan that shares a mapping with plan id and whose
// apply began after plan id was made: plan id's diff describes systems that
// have moved on. It returns "" when there is none.
func (d *DB) AppliedSince(ctx context.Context, id string) (other, mapping string, err error) {
	err = d.db.QueryRowContext(ctx, `SELECT p2.id, m2.mapping FROM plans p
		JOIN plan_mappings m ON m.plan_id = p.id
		JOIN plan_mappings m2 ON m2.mapping = m.mapping AND m2.plan_id <> p.id
		JOIN plans p2 ON p2.id = m2.plan_id
		WHERE p.id = ? AND p2.status IN ('applying', 'interrupted', 'applied') AND p2.applied_at >= p.created_at
		ORDER BY p2.applied_at LIMIT 1`, id).Scan(&other, &mapping)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("plans applied since plan %s: %w", id, err)
	}
	return other, mapping, nil
}

// BindSets returns, per destination field of a part that writes lookups as
// references, the entity set the reference points into.
func (d *DB) BindSets(ctx context.Context, part Part) (map[string]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT field, bind_set FROM plan_fields WHERE plan_id = ? AND mapping = ? AND direction = ? AND bind_set IS NOT NULL`,
		part.PlanID, part.Mapping, part.Direction)
	if err != nil {
		return nil, fmt.Errorf("fields of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	return scanStringMap(rows)
}

// LoadPlan reads a saved plan. It lists at most limit operations per mapping
// (negative: all) of the kinds given (none: the writes, conflicts, failures
// and skipped records); the rest are counted in Omitted.
func (d *DB) LoadPlan(ctx context.Context, id string, limit int, kinds ...plan.Kind) (*plan.Plan, error) {
	p := &plan.Plan{ID: id}
	var status string
	err := d.db.QueryRowContext(ctx, `SELECT id, created_at, full_read, fingerprint, status, coalesce(name, '') FROM plans WHERE id = ? OR name = ?`, id, id).
		Scan(&p.ID, &p.CreatedAt, &p.Full, &p.Fingerprint, &status, &p.Name)
	id = p.ID
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNoPlan, id)
	}
	if err != nil {
		return nil, fmt.Errorf("load plan %s: %w", id, err)
	}
	p.Status = plan.Status(status)
	rows, err := d.db.QueryContext(ctx, `SELECT mapping, direction, source_side, source_connector, source_entity, source_key, source_modified,
		dest_side, dest_connector, dest_entity, dest_key, dest_modified, since, read_started, new_watermark, records_read, not_modified,
		coalesce(record, ''), dest_read, coupled, coalesce(warnings, ''), coalesce(needs_approval, '') FROM plan_mappings WHERE plan_id = ? ORDER BY position`, id)
	if err != nil {
		return nil, fmt.Errorf("load plan %s: %w", id, err)
	}
	for rows.Next() {
		m := &plan.MappingPlan{}
		var since, wm sql.NullTime
		var warnings, approval string
		if err := rows.Scan(&m.Name, &m.Direction, &m.Source.Side, &m.Source.Connector, &m.Source.Entity, &m.Source.Key, &m.Source.Modified,
			&m.Dest.Side, &m.Dest.Connector, &m.Dest.Entity, &m.Dest.Key, &m.Dest.Modified, &since, &m.ReadStarted, &wm, &m.Read, &m.NotModified, &m.Record, &m.DestRead, &m.Coupled, &warnings, &approval); err != nil {
			rows.Close()
			return nil, err
		}
		m.Since, m.NewWatermark = since.Time, wm.Time
		if warnings != "" {
			m.Warnings = strings.Split(warnings, "\n")
		}
		if approval != "" {
			m.NeedsApproval = strings.Split(approval, "\n")
		}
		p.Mappings = append(p.Mappings, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := loadChangeReads(ctx, d.db, p); err != nil {
		return nil, err
	}
	if p.Approved, err = d.approval(ctx, id); err != nil {
		return nil, err
	}
	if err := loadPlanParts(ctx, d.db, p); err != nil {
		return nil, err
	}
	if err := LoadOperations(ctx, d, p, limit, kinds...); err != nil {
		return nil, err
	}
	return p, nil
}

// PlanBase returns the source watermark each part of a plan started from,
// keyed by WatermarkKey (absent when there was none), to detect a plan made
// stale by a later apply.
func (d *DB) PlanBase(ctx context.Context, id string) (map[string]time.Time, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT mapping || '/' || source_side, base_watermark FROM plan_mappings WHERE plan_id = ?`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var name string
		var t sql.NullTime
		if err := rows.Scan(&name, &t); err != nil {
			return nil, err
		}
		if t.Valid {
			out[name] = t.Time.UTC()
		}
	}
	return out, rows.Err()
}

// Operations streams the operations of one part of a plan with seq after
// afterSeq, in seq order, at most limit of them (negative: all), with their
// field changes.
func (d *DB) Operations(ctx context.Context, part Part, afterSeq int64, limit int, kinds []plan.Kind, fn func(plan.Operation) error) error {
	if limit == 0 {
		return nil
	}
	ph := make([]string, len(kinds))
	args := []any{part.PlanID, part.Mapping, part.Direction}
	for i, k := range kinds {
		ph[i] = "?"
		args = append(args, string(k))
	}
	args = append(args, afterSeq) // last: the range's start
	// The operations first, then their field changes by a range of seqs:
	// joined in one statement, each batch of an apply hashed every change
	// of the plan (a million rows for 100,000 records of 10 fields) to
	// keep a few thousand; a constant range lets DuckDB skip the row
	// groups outside it.
	q := `SELECT seq, op, source_id, dest_id, etag, source_etag, source_modified, reason, source_display, dest_display FROM plan_operations
		WHERE plan_id = ? AND mapping = ? AND direction = ? AND op IN (` + strings.Join(ph, ",") + `) AND seq > ?`
	var ops []plan.Operation
	if limit > 0 {
		ops = make([]plan.Operation, 0, min(limit, 8192))
		// A part's seqs are one per operation: the next limit of them
		// hold at most limit operations, and are read without DuckDB
		// sorting every operation after afterSeq to keep the first limit
		// (which made loading an apply's batches grow with the square of
		// the plan: 0.26 s of a first sync of 100,000). Operations of
		// other kinds in that range (failures, skips) leave it short; the
		// rest come from after it.
		end := afterSeq + int64(limit)
		if end < afterSeq {
			end = math.MaxInt64 // past the largest seq: the rest, wrapped, would start again at the first
		}
		window := append(slices.Clip(args), end)
		if err := d.scanOperations(ctx, part, &ops, q+` AND seq <= ? ORDER BY seq`, window...); err != nil {
			return err
		}
		if rest := limit - len(ops); rest > 0 && end < math.MaxInt64 {
			args[len(args)-1] = end
			if err := d.scanOperations(ctx, part, &ops, q+fmt.Sprintf(` ORDER BY seq LIMIT %d`, rest), args...); err != nil {
				return err
			}
		}
	} else if err := d.scanOperations(ctx, part, &ops, q+` ORDER BY seq`, args...); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	if err := d.attachChanges(ctx, part, afterSeq, ops); err != nil {
		return err
	}
	for _, o := range ops {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// scanOperations appends to ops the operations query q selects.
func (d *DB) scanOperations(ctx context.Context, part Part, ops *[]plan.Operation, q string, args ...any) error {
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("operations of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq                        int64
			dest, etag, srcTag, reason sql.NullString
			op, source                 string
			srcShow, dstShow           sql.NullString
			modified                   sql.NullTime
		)
		if err := rows.Scan(&seq, &op, &source, &dest, &etag, &srcTag, &modified, &reason, &srcShow, &dstShow); err != nil {
			return err
		}
		o := plan.Operation{Seq: seq, Kind: plan.Kind(op), SourceID: source, DestID: dest.String,
			ETag: etag.String, SourceETag: srcTag.String, SourceModified: modified.Time, Reason: reason.String}
		if o.SourceDisplay, err = parseDisplay(srcShow); err == nil {
			o.DestDisplay, err = parseDisplay(dstShow)
		}
		if err != nil {
			return fmt.Errorf("operations of plan %s, mapping %s, record %s: display: %w", part.PlanID, part.Mapping, source, err)
		}
		*ops = append(*ops, o)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("operations of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	return nil
}

// attachChanges reads the field changes of ops, operations of part in
// the order of their seqs, all after afterSeq, into their Changes, each
// operation's in the order of their field names.
//
// The changes are read in the order they are stored, which is by seq
// (the diff inserts them as it joins the operations in order), not
// sorted by DuckDB: sorting took a quarter of the query. An operation's
// own few are put in order here, and should the rows come out of order
// all the same (a parallel insert), they are sorted here too.
func (d *DB) attachChanges(ctx context.Context, part Part, afterSeq int64, ops []plan.Operation) error {
	partID, numbered, err := partNumber(ctx, d.db, part)
	if err != nil || !numbered {
		return err // none numbered, none saved
	}
	crows, err := d.db.QueryContext(ctx, `SELECT seq, field, before, after FROM plan_change_values
		WHERE part = ? AND seq > ? AND seq <= ?`,
		partID, afterSeq, ops[len(ops)-1].Seq)
	if err != nil {
		return fmt.Errorf("changes of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	defer crows.Close()
	// Sized for ten fields an operation whose changes are rows (not a
	// create's, since schema version 14); more only grow them. The values
	// are copied into shared blocks, not a slice each.
	packed := countPacked(ops)
	rowOps := len(ops) - packed
	changes := make([]plan.Change, 0, 10*rowOps)
	seqs := make([]int64, 0, 10*rowOps)
	var text textBlocks
	ordered := true
	var seq int64
	var field string
	var before, after sql.RawBytes
	at := 0 // where the last change's seq is, or would be, among ops
	for crows.Next() {
		if err := crows.Scan(&seq, &field, &before, &after); err != nil {
			return err
		}
		// Changes of operations of kinds not asked for share the seq
		// range: they are passed over, not copied and kept to the end.
		// Apply reads its failures and conflicts so, and their range
		// holds every change of the plan's creates and updates.
		if at >= len(ops) || seq != ops[at].Seq {
			switch {
			case at+1 < len(ops) && seq == ops[at+1].Seq:
				at++ // the next operation's: the changes come in seq order
			case at < len(ops) && seq < ops[at].Seq && (at == 0 || seq > ops[at-1].Seq):
				continue // between two operations asked for
			default:
				var found bool
				if at, found = opWithSeq(ops, seq); !found {
					continue
				}
			}
		}
		if n := len(seqs); n > 0 && seq < seqs[n-1] {
			ordered = false
		}
		seqs = append(seqs, seq)
		changes = append(changes, plan.Change{Field: field, Before: text.json(before), After: text.json(after)})
	}
	if err := crows.Err(); err != nil {
		return fmt.Errorf("changes of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	if !ordered {
		byChange := make([]int, len(changes))
		for i := range byChange {
			byChange[i] = i
		}
		slices.SortStableFunc(byChange, func(a, b int) int { return cmp.Compare(seqs[a], seqs[b]) })
		sortedChanges, sortedSeqs := make([]plan.Change, len(changes)), make([]int64, len(seqs))
		for i, j := range byChange {
			sortedChanges[i], sortedSeqs[i] = changes[j], seqs[j]
		}
		changes, seqs = sortedChanges, sortedSeqs
	}
	// Each operation's changes are a run of the one slice, not a slice
	// grown per change (a tenth of loading a batch went to growing them).
	at = 0
	for from := 0; from < len(changes); {
		to := from + 1
		for to < len(changes) && seqs[to] == seqs[from] {
			to++
		}
		for at < len(ops) && ops[at].Seq < seqs[from] {
			at++
		}
		if at < len(ops) && ops[at].Seq == seqs[from] {
			run := changes[from:to:to]
			slices.SortFunc(run, func(a, b plan.Change) int { return strings.Compare(a.Field, b.Field) })
			ops[at].Changes = run
		}
		from = to
	}
	if packed == 0 {
		return nil
	}
	return d.attachPackedChanges(ctx, part, partID, afterSeq, ops, packed, &text)
}

// opWithSeq finds the operation with seq among ops, which are in seq order.
func opWithSeq(ops []plan.Operation, seq int64) (int, bool) {
	return slices.BinarySearchFunc(ops, seq, func(o plan.Operation, seq int64) int { return cmp.Compare(o.Seq, seq) })
}

// countPacked counts the operations whose changes a plan saved since schema
// version 14 keeps in plan_create_values: creates and restores.
func countPacked(ops []plan.Operation) int {
	n := 0
	for _, o := range ops {
		if o.Kind == plan.Create || o.Kind == plan.Restore {
			n++
		}
	}
	return n
}

// attachPackedChanges sets the changes of the creates and restores among
// ops (packed of them), which follow afterSeq in seq order, from
// plan_create_values (schema version 14) under part's number partID, their
// values copied into text.
func (d *DB) attachPackedChanges(ctx context.Context, part Part, partID, afterSeq int64, ops []plan.Operation, packed int, text *textBlocks) error {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, fields FROM plan_create_values WHERE part = ? AND seq > ? AND seq <= ?`,
		partID, afterSeq, ops[len(ops)-1].Seq)
	if err != nil {
		return fmt.Errorf("changes of the creates of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	defer rows.Close()
	// Each name once, not a string a change.
	names := map[string]string{}
	changes := make([]plan.Change, 0, 10*packed)
	var seq int64
	var fields sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&seq, &fields); err != nil {
			return err
		}
		i, found := opWithSeq(ops, seq)
		if !found {
			continue
		}
		from := len(changes)
		for item := range bytes.SplitSeq(text.json(fields), []byte(changeSeparator)) {
			name, value, valued := bytes.Cut(item, []byte(valueSeparator))
			field, ok := names[string(name)]
			if !ok {
				field = string(name)
				names[field] = field
			}
			c := plan.Change{Field: field}
			if valued {
				c.After = json.RawMessage(value[:len(value):len(value)])
			}
			changes = append(changes, c)
		}
		ops[i].Changes = changes[from:len(changes):len(changes)]
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("changes of the creates of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	return nil
}

// textBlocks holds JSON texts read from the state database in blocks
// shared by many values: a batch's changes are ten a record, and a slice
// each was a tenth of reading them.
type textBlocks struct{ block []byte }

// textBlockSize is the size of a block; a longer value gets a block of
// its own.
const textBlockSize = 64 << 10

// json copies b into a block and returns it, nil for a NULL (a nil b).
// The copy's capacity ends with it: appending to it never writes into
// the next value.
func (t *textBlocks) json(b sql.RawBytes) json.RawMessage {
	if b == nil {
		return nil
	}
	if len(b) > cap(t.block)-len(t.block) {
		t.block = make([]byte, 0, max(textBlockSize, len(b)))
	}
	from := len(t.block)
	t.block = append(t.block, b...)
	return t.block[from:len(t.block):len(t.block)]
}

// parseDisplay reads display values saved as JSON text; nil for none.
func parseDisplay(s sql.NullString) (plan.Display, error) {
	if !s.Valid {
		return nil, nil
	}
	var d plan.Display
	if err := json.Unmarshal([]byte(s.String), &d); err != nil {
		return nil, err
	}
	return d, nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// PlanSummary is one saved plan as listed by coupler plans.
type PlanSummary struct {
	ID        string
	Name      string
	CreatedAt time.Time
	Status    plan.Status
	Mappings  []string
	Counts    plan.Counts
	// NeedsApproval says that some part of the plan waits for a person's
	// approval before coupler serve applies it (plan.NeedsApproval).
	NeedsApproval bool
	// Approved is who approved the plan and when; nil when nobody has.
	Approved *plan.Approval
	// NotModified counts the records an incremental read left out as not
	// modified since the watermark, which reports count as unchanged.
	NotModified int64
}

// Plans lists saved plans, newest first, at most limit of them.
func (d *DB) Plans(ctx context.Context, limit int) ([]PlanSummary, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT p.id, coalesce(p.name, ''), p.created_at, p.status,
			(SELECT string_agg(DISTINCT mapping, ', ' ORDER BY mapping) FROM plan_mappings m WHERE m.plan_id = p.id),
			coalesce((SELECT bool_or(coalesce(needs_approval, '') <> '') FROM plan_mappings m WHERE m.plan_id = p.id), false),
			coalesce((SELECT sum(not_modified) FROM plan_mappings m WHERE m.plan_id = p.id), 0),
			a.approved_by, a.approved_at
		FROM plans p LEFT JOIN plan_approvals a ON a.plan_id = p.id
		ORDER BY p.created_at DESC, p.id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list plans: %w", err)
	}
	var out []PlanSummary
	for rows.Next() {
		var s PlanSummary
		var status string
		var maps, by sql.NullString
		var at sql.NullTime
		if err := rows.Scan(&s.ID, &s.Name, &s.CreatedAt, &status, &maps, &s.NeedsApproval, &s.NotModified, &by, &at); err != nil {
			rows.Close()
			return nil, err
		}
		s.Status = plan.Status(status)
		if by.Valid {
			s.Approved = &plan.Approval{By: by.String, At: at.Time.UTC()}
		}
		if maps.Valid {
			s.Mappings = strings.Split(maps.String, ", ")
		}
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Counts = plan.Counts{}
		crow, err := d.db.QueryContext(ctx, `SELECT op, count(*) FROM plan_operations WHERE plan_id = ? GROUP BY op
			UNION ALL SELECT 'unchanged', sum(records) FROM plan_unchanged WHERE plan_id = ? HAVING count(*) > 0`, out[i].ID, out[i].ID)
		if err != nil {
			return nil, err
		}
		for crow.Next() {
			var op string
			var n int64
			if err := crow.Scan(&op, &n); err != nil {
				crow.Close()
				return nil, err
			}
			out[i].Counts[plan.Kind(op)] += n
		}
		crow.Close()
	}
	return out, nil
}

// warningsValue stores warnings as one text, one per line.
func warningsValue(ws []string) any {
	if len(ws) == 0 {
		return nil
	}
	return strings.Join(ws, "\n")
}

// ExportOperations writes a plan's operations, one row per changed field as
// the operations view has them, to path with DuckDB's COPY: format is
// "parquet" or "jsonl". Empty mappings and kinds mean all.
func (d *DB) ExportOperations(ctx context.Context, planID, format, path string, mappings []string, kinds []plan.Kind) (int64, error) {
	var formatSQL string
	switch format {
	case "parquet":
		formatSQL = "FORMAT PARQUET"
	case "jsonl":
		formatSQL = "FORMAT JSON"
	default:
		return 0, fmt.Errorf("export format must be parquet or jsonl, not %q", format)
	}
	where := []string{"plan_id = " + sqlString(planID)}
	if len(mappings) > 0 {
		var q []string
		for _, m := range mappings {
			q = append(q, sqlString(m))
		}
		where = append(where, "mapping IN ("+strings.Join(q, ", ")+")")
	}
	if len(kinds) > 0 {
		var q []string
		for _, k := range kinds {
			q = append(q, sqlString(string(k)))
		}
		where = append(where, "op IN ("+strings.Join(q, ", ")+")")
	}
	// COPY takes no parameters, so every value above is a quoted literal.
	res, err := d.db.ExecContext(ctx, `COPY (SELECT * FROM operations WHERE `+strings.Join(where, " AND ")+
		` ORDER BY mapping, direction, seq, field) TO `+sqlString(path)+` (`+formatSQL+`)`)
	if err != nil {
		return 0, fmt.Errorf("export plan %s to %s: %w", planID, path, err)
	}
	return res.RowsAffected()
}

// PruneResult says what PrunePlans removed.
type PruneResult struct {
	// Plans counts the saved plans removed.
	Plans int64
	// Orphans counts operation rows that belonged to no saved plan: what a
	// plan killed before it was saved left behind.
	Orphans int64
}

// PrunePlans removes saved plans made before olderThan, except the newest
// keep plans, interrupted plans that apply can still resume (no later plan
// was applied over their mappings) and plans with writes in flight. The run log keeps its runs; only
// the plans' operations and changes go. It also removes the rows of plans
// that were never saved, so it must not run while a plan is being made on
// this database (the lock keeps other processes out). All in one
// transaction.
func (d *DB) PrunePlans(ctx context.Context, olderThan time.Time, keep int) (PruneResult, error) {
	var res PruneResult
	// A plan whose writes are in flight is kept: their intents must be in
	// write_intents for the statement below to see them.
	if err := d.flushPending(ctx); err != nil {
		return res, fmt.Errorf("prune plans: %w", err)
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("prune plans: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE prune_victims AS
		SELECT id FROM (SELECT id, status, created_at, applied_at, row_number() OVER (ORDER BY created_at DESC, id DESC) AS rank FROM plans) p
		WHERE rank > ? AND created_at < ?
		  AND id NOT IN (SELECT plan_id FROM write_intents)
		  -- an interrupted plan stays while apply can resume it: until a
		  -- later plan is applied over one of its mappings (AppliedAfter)
		  AND (status NOT IN ('applying', 'interrupted') OR EXISTS (SELECT 1 FROM plan_mappings m
		        JOIN plan_mappings m2 ON m2.mapping = m.mapping AND m2.plan_id <> m.plan_id
		        JOIN plans p2 ON p2.id = m2.plan_id
		        WHERE m.plan_id = p.id AND p2.status IN ('applying', 'interrupted', 'applied') AND p2.applied_at > p.applied_at))`, keep, olderThan.UTC()); err != nil {
		return res, fmt.Errorf("prune plans: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM prune_victims),
		(SELECT count(*) FROM plan_operations WHERE plan_id NOT IN (SELECT id FROM plans))`).Scan(&res.Plans, &res.Orphans); err != nil {
		return res, fmt.Errorf("prune plans: %w", err)
	}
	if err := deletePlanRows(ctx, tx, `plan_id IN (SELECT id FROM prune_victims) OR plan_id NOT IN (SELECT id FROM plans)`); err != nil {
		return res, fmt.Errorf("prune plans: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM plans WHERE id IN (SELECT id FROM prune_victims)`); err != nil {
		return res, fmt.Errorf("prune plans: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE prune_victims`); err != nil {
		return res, fmt.Errorf("prune plans: %w", err)
	}
	return res, tx.Commit()
}
