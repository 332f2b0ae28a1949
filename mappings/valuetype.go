package mappings

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
)

// Kinds is a set of the kinds of value an expression may give, as far as
// validate can tell without running it. It is what checks a filter against
// a boolean and a field mapping against the type of the field it writes:
// they report a problem only when no kind in the set would do, so that an
// expression whose result depends on the record is never reported.
type Kinds uint16

// The kinds of value.
const (
	KindNull Kinds = 1 << iota
	KindString
	KindNumber
	KindBool
	KindTime     // date(...), now()
	KindDuration // duration(...), a difference of times
	KindList
	KindMap

	// JSONKinds are the kinds a value read from a service may be: what a
	// field of unknown type gives.
	JSONKinds = KindNull | KindString | KindNumber | KindBool | KindList | KindMap
	// AnyKind is every kind: nothing is known.
	AnyKind = JSONKinds | KindTime | KindDuration
)

// kindNames name the kinds in messages, in this order ("a number or a
// string").
var kindNames = []struct {
	k    Kinds
	name string
}{
	{KindNumber, "a number"}, {KindString, "a string"}, {KindBool, "a boolean"}, {KindTime, "a time"},
	{KindDuration, "a duration"}, {KindList, "a list"}, {KindMap, "a map"},
}

// String names the kinds other than null, "a number or a string", or
// "null" when null is all there is.
func (k Kinds) String() string {
	var names []string
	for _, n := range kindNames {
		if k&n.k != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		if k&KindNull != 0 {
			return "null"
		}
		return "nothing"
	}
	return strings.Join(names, " or ")
}

// Gives returns the kinds of value the expression may give. ref returns
// the kinds of a name the expression reads ("value", "record.city", or a
// filter's field), 0 when they are not known; nil knows none.
func (p *Program) Gives(ref func(name string) Kinds) Kinds {
	return gives(p.Node(), ref)
}

// gives infers what n may give: from the structure where it decides (a
// conditional gives either branch, null included, which the checker's
// type leaves out), else from the checker's type where it is concrete,
// else from coupler's functions and the operators.
func gives(n ast.Node, ref func(string) Kinds) Kinds {
	switch n := n.(type) {
	case *ast.NilNode:
		return KindNull
	case *ast.ConditionalNode:
		return gives(n.Exp1, ref) | gives(n.Exp2, ref)
	case *ast.VariableDeclaratorNode:
		value := gives(n.Value, ref)
		return gives(n.Expr, func(name string) Kinds {
			if name == n.Name {
				return value
			}
			return refKinds(ref, name)
		})
	case *ast.ChainNode:
		return gives(n.Node, ref) | KindNull
	case *ast.BinaryNode:
		if n.Operator == "??" {
			left := gives(n.Left, ref)
			if left&KindNull == 0 {
				return left
			}
			return left&^KindNull | gives(n.Right, ref)
		}
	}
	if k, ok := typeKinds(n.Type()); ok {
		if b, ok := n.(*ast.BuiltinNode); ok && mayBeNil[b.Name] {
			k |= KindNull
		}
		return k
	}
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return refKinds(ref, n.Value)
	case *ast.MemberNode:
		id, isIdent := n.Node.(*ast.IdentifierNode)
		prop, isString := n.Property.(*ast.StringNode)
		if isIdent && isString && id.Value == "record" {
			return refKinds(ref, "record."+prop.Value)
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			if id.Value == addFunc && len(n.Arguments) == 2 {
				// + as budgetPatcher rewrote it.
				return binaryGives(&ast.BinaryNode{Operator: "+", Left: n.Arguments[0], Right: n.Arguments[1]}, ref)
			}
			return callGives(id.Value, n.Arguments, ref)
		}
	case *ast.BinaryNode:
		return binaryGives(n, ref)
	case *ast.UnaryNode:
		switch n.Operator {
		case "!", "not":
			return KindBool
		case "-", "+":
			return KindNumber | gives(n.Node, ref)&KindDuration
		}
	case *ast.ArrayNode:
		return KindList
	case *ast.MapNode:
		return KindMap
	}
	return AnyKind
}

