package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
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
	// Name, when set, names the saved plan, to show or apply it by name.
	Name string
	// MatchOnly plans match-based coupling only, over full reads: uncoupled
	// records are coupled to their match (or created, with
	// create_if_no_match); coupled ones are left alone.
	MatchOnly bool
}

// watermarkOverlap is subtracted from a watermark before reading: systems
// stamp modified-on with second granularity, so a record written in the same
// second as the last one read must not be missed. The diff finds re-read
// records unchanged.
const watermarkOverlap = time.Second

// Plan reads both sides of each selected mapping, stages the rows, diffs
// them in the state database and saves the result as a plan. It writes
// nothing to either system.
func (e *Engine) Plan(ctx context.Context, opts PlanOptions) (*plan.Plan, error) {
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
		Fingerprint: fingerprint(e.prog.Project.Sources), Status: plan.Planned}
	base := map[string]time.Time{}
	lookups := &couplingLookups{db: e.state, planID: p.ID, maps: map[string]map[string]string{}}
	// Leave no half-made plan behind, and no copy of both systems in the
	// staging tables; with a fresh context, since ctx may be why we stop.
	fail := func(err error) (*plan.Plan, error) {
		cleanup := context.WithoutCancel(ctx)
		if derr := e.state.DiscardPlan(cleanup, p.ID); derr != nil {
			e.log.Warn("discard failed plan", "plan", p.ID, "err", derr)
		}
		if derr := e.state.DropStaging(cleanup); derr != nil {
			e.log.Warn("drop staging tables", "err", derr)
		}
		return nil, err
	}
	for _, m := range selected {
		mp, err := e.planMapping(ctx, p.ID, m, opts, base, lookups, record)
		if err != nil {
			return fail(fmt.Errorf("mapping %s: %w", m.Name, err))
		}
		p.Mappings = append(p.Mappings, mp)
	}
	if err := e.settleConflicts(ctx, p, opts.Prefer); err != nil {
		return fail(err)
	}
	if err := e.state.DropStaging(ctx); err != nil {
		e.log.Warn("drop staging tables", "err", err)
	}
	if err := e.state.SavePlan(ctx, p, base); err != nil {
		return fail(err)
	}
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
			spec.Policy = mappings.UpdateSendToIntegration
		case "integration":
			spec.Policy = mappings.UpdateGetFromIntegration
		}
		for _, m := range e.prog.Passes(name) {
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
		if err := e.state.SettleConflicts(ctx, spec); err != nil {
			return err
		}
	}
	for _, mp := range p.Mappings {
		if passes[mp.Name] < 2 {
			continue
		}
		counts, err := e.state.Counts(ctx, state.Part{PlanID: p.ID, Mapping: mp.Name, Direction: mp.Direction})
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
			return nil, fmt.Errorf("no mapping named %q in the project", n)
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
	c, err := e.state.FindCoupling(ctx, opts.Mappings[0], normalizeID(opts.Record))
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("mapping %s: no coupled record has id %q on either side; couple it first (coupler couple)", opts.Mappings[0], opts.Record)
	}
	return c, nil
}

