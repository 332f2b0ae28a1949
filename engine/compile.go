// Package engine turns a loaded project into synchronized systems, in the
// order of its files: compile (mappings -> Program), plan (read both sides,
// stage, diff in the state database), apply (write a saved plan, keeping
// couplings, watermarks and the run log).
package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/expr-lang/expr/ast"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
)

// Program is a project compiled for running: every expression compiled once,
// every mapping resolved to one-way passes from a source to a destination.
type Program struct {
	Project *mappings.Project
	// Mappings are the one-way passes in run order: a mapping after those it
	// depends on; a bidirectional mapping contributes two passes, table to
	// integration first, as the product runs them.
	Mappings []*Mapping
}

// Mapping is one direction of a table mapping, compiled.
type Mapping struct {
	Def  *mappings.Mapping
	Name string
	// Direction is to_integration or from_integration: the way this pass flows.
	Direction mappings.Direction
	Source    Side
	Dest      Side
	// Fields flow from Source to Dest, in the order they were declared.
	Fields []FieldFlow
	// SourceIsTable is true when the table side is read and the integration
	// side written.
	SourceIsTable bool
	// Match lists the field pairs compared by match-based coupling, and
	// MatchGroups their indexes grouped by priority, lowest first.
	Match       []MatchPair
	MatchGroups [][]int
}

// MatchPair is one source field compared with one destination field.
type MatchPair struct {
	Source, Dest  string
	CaseSensitive bool
}

// Side is one end of a compiled mapping.
type Side struct {
	// Name is plan.SideTable or plan.SideIntegration.
	Name      string
	Connector string
	Entity    connectors.Entity
	// Filter selects the records that take part; nil means all. It is always
	// evaluated on every record read, also when part of it was pushed down.
	Filter *mappings.Program
	// Conjuncts are the operands of Filter's && chain, each offered as a
	// condition where that is safe. Which of them the side's connector
	// pushes down to the server is decided when reading (Engine.pushDown).
	Conjuncts []Conjunct
	// Select lists the fields to read; nil means all of them.
	Select []string
	// Display lists the fields reports show beside a record's id
	// (mappings.Side.Display); they are selected too.
	Display []string
	// BindsLookups is true when the side's connector takes lookups as
	// references to the target record (lookups: bind): apply writes them
	// as connectors.Reference values.
	BindsLookups bool
}

// FieldFlow computes one destination field from a source record.
type FieldFlow struct {
	// Def is the field mapping the flow is compiled from.
	Def   *mappings.Field
	Label string
	// Pos is where the field mapping is written.
	Pos mappings.Pos
	// Dest is the destination field written, as the mapping names it.
	Dest string
	// Source is the source field read; empty for a constant.
	Source string
	// SourceRead and DestRead are the names the two fields are read under:
	// a lookup's as its side's connector names it (connectors.LookupReader,
	// see Program.readLookupsWith), others' as the mapping does.
	SourceRead string
	DestRead   string
	// Transform, when set, computes the value from `value` and `record`.
	Transform *mappings.Program
	// Constant is written when HasConstant.
	Constant    any
	HasConstant bool
	// Lookup, when set, translates the value through another mapping's
	// couplings.
	Lookup *Lookup
	// Options, when set, translates the value (as text) to another value.
	Options    map[string]any
	Default    any
	HasDefault bool
	// NotNull never overwrites the destination with null.
	NotNull bool
	// ClearOnFailure writes null instead of failing the record when the
	// value cannot be computed.
	ClearOnFailure bool
	// CreateOnly writes the field only to records apply creates.
	CreateOnly bool
	// Both is true when the field flows both ways, so that a change on each
	// side is an update conflict.
	Both bool
}

// Lookup translates ids through the couplings of a mapping.
type Lookup struct {
	Mapping string
	// FromTable is true when the value is a table-side id to be translated
	// into the coupled integration-side id; false for the reverse.
	FromTable bool
	// BindSet, when the destination binds lookups, is the entity set the
	// translated id belongs to: apply writes a connectors.Reference to it.
	BindSet string
	// SourceSet is the entity set the source's ids belong to: the lookup
	// mapping's side on the source's side. A source record whose lookup
	// the connector says points elsewhere (a multi-table lookup) is not
	// translated.
	SourceSet string
}

