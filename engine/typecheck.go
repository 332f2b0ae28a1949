package engine

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/couplerhq/coupler/mappings"
)

// checkWrite checks what flow f of pass m writes against the type of its
// destination field, dstType (an EDM type, "" when not known), as
// validate does offline from the types the project declares and online
// from $metadata. srcType gives a source field's type, "" when not known.
// Each value that can only be of a kind the field does not take (text to
// a decimal, a number to text) is an error where it is written, with the
// conversion to use where one exists; a value that may fit is never
// reported. It returns false when it reported an error.
func checkWrite(diags *mappings.Diagnostics, m *Mapping, f FieldFlow, dstType string, srcType func(field string) string) bool {
	if f.Lookup != nil || dstType == "" || f.Def == nil {
		return true // a lookup writes the id of a record: the key's type
	}
	before := len(*diags)
	dest := fmt.Sprintf("%s on %s %s is %s", f.Dest, m.Dest.Connector, m.Dest.Entity.Name, dstType)
	report := func(pos mappings.Pos, what, hint string) {
		msg := fmt.Sprintf("mapping %s, field %s: %s, and %s", m.Name, f.Label, what, dest)
		if hint != "" {
			msg += " (" + hint + ")"
		}
		diags.Errorf(pos, "%s", msg)
	}
	// value checks a value written as it is; what says what it is, from
	// its literal and its kind ("a string").
	value := func(pos mappings.Pos, v any, what func(lit, kind string) string) {
		if k := mappings.ValueKinds(v); !mappings.Fits(k, dstType) {
			report(pos, what(constantText(v), k.String()), rewrite(v, dstType))
		}
	}
	switch {
	case f.HasConstant:
		value(f.Def.ConstantPos, f.Constant, func(lit, kind string) string { return "the constant " + lit + " is " + kind })
	case f.Options != nil:
		for _, k := range slices.Sorted(maps.Keys(f.Def.Options)) {
			value(f.Def.OptionPos[k], f.Def.Options[k], func(lit, kind string) string {
				return fmt.Sprintf("the option %q gives the %s %s", k, strings.TrimPrefix(kind, "a "), lit)
			})
		}
		if f.HasDefault {
			value(f.Def.DefaultPos, f.Default, func(lit, kind string) string { return "the default " + lit + " is " + kind })
		}
	case f.Transform != nil:
		got := f.Transform.Gives(func(name string) mappings.Kinds {
			if name == "value" {
				if f.Source == "" {
					return mappings.KindNull // a field mapping without a source field
				}
				return mappings.ReadKinds(srcType(f.Source))
			}
			if field, ok := strings.CutPrefix(name, "record."); ok {
				return mappings.ReadKinds(srcType(field))
			}
			return 0
		})
		if !mappings.Fits(got, dstType) {
			hint := ""
			if c := mappings.Conversion(f.Transform.Source(), got, dstType); c != "" {
				hint = "convert it: " + c
			}
			pos := f.Def.ToIntegration.Pos
			if !m.SourceIsTable {
				pos = f.Def.FromIntegration.Pos
			}
			report(pos, fmt.Sprintf("the %s transform gives %s", m.Direction, got), hint)
		}
	case f.Source != "":
		st := srcType(f.Source)
		if got := mappings.ReadKinds(st); got != 0 && !mappings.Fits(got, dstType) {
			hint := ""
			if c := mappings.Conversion("value", got, dstType); c != "" {
				hint = fmt.Sprintf("convert it: %s: %s", m.Direction, c)
			}
			report(f.Pos, fmt.Sprintf("%s on %s %s is %s", f.Source, m.Source.Connector, m.Source.Entity.Name, st), hint)
		}
	}
	return len(*diags) == before
}

// constantText writes a constant as the mapping file would.
func constantText(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// rewrite proposes a constant of the kind a field of type edm takes, when
// v is one written as the wrong kind: "3" for a number, 3 for text.
func rewrite(v any, edm string) string {
	switch v := v.(type) {
	case string:
		if _, err := strconv.ParseFloat(v, 64); err == nil && json.Valid([]byte(v)) && mappings.Fits(mappings.KindNumber, edm) {
			return "write it as a number: " + v
		}
		if (v == "true" || v == "false") && mappings.Fits(mappings.KindBool, edm) {
			return "write it as a boolean: " + v
		}
	case json.Number, bool:
		if mappings.Fits(mappings.KindString, edm) {
			return "write it as text: " + strconv.Quote(fmt.Sprint(v))
		}
	}
	return ""
}