func (e *Engine) planMapping(ctx context.Context, planID string, m *Mapping, opts PlanOptions, base map[string]time.Time, lookups *couplingLookups, record *state.Coupling) (*plan.MappingPlan, error) {
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
	if hasWM && !full && m.Source.Entity.Modified != "" {
		mp.Since = wm.Add(-watermarkOverlap)
	}
	if mp.Coupled, err = e.state.CouplingCount(ctx, m.Name); err != nil {
		return nil, err
	}

	// A full read stages both sides at once, each through its own appender:
	// reading and decoding dominate a plan, and the two sides are
	// independent. An incremental read needs the source keys first, to know
	// which destination records to fetch.
	fullRead := mp.Since.IsZero()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		n, err := e.stageSource(gctx, src, m, mp.Since, lookups)
		mp.Read = n
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
		if mp.DestRead, err = e.stageDest(ctx, dst, m, false); err != nil {
			return nil, err
		}
	}

	mp.Counts, err = e.state.Diff(ctx, state.DiffSpec{
		Part:          state.Part{PlanID: planID, Mapping: m.Name, Direction: string(m.Direction)},
		SourceIsTable: m.SourceIsTable, Fields: m.destFields(), SyncOnlyCoupled: m.Def.SyncOnlyCoupled,
		DestEntity: m.Dest.Entity.Name, OnlyIfChanged: m.Def.Direction == mappings.Bidirectional,
		Match: m.matchSpec(), DeletePolicy: m.deletePolicy(), MatchOnly: opts.MatchOnly,
	})
	if err != nil {
		return nil, err
	}
	if m.Def.PropagateDeletes && fullRead && !opts.MatchOnly {
		if err := e.planDeletes(ctx, src, m, state.Part{PlanID: planID, Mapping: m.Name, Direction: string(m.Direction)}); err != nil {
			return nil, err
		}
		if mp.Counts, err = e.state.Counts(ctx, state.Part{PlanID: planID, Mapping: m.Name, Direction: string(m.Direction)}); err != nil {
			return nil, err
		}
	}
	if !mp.Since.IsZero() {
		if mp.NotModified, err = e.state.NotModified(ctx, m.Name, m.SourceIsTable); err != nil {
			return nil, err
		}
	}
	latest, err := e.state.LatestSourceModified(ctx)
	if err != nil {
		return nil, err
	}
	mp.NewWatermark = nextWatermark(wm, latest, mp.ReadStarted)
	mp.ComputeWarnings(opts.Full, m.Source.Local)
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

// stageSource stages every source record modified since since (all when
// zero), with the destination values computed from it.
func (e *Engine) stageSource(ctx context.Context, src connectors.Connector, m *Mapping, since time.Time, lookups Lookups) (int64, error) {
	q := connectors.Query{Entity: m.Source.Entity, Fields: m.Source.Select, Since: since}
	// A full read lets the server apply what it can of the filter. An
	// incremental read is small, and reading every modified record lets the
	// plan report coupled records that have left the filter.
	if since.IsZero() {
		q.Filter = m.Source.Pushed
	}
	return e.stageSourceFrom(ctx, m, lookups, func(fn func(connectors.Page) error) error {
		return src.Read(ctx, q, fn)
	})
}

// stageSourceFrom stages the source records that read hands over, page by
// page, with the destination values computed from them.
func (e *Engine) stageSourceFrom(ctx context.Context, m *Mapping, lookups Lookups, read func(func(connectors.Page) error) error) (int64, error) {
	stage, err := e.state.NewStage(ctx, state.SourceRows, len(m.Fields), len(m.Match))
	if err != nil {
		return 0, err
	}
	toRow := func(rec connectors.Record) (state.Row, error) { return m.sourceRow(rec, lookups) }
	err = read(func(page connectors.Page) error {
		return e.stageRecords(stage, m.Name, "read source", page.Records, toRow)
	})
	if cerr := stage.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("read %s %s: %w", m.Source.Connector, m.Source.Entity.Name, err)
	}
	e.log.Debug("read source", "mapping", m.Name, "records", stage.Rows())
	return stage.Rows(), nil
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
	if wm, hasWM, err = e.state.Watermark(ctx, m.Name, m.Source.Name); err != nil {
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
	})
	if err != nil {
		return nil, err
	}
	if mp.DestRead, err = e.stageDest(ctx, dst, m, false); err != nil {
		return nil, err
	}
	part := state.Part{PlanID: planID, Mapping: m.Name, Direction: string(m.Direction)}
	mp.Counts, err = e.state.Diff(ctx, state.DiffSpec{Part: part, SourceIsTable: m.SourceIsTable, Fields: m.destFields(),
		SyncOnlyCoupled: true, DestEntity: m.Dest.Entity.Name, OnlyIfChanged: m.Def.Direction == mappings.Bidirectional,
		DeletePolicy: m.deletePolicy()})
	return mp, err
}

