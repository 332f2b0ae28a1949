// Package engine turns a loaded project into synchronized systems, in the
// order of its files: compile (mappings -> Program), plan (read both sides,
// stage, diff in the state database), apply (write a saved plan, keeping
// couplings, watermarks and the run log).
package engine

import (
	"fmt"
	"slices"

	"github.com/expr-lang/expr/ast"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/plan"
	"github.com/couplerhq/coupler/mappings"
)

// Program is a project compiled for running: every expression compiled once,
// every mapping resolved to a source and a destination.
type Program struct {
	Project  *mappings.Project
	Mappings []*Mapping
}

// Mapping is a table mapping compiled for one direction of flow.
type Mapping struct {
	Def       *mappings.Mapping
	Name      string
	Direction mappings.Direction
	Source    Side
	Dest      Side
	// Fields flow from Source to Dest, in the order they were declared.
	Fields []FieldFlow
	// SourceIsTable is true when the table side is read and the integration
	// side written.
	SourceIsTable bool
}

// Side is one end of a compiled mapping.
type Side struct {
	// Name is plan.SideTable or plan.SideIntegration.
	Name      string
	Connector string
	Entity    connectors.Entity
	// Filter selects the records that take part; nil means all.
	Filter *mappings.Program
	// Select lists the fields to read; nil means all of them.
	Select []string
}

// FieldFlow computes one destination field from a source record.
type FieldFlow struct {
	Label string
	// Dest is the destination field written.
	Dest string
	// Source is the source field read; empty for a constant.
	Source string
	// Transform, when set, computes the value from `value` and `record`.
	Transform *mappings.Program
	// Constant is written when HasConstant.
	Constant    any
	HasConstant bool
}

// Compile checks the expressions and field flows of a loaded project and
// compiles them. It returns every problem found; the program is usable only
// if none of them is an error.
func Compile(p *mappings.Project) (*Program, mappings.Diagnostics) {
	var diags mappings.Diagnostics
	prog := &Program{Project: p}
	for _, m := range p.Mappings {
		if cm := compileMapping(m, &diags); cm != nil {
			prog.Mappings = append(prog.Mappings, cm)
		}
	}
	diags.Sort()
	return prog, diags
}

func compileMapping(m *mappings.Mapping, diags *mappings.Diagnostics) *Mapping {
	table := Side{Name: plan.SideTable, Connector: m.Table.Connector,
		Entity: connectors.Entity{Name: m.Table.Entity, Key: m.Table.Key, Modified: m.Table.Modified}}
	integ := Side{Name: plan.SideIntegration, Connector: m.Integration.Connector,
		Entity: connectors.Entity{Name: m.Integration.Entity, Key: m.Integration.Key, Modified: m.Integration.Modified}}
	cm := &Mapping{Def: m, Name: m.Name, Direction: m.Direction, SourceIsTable: m.Direction != mappings.FromIntegration}
	if cm.SourceIsTable {
		cm.Source, cm.Dest = table, integ
	} else {
		cm.Source, cm.Dest = integ, table
	}
	ok := true
	compileFilter := func(e mappings.Expr) (*mappings.Program, []string) {
		if e.IsZero() {
			return nil, []string{}
		}
		p, d := mappings.CompileFilter(e)
		if d != nil {
			d.Message = fmt.Sprintf("mapping %s: %s", m.Name, d.Message)
			*diags = append(*diags, *d)
			ok = false
			return nil, nil
		}
		return p, identifiers(p)
	}
	var tableFilterFields, intFilterFields []string
	table.Filter, tableFilterFields = compileFilter(m.Filter)
	integ.Filter, intFilterFields = compileFilter(m.IntegrationFilter)
	if cm.SourceIsTable {
		cm.Source.Filter, cm.Dest.Filter = table.Filter, integ.Filter
	} else {
		cm.Source.Filter, cm.Dest.Filter = integ.Filter, table.Filter
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
		src, dst, transform := f.Field, f.IntegrationField, f.ToIntegration
		other := f.FromIntegration
		if !cm.SourceIsTable {
			src, dst, transform, other = f.IntegrationField, f.Field, f.FromIntegration, f.ToIntegration
		}
		if !other.IsZero() {
			diags.Warnf(other.Pos, "mapping %s, field %s: this transform is never used in a %s mapping", m.Name, f.Label(), m.Direction)
		}
		if dst == "" {
			if f.HasConstant {
				diags.Errorf(f.Pos, "mapping %s, field %s: the constant is on the source side of a %s mapping, so it is never written", m.Name, f.Label(), m.Direction)
				ok = false
			}
			continue
		}
		flow := FieldFlow{Label: f.Label(), Dest: dst, Source: src, Constant: f.Constant, HasConstant: f.HasConstant}
		if !transform.IsZero() {
			p, d := mappings.CompileTransform(transform)
			if d != nil {
				d.Message = fmt.Sprintf("mapping %s, field %s: %s", m.Name, f.Label(), d.Message)
				*diags = append(*diags, *d)
				ok = false
				continue
			}
			flow.Transform = p
			fields, dynamic := recordFields(p)
			readsWholeRecord = readsWholeRecord || dynamic
			srcSelect = append(srcSelect, fields...)
		}
		if src != "" {
			srcSelect = append(srcSelect, src)
		}
		dstSelect = append(dstSelect, dst)
		cm.Fields = append(cm.Fields, flow)
	}
	if len(cm.Fields) == 0 && ok {
		diags.Errorf(m.Pos, "mapping %s: no field is written in direction %s", m.Name, m.Direction)
		ok = false
	}
	if !ok {
		return nil
	}
	if !readsWholeRecord {
		cm.Source.Select = dedupe(srcSelect)
	}
	if dstSelect != nil {
		cm.Dest.Select = dedupe(dstSelect)
	}
	return cm
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
		if !v.callees[id] {
			out = append(out, id.Value)
		}
	}
	return out
}

type identVisitor struct {
	idents  []*ast.IdentifierNode
	callees map[*ast.IdentifierNode]bool
}

func (v *identVisitor) Visit(n *ast.Node) {
	switch n := (*n).(type) {
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
