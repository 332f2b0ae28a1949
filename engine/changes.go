package engine

// Change tracking: a mapping side declared with changes: track is read
// through the connector's connectors.ChangeTracker instead of by modified-on.
// The first plan reads every record and keeps the token the service hands
// out (a delta link); later plans read only what changed since, deletions
// included; the token is state like a watermark, stored by apply when the
// run ends.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// changeReads are the delta reads of one plan, by mapping and side. A delta
// read is made once per plan, when the first pass needs it: the pass that
// reads the side stages its records and plans its deletions, and the other
// pass of a bidirectional mapping applies the deletion policy to the
// records whose counterpart was deleted, as a full read would have it.
type changeReads map[string]*changeRead

// changeRead is a delta read: what changed on a side since a token.
type changeRead struct {
	records []connectors.Record
	removed []string // keys, normalized
	next    string   // the token after this read
	date    time.Time
	// expired is set, and the rest empty, when the service no longer knew
	// the token: the pass that reads the side reads everything again.
	expired error
}

// sourceChanges is how a pass whose source is tracked reads it.
type sourceChanges struct {
	tracker connectors.ChangeTracker
	mode    plan.ChangeRead
	delta   *changeRead // for plan.ChangesDelta
	next    string      // the token a start or restart read ends with
}

// isDelta reports whether the source is read as a delta: an incremental
// read, whatever the watermark.
func (sc *sourceChanges) isDelta() bool { return sc != nil && sc.mode == plan.ChangesDelta }

// sideDef is the mapping's declaration of one side.
func (m *Mapping) sideDef(side string) mappings.Side {
	if side == plan.SideTable {
		return m.Def.Table
	}
	return m.Def.Integration
}

// tracker returns the change tracking capability of the connector of a
// side declared with changes: track.
func (e *Engine) tracker(m *Mapping, s Side) (connectors.ChangeTracker, error) {
	c, err := e.connector(s.Connector)
	if err != nil {
		return nil, err
	}
	ct, ok := c.(connectors.ChangeTracker)
	if !ok {
		return nil, fmt.Errorf("%s side: changes: track, but connector %s cannot read through change tracking", s.Name, s.Connector)
	}
	return ct, nil
}

// sourceChanges decides how pass m reads a source declared with changes:
// track: every record (start) on a full plan or without a token, the delta
// since the token otherwise, and every record again (restart, with a
// warning) when the service no longer knows the token. It returns nil for
// a source read by modified-on, and for match-only plans, which leave the
// token where it is.
func (e *Engine) sourceChanges(ctx context.Context, m *Mapping, opts PlanOptions, reads changeReads, mp *plan.MappingPlan) (*sourceChanges, error) {
	if !m.sideDef(m.Source.Name).Tracks() || opts.MatchOnly {
		return nil, nil
	}
	ct, err := e.tracker(m, m.Source)
	if err != nil {
		return nil, err
	}
	sc := &sourceChanges{tracker: ct, mode: plan.ChangesStart}
	token, has, err := e.store.ChangeToken(ctx, m.Name, m.Source.Name)
	if err != nil {
		return nil, err
	}
	mp.BaseChangeToken = token
	if has && !opts.Full {
		cr, err := e.deltaRead(ctx, reads, m.Name, m.Source.Name, token)
		if err != nil {
			return nil, err
		}
		if cr.expired != nil {
			sc.mode = plan.ChangesRestart
			e.log.Warn("change tracking token expired: reading every record", "mapping", m.Name, "side", m.Source.Name, "err", cr.expired)
		} else {
			sc.mode, sc.delta = plan.ChangesDelta, cr
			mp.Removed = int64(len(cr.removed))
		}
	}
	mp.ChangeTracking = sc.mode
	if !sc.isDelta() {
		mp.Since = time.Time{}
	}
	return sc, nil
}

