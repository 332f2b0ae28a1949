package mappings

import (
	"encoding/json"
	"testing"
)

// TestTransformGives: what a transform gives is known where the checker or
// coupler's functions say so, and left open (every kind) where it depends
// on a value only the record holds, so that validate never reports a
// mismatch it cannot be sure of.
func TestTransformGives(t *testing.T) {
	str := map[string]Kinds{"value": KindString | KindNull}
	num := map[string]Kinds{"value": KindNumber | KindNull, "record.price": KindNumber | KindNull}
	tests := []struct {
		src  string
		refs map[string]Kinds // kinds of value and record.x; nil: unknown
		want Kinds
	}{
		{`"3"`, nil, KindString},
		{`3`, nil, KindNumber},
		{`1.5`, nil, KindNumber},
		{`true`, nil, KindBool},
		{`nil`, nil, KindNull},
		{`trim(value)`, nil, KindString | KindNull},
		{`round(value, 0.01)`, nil, KindNumber | KindNull},
		{`regex_match(value, "\\d+")`, nil, KindString | KindNull},
		{`value == nil ? nil : lower(value)`, nil, KindString | KindNull},
		{`value == true ? 1 : 0`, nil, KindNumber},
		{`value == nil ? nil : int(round(value))`, nil, KindNumber | KindNull},
		{`coalesce(upper(value), "")`, nil, KindString},
		{`coalesce(value, "x")`, nil, JSONKinds &^ KindNull},
		{`trim(value) ?? ""`, nil, KindString},
		{`value ?? 1`, nil, JSONKinds &^ KindNull},
		{`value ?? 1`, num, KindNumber},
		{`record.number + " " + trim(record.name)`, nil, KindString},
		{`value + 1`, nil, KindNumber | KindString},
		{`value + 1`, num, KindNumber},
		{`value * 100`, nil, KindNumber},
		{`value == 1`, nil, KindBool},
		{`!value`, nil, KindBool},
		{`float(value)`, nil, KindNumber},
		{`string(value)`, nil, KindString},
		{`now()`, nil, KindTime},
		{`[1, 2]`, nil, KindList},
		{`value`, nil, JSONKinds},
		{`value`, str, KindString | KindNull},
		{`record.price`, num, KindNumber | KindNull},
		{`record.other`, num, JSONKinds},
		{`value?.x`, nil, AnyKind},
		{`first(split(value, ","))`, nil, KindString | KindNull},
		{`let x = trim(value); x`, nil, KindString | KindNull},
	}
	for _, tt := range tests {
		p, d := CompileTransform(Expr{Source: tt.src})
		if d != nil {
			t.Fatalf("%s: %v", tt.src, d)
		}
		ref := func(name string) Kinds { return tt.refs[name] }
		if got := p.Gives(ref); got != tt.want {
			t.Errorf("%s gives %v (%b), want %v (%b)", tt.src, got, got, tt.want, tt.want)
		}
	}
}

// TestFitsField: a value fits a field of an EDM type unless none of the
// kinds it may give is one the field takes; null fits every field, and a
// type validate does not know (an enum, a complex type) takes anything.
func TestFitsField(t *testing.T) {
	tests := []struct {
		got  Kinds
		edm  string
		want bool
	}{
		{KindString, "Edm.Decimal", false},
		{KindString | KindNull, "Edm.Int32", false},
		{KindNumber, "Edm.Decimal", true},
		{KindNumber, "Edm.Int32", true}, // a float to an integer: the service decides
		{KindNumber, "Edm.Double", true},
		{KindNumber, "Edm.String", false},
		{KindBool, "Edm.String", false},
		{KindString, "Edm.Guid", true},
		{KindString, "Edm.Date", true},
		{KindString, "Edm.DateTimeOffset", true},
		{KindTime, "Edm.DateTimeOffset", true},
		{KindTime, "Edm.Date", true},
		{KindTime, "Edm.Decimal", false},
		{KindNumber, "Edm.Guid", false},
		{KindString, "Edm.Boolean", false},
		{KindBool, "Edm.Boolean", true},
		{KindNull, "Edm.Decimal", true},
		{JSONKinds, "Edm.Decimal", true},
		{AnyKind, "Edm.Boolean", true},
		{KindNumber | KindString, "Edm.Boolean", false},
		{KindList, "Edm.String", false},
		{KindString, "Microsoft.NAV.customerBlocked", true},
		{KindString, "", true},
	}
	for _, tt := range tests {
		if got := Fits(tt.got, tt.edm); got != tt.want {
			t.Errorf("Fits(%v, %s) = %v, want %v", tt.got, tt.edm, got, tt.want)
		}
	}
}

// TestConversion: a mismatch suggests the conversion that exists for it,
// guarded against null where the conversion would not pass null through
// (float(nil) fails, string(nil) gives "<nil>").
func TestConversion(t *testing.T) {
	tests := []struct {
		x    string
		got  Kinds
		edm  string
		want string
	}{
		{"value", KindString | KindNull, "Edm.Decimal", "value == nil ? nil : float(value)"},
		{"trim(value)", KindString | KindNull, "Edm.Double", "trim(value) == nil ? nil : float(trim(value))"},
		{`record.a + "1"`, KindString, "Edm.Decimal", `float(record.a + "1")`},
		{"value", KindString | KindNull, "Edm.Int32", "value == nil ? nil : int(value)"},
		{"value", KindNumber | KindNull, "Edm.String", "value == nil ? nil : string(value)"},
		{"value == 1", KindBool, "Edm.String", "string(value == 1)"},
		{"value == 1", KindBool, "Edm.Int32", "(value == 1) ? 1 : 0"},
		{"value", KindBool | KindNull, "Edm.Int32", "value == nil ? nil : (value ? 1 : 0)"},
		{"value", KindNumber | KindNull, "Edm.Boolean", "value == nil ? nil : value != 0"},
		{"now()", KindTime, "Edm.Int64", "unix_time(now())"},
		{"split(value, \",\")", KindList, "Edm.String", "toJSON(split(value, \",\"))"},
		{"value", KindString | KindNull, "Edm.Boolean", ""},
		{"value", KindNumber, "Edm.Guid", ""},
	}
	for _, tt := range tests {
		if got := Conversion(tt.x, tt.got, tt.edm); got != tt.want {
			t.Errorf("Conversion(%s, %v, %s) = %q, want %q", tt.x, tt.got, tt.edm, got, tt.want)
		}
	}
}

// TestValueKinds: constants and option values are the kinds the loader
// decodes them as (numbers kept as json.Number).
func TestValueKinds(t *testing.T) {
	tests := []struct {
		v    any
		want Kinds
	}{
		{"3", KindString},
		{json.Number("3"), KindNumber},
		{true, KindBool},
		{nil, KindNull},
	}
	for _, tt := range tests {
		if got := ValueKinds(tt.v); got != tt.want {
			t.Errorf("ValueKinds(%#v) = %v, want %v", tt.v, got, tt.want)
		}
	}
}