// planDeletes finds coupled source records that a full read did not return
// and that the source no longer has (a record outside a pushed-down filter
// is not returned either, so each is looked up by key), and plans deleting
// their destination records.
func (e *Engine) planDeletes(ctx context.Context, src connectors.Connector, m *Mapping, part state.Part) error {
	missing, err := e.state.CoupledNotStaged(ctx, m.Name, m.SourceIsTable)
	if err != nil || len(missing) == 0 {
		return err
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
	return e.state.PlanDeletes(ctx, part, m.SourceIsTable, deleted)
}

// stageMatchCandidates fetches, for an incremental plan, the destination
// records that could match the uncoupled source records read: those whose
// first match field of a group holds one of the values sought. The diff
// then decides on every field of the group.
func (e *Engine) stageMatchCandidates(ctx context.Context, dst connectors.Connector, m *Mapping, add func([]connectors.Record) error) error {
	for _, group := range m.MatchGroups {
		col := group[0]
		vals, err := e.state.UncoupledMatchValues(ctx, m.Name, m.SourceIsTable, col)
		if err != nil {
			return err
		}
		// Candidates are looked up by text, as the source spells it; the
		// server's comparison decides the case (Dataverse and Business
		// Central ignore it), the diff then compares as the mapping says.
		// Numbers and other values cannot be looked up by text.
		var wanted []string
		for _, v := range vals {
			if raw, err := decodeValue([]byte(v)); err == nil {
				if s, ok := raw.(string); ok {
					wanted = append(wanted, s)
				}
			}
		}
		if len(wanted) == 0 {
			continue
		}
		byField := m.Dest.Entity
		byField.Key = m.Match[col].Dest
		recs, err := dst.Get(ctx, byField, m.Dest.Select, wanted)
		if err != nil {
			return fmt.Errorf("find records matching on %s: %w", m.Match[col].Dest, err)
		}
		if err := add(recs); err != nil {
			return err
		}
	}
	return nil
}

// stageRecords turns records into staged rows and appends them.
func (e *Engine) stageRecords(stage *state.Stage, mapping, what string, recs []connectors.Record, toRow func(connectors.Record) (state.Row, error)) error {
	for _, rec := range recs {
		row, err := toRow(rec)
		if err != nil {
			return err
		}
		if err := stage.Append(row); err != nil {
			return err
		}
	}
	e.progress(Progress{Mapping: mapping, Stage: what, Done: stage.Rows()})
	return nil
}

// stageDest stages the destination records a plan compares with, and
// returns how many it read.
func (e *Engine) stageDest(ctx context.Context, dst connectors.Connector, m *Mapping, fullRead bool) (int64, error) {
	stage, err := e.state.NewStage(ctx, state.DestRows, len(m.Fields), len(m.Match))
	if err != nil {
		return 0, err
	}
	add := func(recs []connectors.Record) error {
		return e.stageRecords(stage, m.Name, "read destination", recs, m.destRow)
	}
	if fullRead {
		// Never filtered by the server: a coupled record that has left the
		// destination's filter must be seen as left out, not as deleted.
		q := connectors.Query{Entity: m.Dest.Entity, Fields: m.Dest.Select}
		err = dst.Read(ctx, q, func(p connectors.Page) error {
			return add(p.Records)
		})
	} else {
		var ids []string
		ids, err = e.state.StagedSourceKeysCoupled(ctx, m.Name, m.SourceIsTable)
		if err == nil && len(ids) > 0 {
			var recs []connectors.Record
			recs, err = dst.Get(ctx, m.Dest.Entity, m.Dest.Select, ids)
			if err == nil {
				err = add(recs)
			}
		}
		if err == nil {
			err = e.stageMatchCandidates(ctx, dst, m, add)
		}
	}
	if cerr := stage.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("read %s %s: %w", m.Dest.Connector, m.Dest.Entity.Name, err)
	}
	e.log.Debug("read destination", "mapping", m.Name, "records", stage.Rows(), "full", fullRead)
	return stage.Rows(), nil
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
		out[i] = state.DestField{Name: f.Dest, NotNull: f.NotNull, Both: f.Both}
		if f.Lookup != nil {
			out[i].BindSet = f.Lookup.BindSet
		}
	}
	return out
}

