package pgstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// querier is what a pool and a transaction share, so that a helper runs
// inside the transaction of its caller or on its own.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Text is compared byte by byte where an order is shown or decides
// something (the newest plan of two made in one instant), as DuckDB
// compares it, whatever collation the database was made with.
const byteOrder = ` COLLATE "C"`

// SavePlan records a plan's header and its mappings, making the plan
// visible; its operations were saved before (SaveDiff). A plan named as
// another is refused, unless replaceName: then the other plan loses the
// name, in the same transaction.
func (d *DB) SavePlan(ctx context.Context, p *plan.Plan, baseWatermarks map[string]time.Time, replaceName bool) error {
	diffs := d.takeDiffs(p.ID)
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		for _, diff := range diffs {
			if err := writeDiff(ctx, tx, diff); err != nil {
				return err
			}
		}
		if p.Name != "" {
			other, ok, err := planNamed(ctx, tx, p.Name)
			switch {
			case err != nil:
				return err
			case ok && !replaceName:
				return state.NameTakenError(p.Name, other)
			case ok:
				if _, err := tx.Exec(ctx, `UPDATE plans SET name = NULL WHERE id = $1`, other); err != nil {
					return fmt.Errorf("take the name %q from plan %s: %w", p.Name, other, err)
				}
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO plans (id, created_at, full_read, fingerprint, status, name) VALUES ($1, $2, $3, $4, $5, $6)`,
			p.ID, p.CreatedAt.UTC(), p.Full, p.Fingerprint, string(plan.Planned), nullString(p.Name))
		if err != nil {
			return fmt.Errorf("save plan %s: %w", p.ID, err)
		}
		for i, m := range p.Mappings {
			_, err = tx.Exec(ctx, `INSERT INTO plan_mappings VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
				$15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25)`,
				p.ID, i, m.Name, m.Direction,
				m.Source.Side, m.Source.Connector, m.Source.Entity, m.Source.Key, m.Source.Modified,
				m.Dest.Side, m.Dest.Connector, m.Dest.Entity, m.Dest.Key, m.Dest.Modified,
				nullTime(baseWatermarks[state.WatermarkKey(m.Name, m.Source.Side)]), nullTime(m.Since), m.ReadStarted.UTC(), nullTime(m.NewWatermark),
				m.Read, m.NotModified, nullString(m.Record), m.DestRead, m.Coupled, lines(m.Warnings), lines(m.NeedsApproval))
			if err != nil {
				return fmt.Errorf("save plan %s, mapping %s: %w", p.ID, m.Name, err)
			}
			if m.ChangeTracking != "" {
				_, err := tx.Exec(ctx, `INSERT INTO plan_change_tokens VALUES ($1, $2, $3, $4, $5, $6, $7)`,
					p.ID, m.Name, m.Direction, string(m.ChangeTracking), nullString(m.BaseChangeToken), nullString(m.NewChangeToken), m.Removed)
				if err != nil {
					return fmt.Errorf("save plan %s, mapping %s: change tracking: %w", p.ID, m.Name, err)
				}
			}
			if m.Definition != "" || m.CreatesIntoExisting {
				_, err := tx.Exec(ctx, `INSERT INTO plan_parts VALUES ($1, $2, $3, $4, $5, $6)`,
					p.ID, m.Name, m.Direction, m.Definition, m.DefinitionChanged, m.CreatesIntoExisting)
				if err != nil {
					return fmt.Errorf("save plan %s, mapping %s: definition: %w", p.ID, m.Name, err)
				}
			}
		}
		return nil
	})
}

// lines stores a list of messages as one text, one a line; NULL for none.
func lines(ws []string) any {
	if len(ws) == 0 {
		return nil
	}
	return strings.Join(ws, "\n")
}

// PlanNamed returns the id of the plan named name; ok is false when there
// is none.
func (d *DB) PlanNamed(ctx context.Context, name string) (id string, ok bool, err error) {
	return planNamed(ctx, d.pool, name)
}

func planNamed(ctx context.Context, q querier, name string) (id string, ok bool, err error) {
	err = q.QueryRow(ctx, `SELECT id FROM plans WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("plan named %q: %w", name, err)
	}
	return id, true, nil
}

