package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
	"github.com/couplerhq/coupler/mappings"
)

// PlanOptions selects what to plan.
type PlanOptions struct {
	// Mappings limits the plan to these mappings; empty plans all.
	Mappings []string
	// Full reads every record instead of only those modified since the
	// watermark.
	Full bool
	// Record, with exactly one mapping, plans only the coupled record with
	// this id (on either side), whatever the watermarks say; the watermarks
	// do not move.
	Record string
	// Prefer settles an update conflict of that record: "table" or
	// "integration" wins.
	Prefer string
	// Name, when set, names the saved plan, to show or apply it by name
	// (CheckPlanName says which names are refused).
	Name string
	// ReplaceName lets Name be one another plan has: that plan keeps its
	// id and loses the name. Without it a name taken is an error, found
	// before anything is read.
	ReplaceName bool
	// MatchOnly plans match-based coupling only, over full reads: uncoupled
	// records are coupled to their match (or created, with
	// create_if_no_match); coupled ones are left alone.
	MatchOnly bool
}

// readSince is where an incremental read of m's source starts: the
// watermark less the source connector's watermark_overlap (one second by
// default: systems stamp modified-on in whole seconds, so a record written
// in the same second as the last one read must not be missed). The diff
// finds re-read records unchanged.
func (e *Engine) readSince(m *Mapping, wm time.Time) time.Time {
	return wm.Add(-e.overlap(m))
}

func (e *Engine) overlap(m *Mapping) time.Duration {
	return e.prog.Project.Connector(m.Source.Connector).Overlap()
}

// Plan reads both sides of each selected mapping, stages the rows, diffs
// them in the state database and saves the result as a plan. It writes
// nothing to either system.
func (e *Engine) Plan(ctx context.Context, opts PlanOptions) (_ *plan.Plan, err error) {
	defer func() { err = e.explain(err) }()
	if e.work == nil {
		return nil, errors.New("plan: the engine was opened to read the state only")
	}
	if err := e.checkPlanName(ctx, opts); err != nil {
		return nil, err
	}
	// Writes an interrupted apply left unsettled are settled first: a plan
	// made without knowing that a create happened would create it again.
	if err := e.Recover(ctx); err != nil {
		return nil, err
	}
	selected, err := e.selectMappings(opts.Mappings)
	if err != nil {
		return nil, err
	}
	if opts.MatchOnly {
		opts.Full = true
		for _, m := range selected {
			if len(m.MatchGroups) == 0 && (len(opts.Mappings) > 0) {
				return nil, fmt.Errorf("mapping %s declares no match fields", m.Name)
			}
		}
		selected = slices.DeleteFunc(slices.Clone(selected), func(m *Mapping) bool { return len(m.MatchGroups) == 0 })
		if len(selected) == 0 {
			return nil, fmt.Errorf("no mapping declares match fields")
		}
	}
	var record *state.Coupling
	if opts.Record != "" {
		if record, err = e.resolveRecord(ctx, opts); err != nil {
			return nil, err
		}
	}
	switch opts.Prefer {
	case "", "table", "integration":
	default:
		return nil, fmt.Errorf("prefer must be table or integration, not %q", opts.Prefer)
	}
	created := e.now().UTC()
	p := &plan.Plan{ID: newPlanID(created), Name: opts.Name, CreatedAt: created, Full: opts.Full,
		Fingerprint: e.inputs(selected), Status: plan.Planned}
	base := map[string]time.Time{}
	lookups := &couplingLookups{db: e.store, planned: e.work, planID: p.ID, maps: map[string]map[string]string{}}
	reads := changeReads{}
	// Leave no half-made plan behind, and no copy of both systems in the
	// staging tables; with a fresh context, since ctx may be why we stop.
	fail := func(err error) (*plan.Plan, error) {
		if state.OutOfMemory(err) {
			err = fmt.Errorf("%w (the state database's memory is bounded by staging: memory_limit in %s, %s here: raise it, or free room in its temp_directory %s)",
				err, mappings.ProjectFile, e.stagingLimit, e.prog.Project.Staging.TempDirectory)
		}
		cleanup := context.WithoutCancel(ctx)
		if derr := e.store.DiscardPlan(cleanup, p.ID); derr != nil {
			e.log.Warn("discard failed plan", "plan", p.ID, "err", derr)
		}
		e.forgetWorkspacePlan(cleanup, p.ID)
		if derr := e.work.DropStaging(cleanup); derr != nil {
			e.log.Warn("drop staging tables", "err", derr)
		}
		return nil, err
	}
	loaded := map[string]bool{}
	for _, m := range selected {
		if err := e.loadWorkspace(ctx, m.Name, loaded); err != nil {
			return fail(fmt.Errorf("mapping %s: %w", m.Name, err))
		}
		mp, err := e.planMapping(ctx, p.ID, m, opts, base, lookups, record, reads)
		if err != nil {
			return fail(fmt.Errorf("mapping %s: %w", m.Name, err))
		}
		p.Mappings = append(p.Mappings, mp)
	}
	if err := e.settleConflicts(ctx, p, opts.Prefer); err != nil {
		return fail(err)
	}
	if err := e.work.DropStaging(ctx); err != nil {
		e.log.Warn("drop staging tables", "err", err)
	}
	e.progress(Progress{Stage: "save"})
	if err := e.saveDiffs(ctx, p); err != nil {
		return fail(err)
	}
	if err := e.store.SavePlan(ctx, p, base, opts.ReplaceName); err != nil {
		return fail(err)
	}
	e.forgetWorkspacePlan(ctx, p.ID)
	return p, nil
}