// recordKey reads a record's key as text.
func recordKey(rec connectors.Record, field string) (string, error) {
	switch k := rec[field].(type) {
	case string:
		if k != "" {
			return normalizeID(k), nil
		}
	case json.Number:
		return k.String(), nil
	case float64:
		return strconv.FormatFloat(k, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("a record has no key field %q (is key: set to the right field?)", field)
}

func etagOf(rec connectors.Record) string {
	s, _ := rec["@odata.etag"].(string)
	return s
}

// newRow starts the staged row of a record: its key, version and
// modified-on, with numbers made ready for expressions.
func (m *Mapping) newRow(rec connectors.Record, e connectors.Entity, isSource bool) (state.Row, error) {
	key, err := recordKey(rec, e.Key)
	if err != nil {
		return state.Row{}, err
	}
	numbersForExpressions(rec)
	row := state.Row{Key: key, ETag: etagOf(rec), InFilter: true, Values: make([]*string, len(m.Fields)), Match: make([]*string, len(m.Match))}
	for i, p := range m.Match {
		field := p.Dest
		if isSource {
			field = p.Source
		}
		row.Match[i] = matchValue(rec[field])
	}
	if e.Modified != "" {
		if row.Modified, err = parseModified(rec[e.Modified]); err != nil {
			row.Err = fmt.Sprintf("record %s: %v", key, err)
		}
	}
	return row, nil
}

// matchValue is the form a match field is staged in: canonical, with its
// case (the diff ignores case unless the pair is case-sensitive); blanks
// match nothing.
func matchValue(v any) *string {
	if s, ok := v.(string); ok && strings.TrimSpace(s) == "" {
		return nil
	}
	c, err := canonical(v)
	if err != nil {
		return nil
	}
	return c
}

// sourceRow computes the staged row of a source record: whether it passes
// the filter, and each destination value. A value that cannot be computed
// fails the record, not the plan.
func (m *Mapping) sourceRow(rec connectors.Record, lookups Lookups) (state.Row, error) {
	row, err := m.newRow(rec, m.Source.Entity, true)
	if err != nil {
		return row, err
	}
	if m.Source.Filter != nil {
		ok, err := m.Source.Filter.RunFilter(rec)
		if err != nil {
			row.Err = fmt.Sprintf("filter: %v", err)
		}
		row.InFilter = ok || err != nil
	}
	if row.Err != "" || !row.InFilter {
		return row, nil
	}
	for i, f := range m.Fields {
		v, err := f.Value(rec, lookups)
		if err == nil {
			row.Values[i], err = canonical(v)
		}
		if err != nil && f.ClearOnFailure {
			row.Values[i], err = nil, nil
		}
		if err != nil {
			row.Err = fmt.Sprintf("field %s: %v", f.Label, err)
			return row, nil
		}
	}
	return row, nil
}

// destRow stages a destination record's current values of the mapped fields.
func (m *Mapping) destRow(rec connectors.Record) (state.Row, error) {
	row, err := m.newRow(rec, m.Dest.Entity, false)
	if err != nil {
		return row, err
	}
	// A destination's unreadable modified-on matters to nobody: only the
	// source's moves a watermark.
	row.Err = ""
	if m.Dest.Filter != nil {
		ok, err := m.Dest.Filter.RunFilter(rec)
		// A filter that cannot be evaluated keeps the record out of reach
		// rather than overwriting it.
		row.InFilter = ok && err == nil
	}
	for i, f := range m.Fields {
		v, err := canonical(rec[f.DestRead])
		if err != nil {
			return state.Row{}, fmt.Errorf("record %s, field %s: %w", row.Key, f.Dest, err)
		}
		row.Values[i] = v
	}
	return row, nil
}