// Compile checks the expressions and field flows of a loaded project and
// compiles them. It returns every problem found; the program is usable only
// if none of them is an error.
func Compile(p *mappings.Project) (*Program, mappings.Diagnostics) {
	var diags mappings.Diagnostics
	prog := &Program{Project: p}
	for _, m := range p.Ordered() {
		ways := []mappings.Direction{m.Direction}
		if m.Direction == mappings.Bidirectional {
			ways = []mappings.Direction{mappings.ToIntegration, mappings.FromIntegration}
		}
		for _, way := range ways {
			if cm := compilePass(p, m, way, &diags); cm != nil {
				prog.Mappings = append(prog.Mappings, cm)
			}
		}
	}
	checkClientKeys(p, &diags)
	diags.Sort()
	return prog, diags
}

// Passes returns the compiled passes of the named mapping, in run order.
func (p *Program) Passes(name string) []*Mapping {
	var out []*Mapping
	for _, m := range p.Mappings {
		if m.Name == name {
			out = append(out, m)
		}
	}
	return out
}

// bindsLookups reports whether the connector's type takes lookups as
// references to the target record (connectors.LookupBinder).
func bindsLookups(p *mappings.Project, connector string) bool {
	c := p.Connector(connector)
	if c == nil {
		return false
	}
	b, ok := connectors.SettingsOf[connectors.LookupBinder](&c.Config)
	return ok && b.BindsLookups()
}

// readLookupsWith names each lookup field as the connector of its side
// reads it (connectors.LookupReader; reader returns nil for a connector
// without it), in the field flows and in the fields to select. Names are
// computed from the mapping's, so calling it again changes nothing.
func (p *Program) readLookupsWith(reader func(connector string) connectors.LookupReader) {
	for _, m := range p.Mappings {
		for i := range m.Fields {
			f := &m.Fields[i]
			if f.Lookup == nil {
				continue
			}
			if f.Source != "" {
				f.SourceRead = m.Source.rename(f.SourceRead, lookupField(reader, m.Source, f.Source))
			}
			f.DestRead = m.Dest.rename(f.DestRead, lookupField(reader, m.Dest, f.Dest))
		}
	}
}

// lookupField is the name the lookup field of side s is read under.
func lookupField(reader func(string) connectors.LookupReader, s Side, field string) string {
	if r := reader(s.Connector); r != nil {
		return r.LookupField(s.Entity.Name, field)
	}
	return field
}

// rename replaces from with to in the fields s selects, and returns to.
func (s *Side) rename(from, to string) string {
	if from == to || s.Select == nil {
		return to
	}
	sel := slices.Clone(s.Select)
	for i, f := range sel {
		if f == from {
			sel[i] = to
		}
	}
	s.Select = dedupe(sel)
	return to
}