// settleConflicts applies each bidirectional mapping's update-conflict
// policy to the records both of its passes would update, and recounts.
func (e *Engine) settleConflicts(ctx context.Context, p *plan.Plan, prefer string) error {
	passes := map[string]int{}
	for _, mp := range p.Mappings {
		passes[mp.Name]++
	}
	for name, n := range passes {
		if n < 2 {
			continue
		}
		spec := state.ConflictSpec{PlanID: p.ID, Mapping: name, Policy: e.prog.Project.Mapping(name).Conflicts.Update}
		switch prefer {
		case "table":
			spec.Policy, spec.By = mappings.UpdateSendToIntegration, "--prefer table"
		case "integration":
			spec.Policy, spec.By = mappings.UpdateGetFromIntegration, "--prefer integration"
		}
		for _, m := range e.prog.Passes(name) {
			if m.SourceIsTable {
				spec.TableConnector, spec.IntegrationConnector = m.Source.Connector, m.Dest.Connector
			}
			for _, f := range m.Fields {
				if !f.Both {
					continue
				}
				if m.SourceIsTable {
					spec.ToBoth = append(spec.ToBoth, f.Dest)
				} else {
					spec.FromBoth = append(spec.FromBoth, f.Dest)
				}
			}
		}
		if err := e.work.SettleConflicts(ctx, spec); err != nil {
			return err
		}
	}
	for _, mp := range p.Mappings {
		if passes[mp.Name] < 2 {
			continue
		}
		counts, err := e.work.Counts(ctx, state.Part{PlanID: p.ID, Mapping: mp.Name, Direction: mp.Direction})
		if err != nil {
			return err
		}
		mp.Counts = counts
	}
	return nil
}

// selectMappings returns the passes of the named mappings (all when none
// are named), in run order.
func (e *Engine) selectMappings(names []string) ([]*Mapping, error) {
	if len(names) == 0 {
		return e.prog.Mappings, nil
	}
	for _, n := range names {
		if e.prog.Project.Mapping(n) == nil {
			return nil, e.prog.unknownMapping(n)
		}
	}
	var out []*Mapping
	for _, m := range e.prog.Mappings {
		if slices.Contains(names, m.Name) {
			out = append(out, m)
		}
	}
	return out, nil
}

// resolveRecord finds the coupling of the record a per-record plan names.
func (e *Engine) resolveRecord(ctx context.Context, opts PlanOptions) (*state.Coupling, error) {
	if len(opts.Mappings) != 1 {
		return nil, fmt.Errorf("a record is synchronized in one mapping: name exactly one")
	}
	c, err := e.store.FindCoupling(ctx, opts.Mappings[0], normalizeID(opts.Record))
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("mapping %s: no coupled record has id %q on either side; couple it first (coupler couple)", opts.Mappings[0], opts.Record)
	}
	return c, nil
}

