package engine

// Staging: reading each side and turning records into staged rows, with
// the destination values computed from the source.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/engine/state"
)

// stageSource stages every source record modified since since (all when
// zero), with the destination values computed from it. answered is the
// earliest time the server gave for its pages (their Date header), zero
// when it gave none.
func (e *Engine) stageSource(ctx context.Context, src connectors.Connector, m *Mapping, since time.Time, lookups Lookups) (n int64, answered time.Time, err error) {
	q := connectors.Query{Entity: m.Source.Entity, Fields: m.Source.Select, Since: since}
	// A full read lets the server apply what it can of the filter. An
	// incremental read is small, and reading every modified record lets the
	// plan report coupled records that have left the filter.
	if since.IsZero() {
		q.Filter, _ = e.pushDown(m.Source)
	}
	earliest := func(date time.Time) {
		if !date.IsZero() && (answered.IsZero() || date.Before(answered)) {
			answered = date
		}
	}

	var entries readEntries
	if er, ok := src.(connectors.EntryReader); ok {
		entries = func(fields []string, fn func(connectors.Entries) error) error {
			return er.ReadEntries(ctx, q, fields, func(es connectors.Entries) error {
				earliest(es.Date())
				return fn(es)
			})
		}
	}
	n, err = e.stageSourceFrom(ctx, m, lookups, func(fn func(connectors.Page) error) error {
		return src.Read(ctx, q, func(p connectors.Page) error {
			earliest(p.Date)
			return fn(p)
		})
	}, entries)
	return n, answered, err
}

// readEntries reads a side's records as entries (connectors.EntryReader),
// with the fields the stager asks for.
type readEntries func(fields []string, fn func(connectors.Entries) error) error

// stageSourceFrom stages the source records that read hands over, page by
// page, with the destination values computed from them; or, when entries
// is not nil, those it hands over, falling back on read when it cannot.
func (e *Engine) stageSourceFrom(ctx context.Context, m *Mapping, lookups Lookups, read func(func(connectors.Page) error) error, entries readEntries) (int64, error) {
	stage, err := e.work.NewStage(ctx, state.SourceRows, m.destFields(), len(m.Match))
	if err != nil {
		return 0, err
	}
	targets := e.lookupTargets(ctx, m)
	toRow := func(rv recordValues) (state.Row, error) { return m.sourceRow(rv, lookups, targets) }
	err = e.stageEntriesOr(stage, m.Name, "read source", newEntryStager(m, true), entries, func(add func([]connectors.Record) error) error {
		return read(func(page connectors.Page) error { return add(page.Records) })
	}, toRow)
	if cerr := stage.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("read %s %s: %w", m.Source.Connector, m.Source.Entity.Name, err)
	}
	e.log.Debug("read source", "mapping", m.Name, "records", stage.Rows())
	return stage.Rows(), nil
}

// matchCandidates fetches, for an incremental plan, the destination
// records that could match the uncoupled source records read: those whose
// first match field of a group holds one of the values sought. The diff
// then decides on every field of the group.
//
// A group that ignores case is looked up with case ignored by the
// connector (connectors.FoldingGetter), never by the server's collation,
// which may not ignore it. When the connector cannot, wide is true: the
// caller reads every destination record and the diff compares them.
func (e *Engine) matchCandidates(ctx context.Context, dst connectors.Connector, m *Mapping) (recs []connectors.Record, wide bool, err error) {
	for _, group := range m.MatchGroups {
		col := group[0]
		vals, err := e.work.UncoupledMatchValues(ctx, m.Name, m.SourceIsTable, col)
		if err != nil {
			return nil, false, err
		}
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
		field := m.Match[col].Dest
		var found []connectors.Record
		if m.Match[col].CaseSensitive {
			byField := m.Dest.Entity
			byField.Key = field
			found, err = dst.Get(ctx, byField, m.Dest.Select, wanted)
		} else if fg, ok := dst.(connectors.FoldingGetter); ok {
			found, err = fg.GetFolded(ctx, m.Dest.Entity, field, m.Dest.Select, wanted)
			if errors.Is(err, connectors.ErrUnsupported) {
				return nil, true, nil
			}
		} else {
			return nil, true, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("find records matching on %s: %w", field, err)
		}
		recs = append(recs, found...)
	}
	return recs, false, nil
}