// deltaRead returns the plan's delta read of a mapping's side from token,
// reading it the first time. The records are those the pass reading the
// side selects.
func (e *Engine) deltaRead(ctx context.Context, reads changeReads, mapping, side, token string) (*changeRead, error) {
	key := state.WatermarkKey(mapping, side)
	if cr, ok := reads[key]; ok {
		return cr, nil
	}
	var reader *Mapping
	for _, p := range e.prog.Passes(mapping) {
		if p.Source.Name == side {
			reader = p
		}
	}
	if reader == nil {
		return nil, fmt.Errorf("%s side: no pass reads it", side)
	}
	ct, err := e.tracker(reader, reader.Source)
	if err != nil {
		return nil, err
	}
	cr := &changeRead{}
	at := map[string]int{} // a record changed twice during the read comes twice: the last wins
	q := connectors.ChangesQuery{Entity: reader.Source.Entity, Fields: reader.Source.Select, Token: token}
	next, err := ct.Changes(ctx, q, func(p connectors.ChangePage) error {
		if !p.Date.IsZero() && (cr.date.IsZero() || p.Date.Before(cr.date)) {
			cr.date = p.Date
		}
		for _, rec := range p.Records {
			k, err := recordKey(rec, q.Entity.Key)
			if err != nil {
				return err
			}
			if i, ok := at[k]; ok {
				cr.records[i] = rec
				continue
			}
			at[k] = len(cr.records)
			cr.records = append(cr.records, rec)
		}
		for _, k := range p.Removed {
			cr.removed = append(cr.removed, normalizeID(k))
		}
		return nil
	})
	switch {
	case errors.Is(err, connectors.ErrTokenExpired):
		cr = &changeRead{expired: err}
	case err != nil:
		return nil, fmt.Errorf("read %s %s through change tracking: %w", reader.Source.Connector, q.Entity.Name, err)
	default:
		cr.next = next
	}
	reads[key] = cr
	return cr, nil
}

// stageChanges stages the source of a pass read through change tracking:
// the delta's records, or every record through the tracker, keeping the
// token the read ends with.
func (e *Engine) stageChanges(ctx context.Context, m *Mapping, sc *sourceChanges, lookups Lookups) (n int64, answered time.Time, err error) {
	if sc.isDelta() {
		n, err = e.stageSourceFrom(ctx, m, lookups, func(fn func(connectors.Page) error) error {
			return fn(connectors.Page{Records: sc.delta.records})
		}, nil)
		return n, sc.delta.date, err
	}
	// No filter is pushed down: Dataverse refuses a filter with change
	// tracking, and coupler evaluates the whole filter anyway.
	q := connectors.ChangesQuery{Entity: m.Source.Entity, Fields: m.Source.Select}
	n, err = e.stageSourceFrom(ctx, m, lookups, func(fn func(connectors.Page) error) error {
		next, err := sc.tracker.Changes(ctx, q, func(p connectors.ChangePage) error {
			if !p.Date.IsZero() && (answered.IsZero() || p.Date.Before(answered)) {
				answered = p.Date
			}
			return fn(connectors.Page{Records: p.Records})
		})
		sc.next = next
		return err
	}, nil)
	return n, answered, err
}

// removedCounterparts returns the destination ids coupled to the source
// records a delta read reported deleted: read with the destination so that
// their deletion is conditional on the version read.
func (e *Engine) removedCounterparts(ctx context.Context, m *Mapping, sc *sourceChanges) ([]string, error) {
	if !sc.isDelta() || !m.Def.PropagateDeletes || len(sc.delta.removed) == 0 {
		return nil, nil
	}
	coupled, err := e.store.AlreadyCoupled(ctx, m.Name, m.SourceIsTable, sc.delta.removed)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(coupled))
	for _, src := range sc.delta.removed {
		if dst, ok := coupled[src]; ok {
			ids = append(ids, dst)
		}
	}
	return ids, nil
}

// planRemoved plans the deletions a delta read reported, for a mapping that
// propagates deletes: each coupled record the source no longer has (checked
// by key: a record deleted and made again is not deleted) has its
// destination record deleted. Without propagate_deletes, the other pass of
// a bidirectional mapping applies conflicts.delete (counterpartReader).
func (e *Engine) planRemoved(ctx context.Context, src connectors.Connector, m *Mapping, sc *sourceChanges, part state.Part) error {
	if !sc.isDelta() || !m.Def.PropagateDeletes || len(sc.delta.removed) == 0 {
		return nil
	}
	coupled, err := e.store.AlreadyCoupled(ctx, m.Name, m.SourceIsTable, sc.delta.removed)
	if err != nil {
		return err
	}
	var ids []string
	for _, id := range sc.delta.removed {
		if _, ok := coupled[id]; ok {
			ids = append(ids, id)
		}
	}
	return e.planGone(ctx, src, m, part, ids)
}

