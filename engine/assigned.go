package engine

import (
	"encoding/json"

	"github.com/couplerhq/coupler/connectors"
	"github.com/couplerhq/coupler/engine/state"
)

// A service may fill in a field that coupler created a record without: a
// Business Central customer made from an account without a number is
// numbered from its number series. When the field flows both ways, the
// value belongs on the side the record came from too. Apply notes such
// fields with the coupling (state.AssignedField, from the record the
// create answered with, or read back when settling), and the next plan
// writes each back as an ordinary update of the other pass, while the
// first pass does not write the source's blank over it. docs/sync-semantics.md
// says the same for users.

// twoWayField is a field of a pass that flows both ways, as apply looks
// for a value the destination's service assigned to it.
type twoWayField struct {
	// dest is the field as a write names it, destRead as the record read
	// back holds it, source the source record's field the value goes back to.
	dest, destRead, source string
}

// twoWayFields returns the fields of one pass of a mapping that flow both
// ways from a source field, lookups and constants aside (an id or a
// constant is never the service's to assign).
func (e *Engine) twoWayFields(mapping, direction string) []twoWayField {
	var out []twoWayField
	for _, m := range e.prog.Mappings {
		if m.Name != mapping || string(m.Direction) != direction {
			continue
		}
		for _, f := range m.Fields {
			if f.Both && f.Lookup == nil && !f.HasConstant && f.Source != "" {
				out = append(out, twoWayField{dest: f.Dest, destRead: f.DestRead, source: f.Source})
			}
		}
	}
	return out
}

// assignedFields returns the fields of fields that a create wrote blank or
// left out and that rec, the record as created, holds text in: its
// service assigned them. Text only: a number series makes codes, while a
// service that turns a null number into 0 assigns nothing of note.
func assignedFields(fields []twoWayField, written, rec connectors.Record) []state.AssignedField {
	if rec == nil {
		return nil
	}
	var out []state.AssignedField
	for _, f := range fields {
		if v, ok := written[f.dest]; ok && v != nil && v != "" {
			continue
		}
		if s, ok := rec[f.destRead].(string); !ok || s == "" {
			continue
		}
		out = append(out, state.AssignedField{Field: f.dest, OtherField: f.source})
	}
	return out
}

// assignedByIntent is assignedFields for a create settled from its intent:
// the fields it wrote are the intent's JSON.
func assignedByIntent(fields []twoWayField, in state.Intent, rec connectors.Record) []state.AssignedField {
	if len(fields) == 0 || rec == nil {
		return nil
	}
	var written connectors.Record
	if json.Unmarshal([]byte(in.Fields), &written) != nil {
		return nil
	}
	return assignedFields(fields, written, rec)
}