// stageEntriesOr stages what entries hands over, each row made by toRow;
// or, when entries is nil or cannot read, what read hands to its add.
func (e *Engine) stageEntriesOr(stage *state.Stage, mapping, what string, s *entryStager, entries readEntries, read func(add func([]connectors.Record) error) error, toRow func(recordValues) (state.Row, error)) error {
	if entries != nil {
		called := false
		err := entries(s.fields, func(es connectors.Entries) error {
			called = true
			v := &entryValues{s: s, es: es}
			return e.stageRows(stage, mapping, what, es.Len(), func(r int) recordValues {
				v.at(r)
				return v
			}, toRow)
		})
		if called || !errors.Is(err, connectors.ErrUnsupported) {
			return err
		}
	}
	return read(func(recs []connectors.Record) error { return e.stageRecords(stage, mapping, what, recs, toRow) })
}

// stageRecords turns records into staged rows and appends them.
func (e *Engine) stageRecords(stage *state.Stage, mapping, what string, recs []connectors.Record, toRow func(recordValues) (state.Row, error)) error {
	return e.stageRows(stage, mapping, what, len(recs), func(i int) recordValues { return mapValues{recs[i]} }, toRow)
}

// stageRows turns n records, the values of record i being values(i), into
// staged rows and appends them.
func (e *Engine) stageRows(stage *state.Stage, mapping, what string, n int, values func(int) recordValues, toRow func(recordValues) (state.Row, error)) error {
	for i := range n {
		row, err := toRow(values(i))
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
// returns how many it read. An incremental read also reads the records
// extra names.
func (e *Engine) stageDest(ctx context.Context, dst connectors.Connector, m *Mapping, fullRead bool, extra ...string) (int64, error) {
	stage, err := e.work.NewStage(ctx, state.DestRows, m.destFields(), len(m.Match))
	if err != nil {
		return 0, err
	}
	add := func(recs []connectors.Record) error {
		return e.stageRecords(stage, m.Name, "read destination", recs, m.destRow)
	}
	var candidates []connectors.Record
	if !fullRead {
		// Candidates first: when they cannot be looked up with case
		// ignored, the read is wide and nothing else need be fetched.
		var wide bool
		candidates, wide, err = e.matchCandidates(ctx, dst, m)
		if wide {
			e.log.Debug("read every destination record: the connector cannot look up match candidates with case ignored", "mapping", m.Name)
			fullRead = true
		}
	}
	switch {
	case err != nil:
	case fullRead:
		// Never filtered by the server: a coupled record that has left the
		// destination's filter must be seen as left out, not as deleted.
		q := connectors.Query{Entity: m.Dest.Entity, Fields: m.Dest.Select}
		var entries readEntries
		if er, ok := dst.(connectors.EntryReader); ok {
			entries = func(fields []string, fn func(connectors.Entries) error) error {
				return er.ReadEntries(ctx, q, fields, fn)
			}
		}
		err = e.stageEntriesOr(stage, m.Name, "read destination", newEntryStager(m, false), entries, func(add func([]connectors.Record) error) error {
			return dst.Read(ctx, q, func(p connectors.Page) error { return add(p.Records) })
		}, m.destRow)
	default:
		var ids []string
		ids, err = e.work.StagedSourceKeysCoupled(ctx, m.Name, m.SourceIsTable)
		ids = append(ids, extra...)
		if err == nil && len(ids) > 0 {
			var recs []connectors.Record
			recs, err = dst.Get(ctx, m.Dest.Entity, m.Dest.Select, ids)
			if err == nil {
				err = add(recs)
			}
		}
		if err == nil {
			err = add(candidates)
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

// recordKey reads a record's key as text.
func recordKey(rec connectors.Record, field string) (string, error) {
	return keyText(rec[field], field)
}

// keyText is the text of a key field's value.
func keyText(v any, field string) (string, error) {
	switch k := v.(type) {
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
	s, _ := rec[connectors.ETagField].(string)
	return s
}

// newRow starts the staged row of a record: its key, version and
// modified-on, with numbers made ready for expressions.
func (m *Mapping) newRow(rv recordValues, e connectors.Entity, isSource bool) (state.Row, error) {
	key, err := rv.key(e.Key)
	if err != nil {
		return state.Row{}, err
	}
	rv.ready()
	row := state.Row{Key: key, ETag: rv.etag(), InFilter: true, Values: make([]*string, len(m.Fields)), Match: make([]*string, len(m.Match))}
	for i, p := range m.Match {
		field := p.Dest
		if isSource {
			field = p.Source
		}
		row.Match[i] = rv.match(field)
	}
	side := m.Dest
	if isSource {
		side = m.Source
	}
	row.Display = displayValues(rv, side.Display)
	if e.Modified != "" {
		if row.Modified, err = parseModified(rv.value(e.Modified)); err != nil {
			row.Err = fmt.Sprintf("record %s: %v", key, err)
		}
	}
	return row, nil
}

// displayValues is the JSON text of a record's display fields that hold a
// value (a plan.Display), as staged; nil when there are none.
func displayValues(rv recordValues, fields []string) *string {
	var d plan.Display
	for _, f := range fields {
		v := rv.value(f)
		if v == nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			continue // shown by id alone: display never fails a record
		}
		d = append(d, plan.DisplayValue{Field: f, Value: b})
	}
	if len(d) == 0 {
		return nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil
	}
	s := string(b)
	return &s
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

// targetCheck tells whether the lookup f of a source record points into
// the entity set its lookup mapping couples; nil checks nothing.
type targetCheck func(f *FieldFlow, rec connectors.Record) error

// lookupTargets checks lookups against what the source's connector says
// they point to (connectors.LookupReader), so that a multi-table lookup to
// a record of another entity set is not translated through couplings of
// records it is not one of: a contact whose parent customer is a contact
// is no CUSTOMER's. nil when the connector cannot tell.
func (e *Engine) lookupTargets(ctx context.Context, m *Mapping) targetCheck {
	r := e.lookupReader(m.Source.Connector)
	if r == nil {
		return nil
	}
	return func(f *FieldFlow, rec connectors.Record) error {
		if f.Lookup == nil || f.Lookup.SourceSet == "" || f.Source == "" {
			return nil
		}
		got, err := r.LookupTarget(ctx, m.Source.Entity.Name, f.Source, rec)
		if err != nil {
			return err
		}
		if got != "" && got != f.Lookup.SourceSet {
			return fmt.Errorf("%s points to a record of %s, not of %s, whose records %s couples; it is not translated",
				f.Source, got, f.Lookup.SourceSet, f.Lookup.Mapping)
		}
		return nil
	}
}

// sourceRow computes the staged row of a source record: whether it passes
// the filter, and each destination value. A value that cannot be computed
// fails the record, not the plan.
func (m *Mapping) sourceRow(rv recordValues, lookups Lookups, targets targetCheck) (state.Row, error) {
	row, err := m.newRow(rv, m.Source.Entity, true)
	if err != nil {
		return row, err
	}
	if m.Source.Filter != nil {
		rec, err := rv.record()
		if err != nil {
			return state.Row{}, err
		}
		ok, err := m.Source.Filter.RunFilter(rec)
		if err != nil {
			row.Err = fmt.Sprintf("filter: %v", err)
		}
		row.InFilter = ok || err != nil
	}
	if row.Err != "" || !row.InFilter {
		return row, nil
	}
	for i := range m.Fields {
		f := &m.Fields[i] // not a copy: one escaping per field of every record cost more than the rest of the row
		var c *string
		if f.plain() {
			// The source's value as it is: no record need be made for it.
			c, err = rv.canonical(f.SourceRead)
		} else {
			c, err = f.staged(rv, lookups, targets)
		}
		if err != nil && f.ClearOnFailure {
			c, err = nil, nil
		}
		if err != nil {
			row.Err = fmt.Sprintf("field %s: %v", f.Label, err)
			return row, nil
		}
		row.Values[i] = c
	}
	return row, nil
}

// staged is the canonical text of the field's value (Value) from a source
// record whose lookup target checks.
func (f *FieldFlow) staged(rv recordValues, lookups Lookups, targets targetCheck) (*string, error) {
	rec, err := rv.record()
	if err != nil {
		return nil, err
	}
	if targets != nil {
		if err := targets(f, rec); err != nil {
			return nil, err
		}
	}
	v, err := f.Value(rec, lookups)
	if err != nil {
		return nil, err
	}
	return canonical(v)
}

// plain reports whether the field's value is the source field's as it is:
// no constant, transform, option map or lookup.
func (f *FieldFlow) plain() bool {
	return !f.HasConstant && f.Transform == nil && f.Options == nil && f.Lookup == nil && f.SourceRead != ""
}

// destRow stages a destination record's current values of the mapped fields.
func (m *Mapping) destRow(rv recordValues) (state.Row, error) {
	row, err := m.newRow(rv, m.Dest.Entity, false)
	if err != nil {
		return row, err
	}
	// A destination's unreadable modified-on matters to nobody: only the
	// source's moves a watermark.
	row.Err = ""
	if m.Dest.Filter != nil {
		rec, err := rv.record()
		if err != nil {
			return state.Row{}, err
		}
		ok, err := m.Dest.Filter.RunFilter(rec)
		// A filter that cannot be evaluated keeps the record out of reach
		// rather than overwriting it.
		row.InFilter = ok && err == nil
	}
	for i, f := range m.Fields {
		v, err := rv.canonical(f.DestRead)
		if err != nil {
			return state.Row{}, fmt.Errorf("record %s, field %s: %w", row.Key, f.Dest, err)
		}
		row.Values[i] = v
	}
	return row, nil
}
