package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
)

// CheckOnline checks the program against the services themselves: every
// entity set and field a mapping reads or writes exists, and each value it
// writes fits the field's type. Connectors that cannot describe themselves
// are skipped with a warning.
func (e *Engine) CheckOnline(ctx context.Context) mappings.Diagnostics {
	var diags mappings.Diagnostics
	schemas := map[string]*connectors.Schema{}
	for _, c := range e.prog.Project.Connectors {
		d, ok := e.conns[c.Name].(connectors.Describer)
		if !ok {
			diags.Warnf(c.Pos, "connector %s (type %s) cannot describe its entities; its fields are not checked", c.Name, c.Type)
			continue
		}
		s, err := d.Describe(ctx)
		if err != nil {
			diags.Errorf(c.Pos, "connector %s: %v", c.Name, err)
			continue
		}
		schemas[c.Name] = s
	}
	e.describeEntities(ctx, &diags, schemas) // online_entities.go
	for _, m := range e.prog.Mappings {
		src := entitySchema(&diags, schemas, m, m.Source)
		dst := entitySchema(&diags, schemas, m, m.Dest)
		if src == nil || dst == nil {
			continue
		}
		for _, f := range m.Fields {
			checkFlow(&diags, m, f, src, dst)
		}
	}
	// Both passes of a bidirectional mapping check the same sides.
	diags = dedupeDiagnostics(diags)
	diags.Sort()
	return diags
}

func entitySchema(diags *mappings.Diagnostics, schemas map[string]*connectors.Schema, m *Mapping, s Side) *connectors.EntitySchema {
	schema, ok := schemas[s.Connector]
	if !ok {
		return nil
	}
	pos := m.Def.Table.Pos
	if s.Name == plan.SideIntegration {
		pos = m.Def.Integration.Pos
	}
	es := schema.Entity(s.Entity.Name)
	if es == nil {
		diags.Errorf(pos, "mapping %s: connector %s has no entity set %q%s", m.Name, s.Connector, s.Entity.Name, closest(s.Entity.Name, schema))
		return nil
	}
	for _, f := range []string{s.Entity.Key, s.Entity.Modified} {
		if f != "" && es.Field(f) == nil {
			diags.Errorf(pos, "mapping %s: %s %s has no field %q", m.Name, s.Connector, es.Name, f)
		}
	}
	if s.Filter != nil {
		for _, f := range identifiers(s.Filter) {
			if es.Field(f) == nil {
				diags.Errorf(pos, "mapping %s: the filter of %s %s reads %q, which is not a field of it", m.Name, s.Connector, es.Name, f)
			}
		}
	}
	return es
}

func closest(name string, s *connectors.Schema) string {
	for _, e := range s.Entities {
		if strings.EqualFold(e.Name, name) {
			return fmt.Sprintf(" (did you mean %q?)", e.Name)
		}
	}
	return ""
}

// fieldType returns the EDM type of a field as read, or "" when it does not
// exist: a lookup may be a navigation property (or several, for a
// multi-table one) read under another name.
func fieldType(es *connectors.EntitySchema, name, read string) (string, bool) {
	if f := es.Field(read); f != nil {
		return f.Type, true
	}
	if f := es.Field(name); f != nil {
		return f.Type, true
	}
	if _, ok := es.Lookups[name]; ok {
		return "Edm.Guid", true
	}
	if _, ok := es.Polymorphic[name]; ok {
		return "Edm.Guid", true
	}
	return "", false
}

// checkMultiTable checks a lookup field against the service's multi-table
// lookups: the entity set the lookup mapping couples on that side (set)
// must be one the lookup points to, and it decides which. It says so in a
// note, since the same field may then hold records the mapping does not
// couple.
func checkMultiTable(diags *mappings.Diagnostics, m *Mapping, f FieldFlow, es *connectors.EntitySchema, field, set string, written bool) {
	targets, poly := es.Polymorphic[field]
	if !poly || set == "" {
		return
	}
	names := slices.Sorted(maps.Keys(targets))
	if _, ok := targets[set]; !ok {
		diags.Errorf(f.Pos, "mapping %s, field %s: %s.%s is a multi-table lookup to %s; mapping %s couples %s, which it cannot point to",
			m.Name, f.Label, es.Name, field, strings.Join(names, " or "), f.Lookup.Mapping, set)
		return
	}
	if written {
		diags.Notef(f.Pos, "mapping %s, field %s: %s.%s is a multi-table lookup to %s; it is written as a reference to %s, whose records mapping %s couples",
			m.Name, f.Label, es.Name, field, strings.Join(names, " or "), set, f.Lookup.Mapping)
		return
	}
	diags.Notef(f.Pos, "mapping %s, field %s: %s.%s is a multi-table lookup to %s; a record whose %s points to another than %s fails, as mapping %s couples only those",
		m.Name, f.Label, es.Name, field, strings.Join(names, " or "), field, set, f.Lookup.Mapping)
}

func checkFlow(diags *mappings.Diagnostics, m *Mapping, f FieldFlow, src, dst *connectors.EntitySchema) {
	dstType, ok := fieldType(dst, f.Dest, f.DestRead)
	if !ok {
		diags.Errorf(f.Pos, "mapping %s, field %s: %s has no field %q", m.Name, f.Label, dst.Name, f.Dest)
		return
	}
	srcType := func(field string) string {
		t, _ := fieldType(src, field, field)
		return t
	}
	if f.Source != "" {
		if _, ok := fieldType(src, f.Source, f.SourceRead); !ok {
			diags.Errorf(f.Pos, "mapping %s, field %s: %s has no field %q", m.Name, f.Label, src.Name, f.Source)
			return
		}
	}
	if f.Lookup != nil {
		// An id translated through couplings: its type is the target
		// key's. The entity sets the lookup mapping couples must be ones
		// a multi-table lookup may point to.
		checkMultiTable(diags, m, f, dst, f.Dest, f.Lookup.BindSet, true)
		if f.Source != "" {
			checkMultiTable(diags, m, f, src, f.Source, f.Lookup.SourceSet, false)
		}
		return
	}
	checkWrite(diags, m, f, dstType, srcType) // typecheck.go, as offline
}

func dedupeDiagnostics(ds mappings.Diagnostics) mappings.Diagnostics {
	seen := map[string]bool{}
	out := ds[:0]
	for _, d := range ds {
		if k := d.String(); !seen[k] {
			seen[k] = true
			out = append(out, d)
		}
	}
	return out
}