// compilePass compiles mapping m for one direction of flow, way.
func compilePass(p *mappings.Project, m *mappings.Mapping, way mappings.Direction, diags *mappings.Diagnostics) *Mapping {
	table := Side{Name: plan.SideTable, Connector: m.Table.Connector, BindsLookups: bindsLookups(p, m.Table.Connector), Display: m.Table.Display,
		Entity: connectors.Entity{Name: m.Table.Entity, Key: m.Table.Key, Modified: m.Table.Modified}}
	integ := Side{Name: plan.SideIntegration, Connector: m.Integration.Connector, BindsLookups: bindsLookups(p, m.Integration.Connector), Display: m.Integration.Display,
		Entity: connectors.Entity{Name: m.Integration.Entity, Key: m.Integration.Key, Modified: m.Integration.Modified}}
	cm := &Mapping{Def: m, Name: m.Name, Direction: way, SourceIsTable: way == mappings.ToIntegration}
	ok := true
	// Both sides' filters are compiled on the first pass only, so that an
	// error is reported once.
	report := way == m.Direction || way == mappings.ToIntegration
	compileFilter := func(e mappings.Expr, s *Side, def mappings.Side, what string) []string {
		if e.IsZero() {
			return []string{}
		}
		prog, d := mappings.CompileFilter(e)
		if d != nil {
			if report {
				d.Message = fmt.Sprintf("mapping %s: %s", m.Name, d.Message)
				*diags = append(*diags, *d)
			}
			ok = false
			return nil
		}
		s.Filter = prog
		s.Conjuncts = splitFilter(e.Source)
		fields := identifiers(prog)
		for _, f := range fields {
			if msg := def.KnownField(f); msg != "" {
				if report {
					diags.Errorf(e.Pos, "mapping %s: %s reads %q, which %s", m.Name, what, f, msg)
				}
				ok = false
			}
		}
		return fields
	}
	tableFilterFields := compileFilter(m.Filter, &table, m.Table, "filter")
	intFilterFields := compileFilter(m.IntegrationFilter, &integ, m.Integration, "integration_filter")
	srcDef, dstDef := m.Table, m.Integration
	if !cm.SourceIsTable {
		srcDef, dstDef = m.Integration, m.Table
	}
	if cm.SourceIsTable {
		cm.Source, cm.Dest = table, integ
	} else {
		cm.Source, cm.Dest = integ, table
	}

	srcSelect, dstSelect := tableFilterFields, intFilterFields
	if !cm.SourceIsTable {
		srcSelect, dstSelect = intFilterFields, tableFilterFields
	}
	readsWholeRecord := srcSelect == nil
	for _, f := range m.Fields {
		if !f.Enabled {
			continue
		}
		dir := f.Direction
		if dir == "" {
			dir = m.Direction
		}
		src, dst, transform, other := f.Field, f.IntegrationField, f.ToIntegration, f.FromIntegration
		if !cm.SourceIsTable {
			src, dst, transform, other = f.IntegrationField, f.Field, f.FromIntegration, f.ToIntegration
		}
		if !dir.Flows(way) {
			continue
		}
		if !other.IsZero() && !dir.Flows(opposite(way)) && report {
			diags.Warnf(other.Pos, "mapping %s, field %s: this transform is never used: the field flows %s only", m.Name, f.Label(), dir)
		}
		if dst == "" {
			if f.HasConstant {
				diags.Errorf(f.Pos, "mapping %s, field %s: the constant is on the source side of the %s flow, so it is never written; give the field direction %s", m.Name, f.Label(), way, opposite(way))
				ok = false
			}
			continue
		}
		flow := FieldFlow{Def: f, Label: f.Label(), Pos: f.Pos, Dest: dst, Source: src, Constant: f.Constant, HasConstant: f.HasConstant,
			Options: normalizeOptionKeys(f.Options), Default: f.Default, HasDefault: f.HasDefault, NotNull: f.NotNull, ClearOnFailure: f.ClearOnFailure, CreateOnly: f.CreateOnly,
			Both: dir == mappings.Bidirectional}
		if f.Lookup != "" {
			flow.Lookup = &Lookup{Mapping: f.Lookup, FromTable: cm.SourceIsTable}
			if target := p.Mapping(f.Lookup); target != nil {
				destSet, srcSet := target.Integration.Entity, target.Table.Entity
				if !cm.SourceIsTable {
					destSet, srcSet = srcSet, destSet
				}
				flow.Lookup.SourceSet = srcSet
				if cm.Dest.BindsLookups {
					flow.Lookup.BindSet = destSet
				}
			}
		}
		if !transform.IsZero() {
			prog, d := mappings.CompileTransform(transform)
			if d != nil {
				d.Message = fmt.Sprintf("mapping %s, field %s: %s", m.Name, f.Label(), d.Message)
				*diags = append(*diags, *d)
				ok = false
				continue
			}
			flow.Transform = prog
			fields, dynamic := recordFields(prog)
			for _, rf := range fields {
				if msg := srcDef.KnownField(rf); msg != "" {
					diags.Errorf(transform.Pos, "mapping %s, field %s: the transform reads record.%s, which %s", m.Name, f.Label(), rf, msg)
					ok = false
				}
			}
			readsWholeRecord = readsWholeRecord || dynamic
			srcSelect = append(srcSelect, fields...)
		}
		// Where the project declares the fields' types, what is written
		// is checked against them; online, $metadata says (online.go).
		if !checkWrite(diags, cm, flow, dstDef.FieldType(dst), srcDef.FieldType) {
			ok = false
		}
		flow.DestRead = dst
		if src != "" {
			flow.SourceRead = src
			srcSelect = append(srcSelect, flow.SourceRead)
		}
		dstSelect = append(dstSelect, flow.DestRead)
		cm.Fields = append(cm.Fields, flow)
	}
	if len(cm.Fields) == 0 && ok {
		if m.Direction == mappings.Bidirectional {
			diags.Warnf(m.Pos, "mapping %s is bidirectional but no field flows %s; that pass is skipped", m.Name, way)
		} else {
			diags.Errorf(m.Pos, "mapping %s: no field is written in direction %s", m.Name, way)
		}
		ok = false
	}
	if !ok {
		return nil
	}
	if m.Match != nil {
		byPriority := map[int][]int{}
		var priorities []int
		for _, mf := range m.Match.Fields {
			pair := MatchPair{Source: mf.Field, Dest: mf.IntegrationField, CaseSensitive: mf.CaseSensitive}
			if !cm.SourceIsTable {
				pair.Source, pair.Dest = mf.IntegrationField, mf.Field
			}
			if _, seen := byPriority[mf.Priority]; !seen {
				priorities = append(priorities, mf.Priority)
			}
			byPriority[mf.Priority] = append(byPriority[mf.Priority], len(cm.Match))
			cm.Match = append(cm.Match, pair)
			srcSelect = append(srcSelect, pair.Source)
			dstSelect = append(dstSelect, pair.Dest)
		}
		slices.Sort(priorities)
		for _, p := range priorities {
			cm.MatchGroups = append(cm.MatchGroups, byPriority[p])
		}
	}
	if !readsWholeRecord {
		cm.Source.Select = dedupe(append(srcSelect, cm.Source.Display...))
	}
	if dstSelect != nil {
		cm.Dest.Select = dedupe(append(dstSelect, cm.Dest.Display...))
	}
	return cm
}