// mayBeNil are the builtins whose typed result is nil when nothing is
// there: first of an empty list, a missing key.
var mayBeNil = map[string]bool{"first": true, "last": true, "get": true, "find": true, "findLast": true}

// refKinds asks ref for name; a name it does not know is a value read
// from a service.
func refKinds(ref func(string) Kinds, name string) Kinds {
	if ref != nil {
		if k := ref(name); k != 0 {
			return k
		}
	}
	return JSONKinds
}

// callGives is what one of coupler's functions gives: what funcDefs says,
// or null, since null passes through; coalesce gives one of its arguments.
func callGives(name string, args []ast.Node, ref func(string) Kinds) Kinds {
	i := slices.IndexFunc(funcDefs, func(d funcDef) bool { return d.name == name })
	if i < 0 {
		return AnyKind
	}
	if name == "coalesce" {
		out, null := Kinds(0), KindNull
		for _, a := range args {
			k := gives(a, ref)
			out |= k &^ KindNull
			null &= k
		}
		return out | null
	}
	return funcDefs[i].gives | KindNull
}

// binaryGives is what an operator gives when its operands' types are not
// concrete. Values read from a service are never times or durations, so
// arithmetic on them gives a number, or fails.
func binaryGives(n *ast.BinaryNode, ref func(string) Kinds) Kinds {
	switch n.Operator {
	case "==", "!=", "<", ">", "<=", ">=", "&&", "||", "and", "or", "in", "not in",
		"matches", "contains", "startsWith", "endsWith", "not matches", "not contains", "not startsWith", "not endsWith":
		return KindBool
	case "..":
		return KindList
	}
	left, right := gives(n.Left, ref)&^KindNull, gives(n.Right, ref)&^KindNull
	either := left | right
	timeish := either & (KindTime | KindDuration)
	if n.Operator != "+" {
		return KindNumber | timeish
	}
	switch {
	case left == KindString || right == KindString:
		return KindString // concatenation, or it fails
	case left == KindNumber && right == KindNumber:
		return KindNumber
	}
	out := KindNumber | KindString | timeish
	if left&KindList != 0 && right&KindList != 0 {
		out |= KindList
	}
	return out
}

var (
	timeType     = reflect.TypeOf(time.Time{})
	durationType = reflect.TypeOf(time.Duration(0))
)

// typeKinds maps a type the checker inferred to its kinds; ok is false
// when it is not concrete (any).
func typeKinds(t reflect.Type) (Kinds, bool) {
	if t == nil {
		return 0, false
	}
	switch t {
	case timeType:
		return KindTime, true
	case durationType:
		return KindDuration, true
	}
	switch t.Kind() {
	case reflect.String:
		return KindString, true
	case reflect.Bool:
		return KindBool, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return KindNumber, true
	case reflect.Slice, reflect.Array:
		return KindList, true
	case reflect.Map:
		return KindMap, true
	}
	return 0, false
}

// ValueKinds is the kind of a constant, option value or default as the
// loader decodes it.
func ValueKinds(v any) Kinds {
	switch v.(type) {
	case nil:
		return KindNull
	case string:
		return KindString
	case json.Number, float64, int, int64:
		return KindNumber
	case bool:
		return KindBool
	}
	return AnyKind
}

// edmType is what validate knows of an OData primitive type: the kinds a
// field of it is read as, and those it takes when written.
type edmType struct {
	reads, takes Kinds
	// integer is true for whole-number types, converted with int().
	integer bool
}