// counterpartReader is, for a pass whose destination side is tracked and
// read as a delta in this plan, the source connector with the records whose
// counterpart the delta reports deleted added to an incremental read: the
// diff then finds their destination missing and applies the mapping's
// conflicts.delete (restore, remove_coupling, or a failure), as a full read
// would. With propagate_deletes the other pass deletes them instead.
func (e *Engine) counterpartReader(ctx context.Context, src connectors.Connector, m *Mapping, opts PlanOptions, reads changeReads) (connectors.Connector, error) {
	if opts.Full || opts.MatchOnly || m.Def.PropagateDeletes || m.Def.Direction != mappings.Bidirectional || !m.sideDef(m.Dest.Name).Tracks() {
		return src, nil
	}
	token, has, err := e.store.ChangeToken(ctx, m.Name, m.Dest.Name)
	if err != nil || !has {
		return src, err
	}
	cr, err := e.deltaRead(ctx, reads, m.Name, m.Dest.Name, token)
	if err != nil || cr.expired != nil || len(cr.removed) == 0 {
		return src, err
	}
	// The deleted records are this pass's destination records.
	coupled, err := e.store.AlreadyCoupled(ctx, m.Name, !m.SourceIsTable, cr.removed)
	if err != nil || len(coupled) == 0 {
		return src, err
	}
	ids := make([]string, 0, len(coupled))
	for _, id := range cr.removed {
		if other, ok := coupled[id]; ok {
			ids = append(ids, other)
		}
	}
	return plusRecords{Connector: src, ids: ids}, nil
}

// plusRecords is a connector whose Read also returns the records ids name
// that the read itself did not.
type plusRecords struct {
	connectors.Connector
	ids []string
}

// Read reads q, then the records of ids it did not return, by key.
func (p plusRecords) Read(ctx context.Context, q connectors.Query, fn func(connectors.Page) error) error {
	seen := map[string]bool{}
	err := p.Connector.Read(ctx, q, func(pg connectors.Page) error {
		for _, rec := range pg.Records {
			if k, err := recordKey(rec, q.Entity.Key); err == nil {
				seen[k] = true
			}
		}
		return fn(pg)
	})
	if err != nil {
		return err
	}
	var want []string
	for _, id := range p.ids {
		if !seen[id] {
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		return nil
	}
	recs, err := p.Connector.Get(ctx, q.Entity, q.Fields, want)
	if err != nil {
		return fmt.Errorf("read the records whose counterpart was deleted: %w", err)
	}
	return fn(connectors.Page{Records: recs})
}

// finish records what a pass read through change tracking proposes:
// the token apply stores when the run ends, and the plan's warnings.
func (sc *sourceChanges) finish(mp *plan.MappingPlan, propagates bool) {
	if sc == nil {
		return
	}
	switch sc.mode {
	case plan.ChangesDelta:
		mp.NewChangeToken = sc.delta.next
	default:
		mp.NewChangeToken = sc.next
	}
	if sc.mode == plan.ChangesRestart {
		w := "change tracking: the service no longer knew the point the last run read up to (an expired delta link): every record was read again and tracking restarts"
		if propagates {
			w += "; records deleted at the source since were looked for among the coupled records (propagate_deletes)"
		} else {
			w += "; records deleted at the source since are found by a full plan (coupler plan --full)"
		}
		mp.Warnings = append(mp.Warnings, w)
	}
}

// nextChangeToken is the token apply stores when a run of m ends: the
// plan's, unless a record failed and must be read again, which a token
// (unlike a watermark) cannot be held back to; then the token stays, and
// the next plan reads the same changes again.
func (e *Engine) nextChangeToken(ctx context.Context, runID int64, part state.Part, m *plan.MappingPlan) (string, error) {
	if m.NewChangeToken == "" {
		return "", nil
	}
	failed, err := e.store.RunFailed(ctx, runID, part)
	if err != nil || !failed {
		return m.NewChangeToken, err
	}
	e.log.Info("change tracking token kept: a record failed and is read again by the next plan", "mapping", m.Name, "direction", m.Direction)
	return "", nil
}

// checkChangeTokens refuses a plan whose change tracking tokens moved since
// it was made (another apply, a retry or a reset).
func (e *Engine) checkChangeTokens(ctx context.Context, p *plan.Plan) error {
	for _, m := range p.Mappings {
		if m.ChangeTracking == "" {
			continue
		}
		now, _, err := e.store.ChangeToken(ctx, m.Name, m.Source.Side)
		if err != nil {
			return err
		}
		if now != m.BaseChangeToken {
			return fmt.Errorf("%w: the change tracking of mapping %s moved after plan %s was made; run coupler plan again", ErrStalePlan, m.Name, p.ID)
		}
	}
	return nil
}