// normalizeOptionKeys writes numeric option keys in canonical form, so that
// a key written 1.0 or 01 matches the value 1.
func normalizeOptionKeys(opts map[string]any) map[string]any {
	if opts == nil {
		return nil
	}
	out := make(map[string]any, len(opts))
	for k, v := range opts {
		if _, err := strconv.ParseFloat(k, 64); err == nil && json.Valid([]byte(k)) {
			k = canonicalNumber(k)
		}
		out[k] = v
	}
	return out
}

func opposite(way mappings.Direction) mappings.Direction {
	if way == mappings.ToIntegration {
		return mappings.FromIntegration
	}
	return mappings.ToIntegration
}

func dedupe(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// identifiers returns the variables a filter reads, which are record fields.
// It returns nil when the filter reads fields it cannot name in advance.
func identifiers(p *mappings.Program) []string {
	v := &identVisitor{callees: map[*ast.IdentifierNode]bool{}}
	node := p.Node()
	ast.Walk(&node, v)
	out := []string{}
	for _, id := range v.idents {
		// Names declared with let are the expression's own, not fields.
		if !v.callees[id] && !v.declared[id.Value] {
			out = append(out, id.Value)
		}
	}
	return out
}

type identVisitor struct {
	idents   []*ast.IdentifierNode
	callees  map[*ast.IdentifierNode]bool
	declared map[string]bool
}

func (v *identVisitor) Visit(n *ast.Node) {
	switch n := (*n).(type) {
	case *ast.VariableDeclaratorNode:
		if v.declared == nil {
			v.declared = map[string]bool{}
		}
		v.declared[n.Name] = true
	case *ast.IdentifierNode:
		v.idents = append(v.idents, n)
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			v.callees[id] = true
		}
	}
}

// recordFields returns the fields a transform reads as record.<name>, and
// whether it also reads the record in a way that cannot be named in advance
// (record[expr], or the record passed whole to a function).
func recordFields(p *mappings.Program) (fields []string, dynamic bool) {
	v := &recordVisitor{}
	node := p.Node()
	ast.Walk(&node, v)
	return v.fields, v.uses > len(v.fields)
}

type recordVisitor struct {
	fields []string
	uses   int
}

func (v *recordVisitor) Visit(n *ast.Node) {
	switch n := (*n).(type) {
	case *ast.IdentifierNode:
		if n.Value == "record" {
			v.uses++
		}
	case *ast.MemberNode:
		id, isIdent := n.Node.(*ast.IdentifierNode)
		prop, isString := n.Property.(*ast.StringNode)
		if isIdent && isString && id.Value == "record" {
			v.fields = append(v.fields, prop.Value)
		}
	}
}