// edmTypes are the OData primitive types ("OData Common Schema Definition
// Language", primitive types) a field may be declared with. Text is the
// wire form of GUIDs, dates and times, which the connector writes as it
// gets them; a time an expression computes is written as RFC 3339 text,
// a duration as its nanoseconds (engine's canonical). Numbers, Edm.Int64
// and Edm.Decimal included, are JSON numbers both ways: coupler never asks
// for IEEE754Compatible=true, and "if not specified, or specified as
// IEEE754Compatible=false, all numbers MUST be serialized as JSON numbers"
// (OData JSON Format, section 4.1 "Header Content-Type"; Microsoft.OData
// CsdlJsonWriterSettings.IsIeee754Compatible).
var edmTypes = map[string]edmType{
	"Edm.String":         {KindString, KindString | KindTime, false},
	"Edm.Boolean":        {KindBool, KindBool, false},
	"Edm.Byte":           {KindNumber, KindNumber | KindDuration, true},
	"Edm.SByte":          {KindNumber, KindNumber | KindDuration, true},
	"Edm.Int16":          {KindNumber, KindNumber | KindDuration, true},
	"Edm.Int32":          {KindNumber, KindNumber | KindDuration, true},
	"Edm.Int64":          {KindNumber, KindNumber | KindDuration, true},
	"Edm.Decimal":        {KindNumber, KindNumber | KindDuration, false},
	"Edm.Double":         {KindNumber, KindNumber | KindDuration, false},
	"Edm.Single":         {KindNumber, KindNumber | KindDuration, false},
	"Edm.Guid":           {KindString, KindString, false},
	"Edm.Date":           {KindString, KindString | KindTime, false},
	"Edm.DateTimeOffset": {KindString, KindString | KindTime, false},
	"Edm.TimeOfDay":      {KindString, KindString | KindTime, false},
	"Edm.Duration":       {KindString, KindString, false},
	"Edm.Binary":         {KindString, KindString, false},
}

// EDMTypes lists the EDM types a declared field may have, sorted.
func EDMTypes() []string {
	out := make([]string, 0, len(edmTypes))
	for t := range edmTypes {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// ReadKinds is what a field of EDM type edm is read as, null included; 0
// when the type is not one validate knows (an enum, a complex type).
func ReadKinds(edm string) Kinds {
	if t, ok := edmTypes[edm]; ok {
		return t.reads | KindNull
	}
	return 0
}

// Fits reports whether a value of kinds got may be written to a field of
// EDM type edm: false only when it can give no kind the field takes. Null
// fits every field; a type validate does not know takes anything.
func Fits(got Kinds, edm string) bool {
	t, ok := edmTypes[edm]
	if !ok {
		return true
	}
	nonNull := got &^ KindNull
	return nonNull == 0 || nonNull&t.takes != 0
}

// simpleExpr is an expression that needs no parentheses as an operand.
var simpleExpr = regexp.MustCompile(`^[A-Za-z_][\w.]*(\(.*\))?$`)

// Conversion returns an expression that converts the result of expression
// x, of kinds got, into a value a field of EDM type edm takes; "" when
// there is none. Where x may be null and the conversion would not pass it
// through (float(nil) fails, string(nil) gives "<nil>"), it is guarded.
func Conversion(x string, got Kinds, edm string) string {
	t, ok := edmTypes[edm]
	nonNull := got &^ KindNull
	if !ok || nonNull == 0 {
		return ""
	}
	operand := x
	if !simpleExpr.MatchString(x) {
		operand = "(" + x + ")"
	}
	var conv string
	switch {
	case t.takes&KindNumber != 0 && nonNull == KindString:
		fn := "float"
		if t.integer {
			fn = "int"
		}
		conv = fn + "(" + x + ")"
	case t.takes&KindNumber != 0 && nonNull == KindBool:
		conv = operand + " ? 1 : 0"
	case t.takes&KindNumber != 0 && nonNull == KindTime:
		return "unix_time(" + x + ")" // it passes null through
	case edm == "Edm.String" && nonNull&^(KindNumber|KindBool) == 0:
		conv = "string(" + x + ")"
	case edm == "Edm.String" && nonNull&^(KindList|KindMap) == 0:
		conv = "toJSON(" + x + ")"
	case edm == "Edm.Boolean" && nonNull == KindNumber:
		conv = operand + " != 0"
	default:
		return ""
	}
	if got&KindNull == 0 {
		return conv
	}
	if strings.Contains(conv, "?") {
		conv = "(" + conv + ")"
	}
	return operand + " == nil ? nil : " + conv
}