// planTables are the tables that hold a plan's parts, by plan_id, besides
// plans itself.
var planTables = []string{"plan_changes", "plan_operations", "plan_unchanged", "plan_unchanged_marks", "plan_fields",
	"plan_change_tokens", "plan_parts", "plan_approvals", "plan_mappings"}

// DiscardPlan deletes whatever a failed plan left behind.
func (d *DB) DiscardPlan(ctx context.Context, id string) error {
	d.takeDiffs(id)
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		for _, t := range append(slices.Clone(planTables), "plans") {
			col := "plan_id"
			if t == "plans" {
				col = "id"
			}
			if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE `+col+` = $1`, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("discard plan %s: %w", id, err)
	}
	return nil
}

// LatestPlan returns the id and status of the newest plan, which is the
// only one apply takes by default.
func (d *DB) LatestPlan(ctx context.Context) (id string, status plan.Status, err error) {
	var st string
	err = d.pool.QueryRow(ctx, `SELECT id, status FROM plans ORDER BY created_at DESC, id`+byteOrder+` DESC LIMIT 1`).Scan(&id, &st)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", fmt.Errorf("%w: no plan has been made yet; run coupler plan first", state.ErrNoPlan)
	}
	if err != nil {
		return "", "", fmt.Errorf("latest plan: %w", err)
	}
	return id, plan.Status(st), nil
}

// SetPlanStatus moves a plan to status, but only from one of the statuses
// in from. It is one UPDATE whose condition PostgreSQL checks again on the
// row it locked, so that of two processes moving one plan from planned to
// applying, one moves it and the other is refused.
func (d *DB) SetPlanStatus(ctx context.Context, id string, to plan.Status, from ...plan.Status) error {
	froms := make([]string, len(from))
	for i, f := range from {
		froms[i] = string(f)
	}
	tag, err := d.pool.Exec(ctx, `UPDATE plans SET applied_at = CASE WHEN $1::boolean THEN $2::timestamptz ELSE applied_at END, status = $3
		WHERE id = $4 AND status = ANY($5)`, to == plan.Applying, time.Now().UTC(), string(to), id, froms)
	if err != nil {
		return fmt.Errorf("plan %s: set status %s: %w", id, to, err)
	}
	if tag.RowsAffected() == 0 {
		var have string
		if err := d.pool.QueryRow(ctx, `SELECT status FROM plans WHERE id = $1`, id).Scan(&have); err != nil {
			return fmt.Errorf("%w: %s", state.ErrNoPlan, id)
		}
		return fmt.Errorf("plan %s is %s, not %v", id, have, from)
	}
	return nil
}

// MarkInterrupted moves every plan still applying to plan.Interrupted and
// returns their ids. Call it only while no apply can be running on this
// state: under LockWrites, whose advisory lock every process takes. Its
// applied_at stays, since staleness checks compare it.
func (d *DB) MarkInterrupted(ctx context.Context) ([]string, error) {
	rows, err := d.pool.Query(ctx, `UPDATE plans SET status = 'interrupted' WHERE status = 'applying' RETURNING id`)
	if err != nil {
		return nil, fmt.Errorf("mark interrupted plans: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("mark interrupted plans: %w", err)
	}
	return ids, nil
}

// AppliedSince returns a plan that shares a mapping with plan id and whose
// apply began after plan id was made, and that mapping; "" when none.
func (d *DB) AppliedSince(ctx context.Context, id string) (other, mapping string, err error) {
	err = d.pool.QueryRow(ctx, `SELECT p2.id, m2.mapping FROM plans p
		JOIN plan_mappings m ON m.plan_id = p.id
		JOIN plan_mappings m2 ON m2.mapping = m.mapping AND m2.plan_id <> p.id
		JOIN plans p2 ON p2.id = m2.plan_id
		WHERE p.id = $1 AND p2.status IN ('applying', 'interrupted', 'applied') AND p2.applied_at >= p.created_at
		ORDER BY p2.applied_at LIMIT 1`, id).Scan(&other, &mapping)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("plans applied since plan %s: %w", id, err)
	}
	return other, mapping, nil
}

// AppliedAfter returns a plan sharing a mapping with plan id whose apply
// began after plan id's apply began; "" when none.
func (d *DB) AppliedAfter(ctx context.Context, id string) (other string, err error) {
	err = d.pool.QueryRow(ctx, `SELECT p2.id FROM plans p
		JOIN plan_mappings m ON m.plan_id = p.id
		JOIN plan_mappings m2 ON m2.mapping = m.mapping AND m2.plan_id <> p.id
		JOIN plans p2 ON p2.id = m2.plan_id
		WHERE p.id = $1 AND p2.status IN ('applying', 'interrupted', 'applied') AND p2.applied_at > p.applied_at
		ORDER BY p2.applied_at LIMIT 1`, id).Scan(&other)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("plans applied after plan %s: %w", id, err)
	}
	return other, nil
}

// BindSets returns, per destination field of a part that writes lookups
// as references, the entity set the reference points into.
func (d *DB) BindSets(ctx context.Context, part state.Part) (map[string]string, error) {
	m, err := d.stringMap(ctx, `SELECT field, bind_set FROM plan_fields WHERE plan_id = $1 AND mapping = $2 AND direction = $3 AND bind_set IS NOT NULL`,
		part.PlanID, part.Mapping, part.Direction)
	if err != nil {
		return nil, fmt.Errorf("fields of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	return m, nil
}

// LoadPlan reads a saved plan, named by its id or its name. It lists at
// most limit operations per part (negative: all) of the kinds given (none:
// the writes, conflicts, failures and skipped records); the rest are
// counted in Omitted.
func (d *DB) LoadPlan(ctx context.Context, id string, limit int, kinds ...plan.Kind) (*plan.Plan, error) {
	p := &plan.Plan{ID: id}
	var status string
	err := d.pool.QueryRow(ctx, `SELECT id, created_at, full_read, fingerprint, status, coalesce(name, '') FROM plans
		WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC LIMIT 1`, id).
		Scan(&p.ID, &p.CreatedAt, &p.Full, &p.Fingerprint, &status, &p.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", state.ErrNoPlan, id)
	}
	if err != nil {
		return nil, fmt.Errorf("load plan %s: %w", id, err)
	}
	id = p.ID
	p.CreatedAt = p.CreatedAt.UTC()
	p.Status = plan.Status(status)
	if err := d.loadParts(ctx, p); err != nil {
		return nil, fmt.Errorf("load plan %s: %w", id, err)
	}
	if p.Approved, err = d.approval(ctx, id); err != nil {
		return nil, err
	}
	if err := state.LoadOperations(ctx, d, p, limit, kinds...); err != nil {
		return nil, err
	}
	return p, nil
}

// loadParts reads a plan's parts, in the order it was saved with, with
// their change tracking and kept definitions.
func (d *DB) loadParts(ctx context.Context, p *plan.Plan) error {
	rows, err := d.pool.Query(ctx, `SELECT m.mapping, m.direction, m.source_side, m.source_connector, m.source_entity, m.source_key, m.source_modified,
		m.dest_side, m.dest_connector, m.dest_entity, m.dest_key, m.dest_modified, m.since, m.read_started, m.new_watermark, m.records_read, m.not_modified,
		coalesce(m.record, ''), m.dest_read, m.coupled, coalesce(m.warnings, ''), coalesce(m.needs_approval, ''),
		coalesce(t.mode, ''), coalesce(t.base_token, ''), coalesce(t.new_token, ''), coalesce(t.removed, 0),
		coalesce(d.fingerprint, ''), coalesce(d.changed, false), coalesce(d.creates_into_existing, false)
		FROM plan_mappings m
		LEFT JOIN plan_change_tokens t ON t.plan_id = m.plan_id AND t.mapping = m.mapping AND t.direction = m.direction
		LEFT JOIN plan_parts d ON d.plan_id = m.plan_id AND d.mapping = m.mapping AND d.direction = m.direction
		WHERE m.plan_id = $1 ORDER BY m.position`, p.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		m := &plan.MappingPlan{}
		var since, wm *time.Time
		var warnings, approval, mode string
		if err := rows.Scan(&m.Name, &m.Direction, &m.Source.Side, &m.Source.Connector, &m.Source.Entity, &m.Source.Key, &m.Source.Modified,
			&m.Dest.Side, &m.Dest.Connector, &m.Dest.Entity, &m.Dest.Key, &m.Dest.Modified, &since, &m.ReadStarted, &wm, &m.Read, &m.NotModified,
			&m.Record, &m.DestRead, &m.Coupled, &warnings, &approval,
			&mode, &m.BaseChangeToken, &m.NewChangeToken, &m.Removed,
			&m.Definition, &m.DefinitionChanged, &m.CreatesIntoExisting); err != nil {
			return err
		}
		m.Since, m.NewWatermark, m.ReadStarted = utc(since), utc(wm), m.ReadStarted.UTC()
		m.ChangeTracking = plan.ChangeRead(mode)
		if warnings != "" {
			m.Warnings = strings.Split(warnings, "\n")
		}
		if approval != "" {
			m.NeedsApproval = strings.Split(approval, "\n")
		}
		p.Mappings = append(p.Mappings, m)
	}
	return rows.Err()
}

// utc is *t in UTC, or the zero time for NULL.
func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// PlanBase returns the source watermark each part of a plan started from,
// keyed by state.WatermarkKey (absent when there was none).
func (d *DB) PlanBase(ctx context.Context, id string) (map[string]time.Time, error) {
	rows, err := d.pool.Query(ctx, `SELECT mapping || '/' || source_side, base_watermark FROM plan_mappings WHERE plan_id = $1 AND base_watermark IS NOT NULL`, id)
	if err != nil {
		return nil, fmt.Errorf("watermarks plan %s started from: %w", id, err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var key string
		var t time.Time
		if err := rows.Scan(&key, &t); err != nil {
			return nil, err
		}
		out[key] = t.UTC()
	}
	return out, rows.Err()
}

// operationsPage is how many operations Operations reads at a time: a
// part of 100,000 records is streamed in pages rather than held whole,
// and fn runs between pages, on no connection, free to use the state.
const operationsPage = 2000

// Operations streams the operations of one part of a plan with seq after
// afterSeq, in seq order, at most limit of them (negative: all), of the
// given kinds, with their field changes.
func (d *DB) Operations(ctx context.Context, part state.Part, afterSeq int64, limit int, kinds []plan.Kind, fn func(plan.Operation) error) error {
	ks := make([]string, len(kinds))
	for i, k := range kinds {
		ks[i] = string(k)
	}
	for limit != 0 {
		n := operationsPage
		if limit > 0 && limit < n {
			n = limit
		}
		ops, err := d.operationsAfter(ctx, part, afterSeq, n, ks)
		if err != nil {
			return err
		}
		for _, o := range ops {
			if err := fn(o); err != nil {
				return err
			}
		}
		if len(ops) < n {
			return nil
		}
		afterSeq = ops[len(ops)-1].Seq
		if limit > 0 {
			limit -= len(ops)
		}
	}
	return nil
}

// operationsAfter reads one page of Operations: at most n operations of
// a part after afterSeq, then their changes by the range of seqs.
func (d *DB) operationsAfter(ctx context.Context, part state.Part, afterSeq int64, n int, kinds []string) ([]plan.Operation, error) {
	rows, err := d.pool.Query(ctx, `SELECT seq, op, source_id, coalesce(dest_id, ''), coalesce(etag, ''), coalesce(source_etag, ''), source_modified,
			coalesce(reason, ''), source_display, dest_display
		FROM plan_operations WHERE plan_id = $1 AND mapping = $2 AND direction = $3 AND seq > $4 AND op = ANY($5) ORDER BY seq LIMIT $6`,
		part.PlanID, part.Mapping, part.Direction, afterSeq, kinds, n)
	if err != nil {
		return nil, fmt.Errorf("operations of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	var ops []plan.Operation
	for rows.Next() {
		var o plan.Operation
		var op string
		var modified *time.Time
		var srcShow, dstShow *string
		if err := rows.Scan(&o.Seq, &op, &o.SourceID, &o.DestID, &o.ETag, &o.SourceETag, &modified, &o.Reason, &srcShow, &dstShow); err != nil {
			rows.Close()
			return nil, fmt.Errorf("operations of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
		}
		o.Kind, o.SourceModified = plan.Kind(op), utc(modified)
		if o.SourceDisplay, err = parseDisplay(srcShow); err == nil {
			o.DestDisplay, err = parseDisplay(dstShow)
		}
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("operations of plan %s, mapping %s, record %s: display: %w", part.PlanID, part.Mapping, o.SourceID, err)
		}
		ops = append(ops, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("operations of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	if len(ops) == 0 {
		return nil, nil
	}
	index := make(map[int64]int, len(ops))
	for i, o := range ops {
		index[o.Seq] = i
	}
	rows, err = d.pool.Query(ctx, `SELECT seq, field, before, after FROM plan_changes
		WHERE plan_id = $1 AND mapping = $2 AND direction = $3 AND seq > $4 AND seq <= $5 ORDER BY seq, field`+byteOrder,
		part.PlanID, part.Mapping, part.Direction, afterSeq, ops[len(ops)-1].Seq)
	if err != nil {
		return nil, fmt.Errorf("changes of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var field string
		var before, after *string
		if err := rows.Scan(&seq, &field, &before, &after); err != nil {
			return nil, fmt.Errorf("changes of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
		}
		// Changes of operations of kinds not asked for share the range.
		if i, ok := index[seq]; ok {
			ops[i].Changes = append(ops[i].Changes, plan.Change{Field: field, Before: rawJSON(before), After: rawJSON(after)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("changes of plan %s, mapping %s: %w", part.PlanID, part.Mapping, err)
	}
	return ops, nil
}

// rawJSON is a change's value as saved, JSON text; nil for NULL.
func rawJSON(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	return json.RawMessage(*s)
}

// Counts returns how many operations of each kind a part has, every kind
// present, the unchanged records counted in plan_unchanged included.
func (d *DB) Counts(ctx context.Context, part state.Part) (plan.Counts, error) {
	rows, err := d.pool.Query(ctx, `SELECT op, count(*) FROM plan_operations WHERE plan_id = $1 AND mapping = $2 AND direction = $3 GROUP BY op
		UNION ALL SELECT 'unchanged', records FROM plan_unchanged WHERE plan_id = $1 AND mapping = $2 AND direction = $3`,
		part.PlanID, part.Mapping, part.Direction)
	if err != nil {
		return nil, fmt.Errorf("count operations of mapping %s: %w", part.Mapping, err)
	}
	counts := plan.Counts{}
	for _, k := range plan.Kinds {
		counts[k] = 0
	}
	if err := addCounts(rows, counts); err != nil {
		return nil, fmt.Errorf("count operations of mapping %s: %w", part.Mapping, err)
	}
	return counts, nil
}

// addCounts adds rows of a kind and a count to counts, and closes rows.
func addCounts(rows pgx.Rows, counts plan.Counts) error {
	defer rows.Close()
	for rows.Next() {
		var op string
		var n int64
		if err := rows.Scan(&op, &n); err != nil {
			return err
		}
		counts[plan.Kind(op)] += n
	}
	return rows.Err()
}

// PlannedCouplings returns the ids on one side of mapping (the table side
// when tableSide) that will have a coupling once plan planID is applied,
// whichever of the mapping's passes makes it, as the DuckDB state's
// PlannedCouplings explains.
func (d *DB) PlannedCouplings(ctx context.Context, planID, mapping string, tableSide bool) (map[string]bool, error) {
	fromSide, toSide := "to_integration", "from_integration"
	if !tableSide {
		fromSide, toSide = toSide, fromSide
	}
	rows, err := d.pool.Query(ctx, `
		SELECT source_id, false FROM plan_operations
		WHERE plan_id = $1 AND mapping = $2 AND direction = $3 AND op IN ('create', 'couple', 'restore')
		UNION ALL
		SELECT dest_id, false FROM plan_operations
		WHERE plan_id = $1 AND mapping = $2 AND direction = $4 AND op = 'couple' AND dest_id IS NOT NULL
		UNION ALL
		SELECT c.after, true FROM plan_operations o
		JOIN plan_mappings m ON m.plan_id = o.plan_id AND m.mapping = o.mapping AND m.direction = o.direction
		JOIN plan_changes c ON c.plan_id = o.plan_id AND c.mapping = o.mapping AND c.direction = o.direction
			AND c.seq = o.seq AND c.field = m.dest_key
		WHERE o.plan_id = $1 AND o.mapping = $2 AND o.direction = $4 AND o.op = 'create' AND c.after IS NOT NULL`,
		planID, mapping, fromSide, toSide)
	if err != nil {
		return nil, fmt.Errorf("records planned for mapping %s: %w", mapping, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		var written bool
		if err := rows.Scan(&id, &written); err != nil {
			return nil, fmt.Errorf("records planned for mapping %s: %w", mapping, err)
		}
		if written {
			// A written key is JSON text; only a text key can be a
			// lookup's id.
			var s string
			if json.Unmarshal([]byte(id), &s) != nil {
				continue
			}
			id = s
		}
		out[id] = true
	}
	return out, rows.Err()
}

// Plans lists saved plans, newest first, at most limit of them (negative:
// all), with the count of each kind of operation they hold.
func (d *DB) Plans(ctx context.Context, limit int) ([]state.PlanSummary, error) {
	var lim any
	if limit >= 0 {
		lim = limit
	}
	rows, err := d.pool.Query(ctx, `SELECT p.id, coalesce(p.name, ''), p.created_at, p.status,
			(SELECT string_agg(DISTINCT mapping COLLATE "C", ', ' ORDER BY mapping COLLATE "C") FROM plan_mappings m WHERE m.plan_id = p.id),
			coalesce((SELECT bool_or(coalesce(needs_approval, '') <> '') FROM plan_mappings m WHERE m.plan_id = p.id), false),
			coalesce((SELECT sum(not_modified)::bigint FROM plan_mappings m WHERE m.plan_id = p.id), 0),
			a.approved_by, a.approved_at
		FROM plans p LEFT JOIN plan_approvals a ON a.plan_id = p.id
		ORDER BY p.created_at DESC, p.id`+byteOrder+` DESC LIMIT $1`, lim)
	if err != nil {
		return nil, fmt.Errorf("list plans: %w", err)
	}
	var out []state.PlanSummary
	for rows.Next() {
		var s state.PlanSummary
		var status string
		var maps, by *string
		var at *time.Time
		if err := rows.Scan(&s.ID, &s.Name, &s.CreatedAt, &status, &maps, &s.NeedsApproval, &s.NotModified, &by, &at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list plans: %w", err)
		}
		s.CreatedAt, s.Status = s.CreatedAt.UTC(), plan.Status(status)
		if by != nil {
			s.Approved = &plan.Approval{By: *by, At: utc(at)}
		}
		if maps != nil {
			s.Mappings = strings.Split(*maps, ", ")
		}
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list plans: %w", err)
	}
	for i := range out {
		out[i].Counts = plan.Counts{}
		rows, err := d.pool.Query(ctx, `SELECT op, count(*) FROM plan_operations WHERE plan_id = $1 GROUP BY op
			UNION ALL SELECT 'unchanged', sum(records)::bigint FROM plan_unchanged WHERE plan_id = $1 HAVING count(*) > 0`, out[i].ID)
		if err != nil {
			return nil, fmt.Errorf("count operations of plan %s: %w", out[i].ID, err)
		}
		if err := addCounts(rows, out[i].Counts); err != nil {
			return nil, fmt.Errorf("count operations of plan %s: %w", out[i].ID, err)
		}
	}
	return out, nil
}

// PrunePlans removes saved plans made before olderThan, except the newest
// keep plans, interrupted plans that apply can still resume (no later plan
// was applied over their mappings) and plans with writes in flight, all in
// one transaction; the run log keeps its runs. It also removes the rows of
// plans that were never saved, so it must not run while a plan is being
// saved on this state (SaveDiff before SavePlan): under LockWrites, as
// coupler prune does.
func (d *DB) PrunePlans(ctx context.Context, olderThan time.Time, keep int) (state.PruneResult, error) {
	var res state.PruneResult
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE prune_victims ON COMMIT DROP AS
			SELECT id FROM (SELECT id, status, created_at, applied_at, row_number() OVER (ORDER BY created_at DESC, id`+byteOrder+` DESC) AS rank FROM plans) p
			WHERE rank > $1 AND created_at < $2
			  AND id NOT IN (SELECT plan_id FROM write_intents)
			  -- an interrupted plan stays while apply can resume it: until a
			  -- later plan is applied over one of its mappings (AppliedAfter)
			  AND (status NOT IN ('applying', 'interrupted') OR EXISTS (SELECT 1 FROM plan_mappings m
			        JOIN plan_mappings m2 ON m2.mapping = m.mapping AND m2.plan_id <> m.plan_id
			        JOIN plans p2 ON p2.id = m2.plan_id
			        WHERE m.plan_id = p.id AND p2.status IN ('applying', 'interrupted', 'applied') AND p2.applied_at > p.applied_at))`,
			keep, olderThan.UTC()); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM prune_victims),
			(SELECT count(*) FROM plan_operations WHERE plan_id NOT IN (SELECT id FROM plans))`).Scan(&res.Plans, &res.Orphans); err != nil {
			return err
		}
		for _, t := range planTables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE plan_id IN (SELECT id FROM prune_victims) OR plan_id NOT IN (SELECT id FROM plans)`); err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM plans WHERE id IN (SELECT id FROM prune_victims)`)
		return err
	})
	if err != nil {
		return state.PruneResult{}, fmt.Errorf("prune plans: %w", err)
	}
	return res, nil
}

// Approve records that by approved plan id at at, unless someone has
// already: the first approval stands, whichever process made it. It
// returns the approval that stands.
func (d *DB) Approve(ctx context.Context, id, by string, at time.Time) (*plan.Approval, error) {
	if _, err := d.pool.Exec(ctx, `INSERT INTO plan_approvals VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, id, by, at.UTC()); err != nil {
		return nil, fmt.Errorf("approve plan %s: %w", id, err)
	}
	a, err := d.approval(ctx, id)
	if err == nil && a == nil {
		err = fmt.Errorf("approve plan %s: the approval was not recorded", id)
	}
	return a, err
}

// approval returns who approved plan id and when; nil when nobody has.
func (d *DB) approval(ctx context.Context, id string) (*plan.Approval, error) {
	a := &plan.Approval{}
	err := d.pool.QueryRow(ctx, `SELECT approved_by, approved_at FROM plan_approvals WHERE plan_id = $1`, id).Scan(&a.By, &a.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("approval of plan %s: %w", id, err)
	}
	a.At = a.At.UTC()
	return a, nil
}

// ListedUnchanged counts the unchanged records a part of a plan lists one
// by one (state.OperationReader): those of a plan copied from a DuckDB
// state saved before its schema version 8.
func (d *DB) ListedUnchanged(ctx context.Context, part state.Part) (int64, error) {
	var n int64
	if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM plan_operations WHERE plan_id = $1 AND mapping = $2 AND direction = $3 AND op = 'unchanged'`,
		part.PlanID, part.Mapping, part.Direction).Scan(&n); err != nil {
		return 0, fmt.Errorf("count operations of mapping %s: %w", part.Mapping, err)
	}
	return n, nil
}