func (e *Engine) planMapping(ctx context.Context, planID string, m *Mapping, opts PlanOptions, base map[string]time.Time, lookups *couplingLookups, record *state.Coupling, reads changeReads) (*plan.MappingPlan, error) {
	full := opts.Full
	if record != nil {
		return e.planRecord(ctx, planID, m, base, lookups, record)
	}
	src, dst, wm, hasWM, err := e.preparePass(ctx, m, base, lookups)
	if err != nil {
		return nil, err
	}
	mp := &plan.MappingPlan{
		Name: m.Name, Direction: string(m.Direction),
		Source:      endpoint(m.Source),
		Dest:        endpoint(m.Dest),
		ReadStarted: e.now().UTC(),
	}
	if !opts.MatchOnly {
		if err := e.markDefinition(ctx, m, mp); err != nil {
			return nil, err
		}
	}
	if mp.DefinitionChanged {
		// An edited mapping reaches the records synced before the edit:
		// every record is read, and compared whether or not it changed
		// since its last sync.
		opts.Full, full = true, true
	}
	if hasWM && !full && m.Source.Entity.Modified != "" {
		mp.Since = e.readSince(m, wm)
	}
	if mp.Coupled, err = e.store.CouplingCount(ctx, m.Name); err != nil {
		return nil, err
	}
	// A source read through change tracking (changes.go).
	sc, err := e.sourceChanges(ctx, m, opts, reads, mp)
	if err != nil {
		return nil, err
	}
	if !mp.Since.IsZero() {
		if src, err = e.counterpartReader(ctx, src, m, opts, reads); err != nil {
			return nil, err
		}
	}

	// A full read stages both sides at once, each through its own appender:
	// reading and decoding dominate a plan, and the two sides are
	// independent. An incremental read needs the source keys first, to know
	// which destination records to fetch.
	fullRead := mp.Since.IsZero() && !sc.isDelta()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var n int64
		var answered time.Time
		var err error
		if sc != nil {
			n, answered, err = e.stageChanges(gctx, m, sc, lookups)
		} else {
			n, answered, err = e.stageSource(gctx, src, m, mp.Since, lookups)
		}
		mp.Read = n
		if !answered.IsZero() {
			// The watermark is capped by the source's clock, which stamps
			// its records, not by coupler's: with a source 20 s behind,
			// coupler's clock would let the watermark pass records
			// stamped during the read on pages already read. The Date
			// header counts whole seconds, so the answer came within the
			// second after it; the next read starts at least a second
			// (the smallest watermark_overlap) before the cap, so a
			// record stamped after the answer is read again.
			mp.ReadStarted = answered.Add(time.Second - time.Nanosecond)
		}
		return err
	})
	if fullRead {
		g.Go(func() error {
			n, err := e.stageDest(gctx, dst, m, true)
			mp.DestRead = n
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if !fullRead {
		gone, err := e.removedCounterparts(ctx, m, sc)
		if err != nil {
			return nil, err
		}
		if mp.DestRead, err = e.stageDest(ctx, dst, m, false, gone...); err != nil {
			return nil, err
		}
	}

	e.progress(Progress{Mapping: m.Name, Stage: "diff"})
	mp.Counts, err = e.work.Diff(ctx, state.DiffSpec{
		Part:          state.Part{PlanID: planID, Mapping: m.Name, Direction: string(m.Direction)},
		SourceIsTable: m.SourceIsTable, Fields: m.destFields(), SyncOnlyCoupled: m.Def.SyncOnlyCoupled,
		DestEntity: m.Dest.Entity.Name, OnlyIfChanged: m.Def.Direction == mappings.Bidirectional && !mp.DefinitionChanged,
		RepairOneWay: !opts.MatchOnly, Full: fullRead,
		Match: m.matchSpec(), DeletePolicy: m.deletePolicy(), MatchOnly: opts.MatchOnly,
	})
	if err != nil {
		return nil, err
	}
	part := state.Part{PlanID: planID, Mapping: m.Name, Direction: string(m.Direction)}
	if m.Def.PropagateDeletes && (fullRead || sc.isDelta()) && !opts.MatchOnly {
		if sc.isDelta() {
			err = e.planRemoved(ctx, src, m, sc, part)
		} else {
			err = e.planDeletes(ctx, src, m, part)
		}
		if err != nil {
			return nil, err
		}
	}
	// Records skipped after failing twice are counted in every plan, read
	// or not.
	if err := e.work.PlanSkipped(ctx, part, m.SourceIsTable); err != nil {
		return nil, err
	}
	if mp.Counts, err = e.work.Counts(ctx, part); err != nil {
		return nil, err
	}
	if !fullRead {
		if mp.NotModified, err = e.work.NotModified(ctx, part, m.SourceIsTable); err != nil {
			return nil, err
		}
	}
	latest, err := e.work.LatestSourceModified(ctx)
	if err != nil {
		return nil, err
	}
	mp.NewWatermark = nextWatermark(wm, latest, mp.ReadStarted)
	_, local := e.pushDown(m.Source)
	mp.ComputeWarnings(opts.Full, local)
	if fullRead && !opts.MatchOnly {
		if err := e.markCreatesIntoExisting(ctx, m, mp); err != nil {
			return nil, err
		}
	}
	mp.ComputeApproval(e.approvalRule())
	sc.finish(mp, m.Def.PropagateDeletes)
	if opts.MatchOnly {
		// Changes of coupled records were left alone: the next plan must
		// still see them.
		mp.NewWatermark = time.Time{}
	}
	return mp, nil
}

// nextWatermark is the latest modified-on seen, but never later than the
// read's start (a record stamped in the future would hide everything
// modified before that time) and never earlier than the old watermark.
func nextWatermark(old, latest, readStarted time.Time) time.Time {
	if latest.IsZero() {
		return time.Time{}
	}
	wm := latest
	if wm.After(readStarted) {
		wm = readStarted
	}
	if wm.Before(old) {
		wm = old
	}
	return wm
}

// preparePass finds a pass's connectors and source watermark, records the
// watermark the plan starts from, and loads the couplings its lookups need.
func (e *Engine) preparePass(ctx context.Context, m *Mapping, base map[string]time.Time, lookups *couplingLookups) (src, dst connectors.Connector, wm time.Time, hasWM bool, err error) {
	if src, err = e.connector(m.Source.Connector); err != nil {
		return
	}
	if dst, err = e.connector(m.Dest.Connector); err != nil {
		return
	}
	if wm, hasWM, err = e.store.Watermark(ctx, m.Name, m.Source.Name); err != nil {
		return
	}
	if hasWM {
		base[state.WatermarkKey(m.Name, m.Source.Name)] = wm
	}
	err = lookups.load(ctx, m)
	return
}

// planRecord plans one coupled record of one pass: both sides read by key,
// diffed like any other, with the watermarks left where they are.
func (e *Engine) planRecord(ctx context.Context, planID string, m *Mapping, base map[string]time.Time, lookups *couplingLookups, c *state.Coupling) (*plan.MappingPlan, error) {
	src, dst, _, _, err := e.preparePass(ctx, m, base, lookups)
	if err != nil {
		return nil, err
	}
	id := c.TableID
	if !m.SourceIsTable {
		id = c.IntegrationID
	}
	mp := &plan.MappingPlan{Name: m.Name, Direction: string(m.Direction), Source: endpoint(m.Source), Dest: endpoint(m.Dest),
		ReadStarted: e.now().UTC(), Record: id}
	mp.Read, err = e.stageSourceFrom(ctx, m, lookups, func(fn func(connectors.Page) error) error {
		recs, err := src.Get(ctx, m.Source.Entity, m.Source.Select, []string{id})
		if err != nil {
			return err
		}
		return fn(connectors.Page{Records: recs})
	}, nil)
	if err != nil {
		return nil, err
	}
	if mp.DestRead, err = e.stageDest(ctx, dst, m, false); err != nil {
		return nil, err
	}
	// An edited mapping compares the record in full, as a plan would; the
	// definition is kept only by a plan of every record.
	var edited plan.MappingPlan
	if err := e.markDefinition(ctx, m, &edited); err != nil {
		return nil, err
	}
	part := state.Part{PlanID: planID, Mapping: m.Name, Direction: string(m.Direction)}
	e.progress(Progress{Mapping: m.Name, Stage: "diff"})
	mp.Counts, err = e.work.Diff(ctx, state.DiffSpec{Part: part, SourceIsTable: m.SourceIsTable, Fields: m.destFields(),
		SyncOnlyCoupled: true, DestEntity: m.Dest.Entity.Name, OnlyIfChanged: m.Def.Direction == mappings.Bidirectional && !edited.DefinitionChanged,
		DeletePolicy: m.deletePolicy()})
	return mp, err
}

// planDeletes finds coupled source records that a full read did not return
// and that the source no longer has (a record outside a pushed-down filter
// is not returned either, so each is looked up by key), and plans deleting
// their destination records.
func (e *Engine) planDeletes(ctx context.Context, src connectors.Connector, m *Mapping, part state.Part) error {
	missing, err := e.work.CoupledNotStaged(ctx, m.Name, m.SourceIsTable)
	if err != nil {
		return err
	}
	return e.planGone(ctx, src, m, part, missing)
}

// planGone plans deleting the destination records of the coupled source
// records missing names that the source no longer has, each looked up by
// key.
func (e *Engine) planGone(ctx context.Context, src connectors.Connector, m *Mapping, part state.Part, missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	still, err := src.Get(ctx, m.Source.Entity, []string{m.Source.Entity.Key}, missing)
	if err != nil {
		return fmt.Errorf("check deleted %s records: %w", m.Source.Entity.Name, err)
	}
	exists := map[string]bool{}
	for _, rec := range still {
		if k, err := recordKey(rec, m.Source.Entity.Key); err == nil {
			exists[k] = true
		}
	}
	var deleted []string
	for _, id := range missing {
		if !exists[id] {
			deleted = append(deleted, id)
		}
	}
	return e.work.PlanDeletes(ctx, part, m.SourceIsTable, deleted)
}

func endpoint(s Side) plan.Endpoint {
	return plan.Endpoint{Side: s.Name, Connector: s.Connector, Entity: s.Entity.Name, Key: s.Entity.Key, Modified: s.Entity.Modified}
}

// deletePolicy says what a pass does with a coupled record whose
// destination is gone. In a bidirectional mapping that propagates deletes,
// that is the other pass's deletion to propagate, not a conflict.
func (m *Mapping) deletePolicy() string {
	if m.Def.PropagateDeletes && m.Def.Direction == mappings.Bidirectional {
		return state.DeletePropagated
	}
	return m.Def.Conflicts.Delete
}

func (m *Mapping) matchSpec() *state.MatchSpec {
	if len(m.MatchGroups) == 0 {
		return nil
	}
	spec := &state.MatchSpec{Groups: m.MatchGroups, CreateIfNoMatch: m.Def.Match.CreateIfNoMatch, SyncAfter: m.Def.Match.SyncAfter}
	for _, p := range m.Match {
		spec.CaseSensitive = append(spec.CaseSensitive, p.CaseSensitive)
	}
	for _, g := range m.MatchGroups {
		var parts []string
		for _, i := range g {
			parts = append(parts, m.Match[i].Source+" = "+m.Match[i].Dest)
		}
		spec.Labels = append(spec.Labels, strings.Join(parts, " and "))
	}
	return spec
}

func (m *Mapping) destFields() []state.DestField {
	out := make([]state.DestField, len(m.Fields))
	for i, f := range m.Fields {
		out[i] = state.DestField{Name: f.Dest, NotNull: f.NotNull, Both: f.Both, CreateOnly: f.CreateOnly}
		if f.Lookup != nil {
			out[i].BindSet = f.Lookup.BindSet
		}
	}
	return out
}
