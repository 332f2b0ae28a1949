package fake

import (
	"strings"
	"time"
)

// expr is a node of a parsed $filter.
type expr interface {
	// eval computes the node for one record. Conditions yield true, false
	// or null (unknown), with SQL's three-valued logic.
	eval(e *entry) value
	typ() staticType
	pos() int
}

// staticType is what a node is known to yield before evaluation, used to
// reject nonsense such as `'a' and 1` at parse time.
type staticType uint8

const (
	typeAny staticType = iota // a field: anything
	typeBool
	typeString
	typeNumber
	typeTime
	typeGUID
	typeNull
)

func (t staticType) String() string {
	return [...]string{"field", "condition", "string", "number", "datetime", "guid", "null"}[t]
}

func (t staticType) stringish() bool {
	return t == typeAny || t == typeString || t == typeGUID || t == typeNull
}

// matches reports whether x holds for e; null counts as false.
func matches(x expr, e *entry) bool {
	v := x.eval(e)
	return v.k == kindBool && v.b
}

type litNode struct {
	at int
	v  value
}

func (n *litNode) eval(*entry) value { return n.v }
func (n *litNode) pos() int          { return n.at }
func (n *litNode) typ() staticType {
	return [...]staticType{
		kindNull: typeNull, kindBool: typeBool, kindNumber: typeNumber, kindTime: typeTime,
		kindGUID: typeGUID, kindString: typeString, kindRaw: typeAny,
	}[n.v.k]
}

type fieldNode struct {
	at       int
	name     string
	col      int  // -1: no such field, always null
	modified bool // the server-stamped field, read from entry.modified
}

func (n *fieldNode) eval(e *entry) value {
	if n.modified {
		return value{k: kindTime, t: time.Unix(0, e.modified).UTC()}
	}
	return literalValue(e.literal(n.col))
}
func (n *fieldNode) pos() int        { return n.at }
func (n *fieldNode) typ() staticType { return typeAny }

type notNode struct {
	at int
	x  expr
}

func (n *notNode) eval(e *entry) value {
	v := n.x.eval(e)
	if v.k != kindBool {
		return nullValue
	}
	return boolValue(!v.b)
}
func (n *notNode) pos() int        { return n.at }
func (n *notNode) typ() staticType { return typeBool }

type logicNode struct {
	at   int
	and  bool
	l, r expr
}

func (n *logicNode) eval(e *entry) value {
	l := n.l.eval(e)
	// Short-circuit: false and x, true or x.
	if l.k == kindBool && l.b != n.and {
		return l
	}
	r := n.r.eval(e)
	if r.k == kindBool && r.b != n.and {
		return r
	}
	if l.k == kindBool && r.k == kindBool {
		return l // both are the identity of the operator
	}
	return nullValue
}
func (n *logicNode) pos() int        { return n.at }
func (n *logicNode) typ() staticType { return typeBool }

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opGt
	opGe
	opLt
	opLe
)

type cmpNode struct {
	at   int
	op   cmpOp
	l, r expr
}

func (n *cmpNode) eval(e *entry) value { return compareOp(n.op, n.l.eval(e), n.r.eval(e)) }
func (n *cmpNode) pos() int            { return n.at }
func (n *cmpNode) typ() staticType     { return typeBool }

// compareOp applies a comparison with OData's null rules: null eq null is
// true, null ne x is true, and any ordering involving null is false. Values
// that cannot be compared are simply unequal.
func compareOp(op cmpOp, a, b value) value {
	if a.k == kindNull || b.k == kindNull {
		both := a.k == b.k
		switch op {
		case opEq:
			return boolValue(both)
		case opNe:
			return boolValue(!both)
		}
		return falseValue
	}
	c, ok := compareValues(a, b)
	if !ok {
		return boolValue(op == opNe)
	}
	switch op {
	case opEq:
		return boolValue(c == 0)
	case opNe:
		return boolValue(c != 0)
	case opGt:
		return boolValue(c > 0)
	case opGe:
		return boolValue(c >= 0)
	case opLt:
		return boolValue(c < 0)
	}
	return boolValue(c <= 0)
}

type inNode struct {
	at   int
	x    expr
	list []value
}

func (n *inNode) eval(e *entry) value {
	v := n.x.eval(e)
	for _, item := range n.list {
		if r := compareOp(opEq, v, item); r.b {
			return trueValue
		}
	}
	return falseValue
}
func (n *inNode) pos() int        { return n.at }
func (n *inNode) typ() staticType { return typeBool }

// function describes a built-in $filter function.
type function struct {
	arity  int
	result staticType
	apply  func(args []value) value // args are already evaluated
}

var functions = map[string]function{
	"startswith": {2, typeBool, stringPredicate(strings.HasPrefix)},
	"endswith":   {2, typeBool, stringPredicate(strings.HasSuffix)},
	"contains":   {2, typeBool, stringPredicate(strings.Contains)},
	"tolower":    {1, typeString, stringMap(strings.ToLower)},
	"toupper":    {1, typeString, stringMap(strings.ToUpper)},
	"trim":       {1, typeString, stringMap(func(s string) string { return strings.Trim(s, " \t\r\n") })},
}

// stringPredicate lifts a two-string test to values: null when either
// argument is not a string.
func stringPredicate(f func(s, sub string) bool) func([]value) value {
	return func(args []value) value {
		s, ok1 := args[0].asString()
		sub, ok2 := args[1].asString()
		if !ok1 || !ok2 {
			return nullValue
		}
		return boolValue(f(s, sub))
	}
}

// stringMap lifts a string transformation to values: null for non-strings.
func stringMap(f func(string) string) func([]value) value {
	return func(args []value) value {
		s, ok := args[0].asString()
		if !ok {
			return nullValue
		}
		return value{k: kindString, s: f(s)}
	}
}

type callNode struct {
	at   int
	name string
	fn   function
	args []expr
}

func (n *callNode) eval(e *entry) value {
	var buf [2]value
	args := buf[:0]
	for _, a := range n.args {
		args = append(args, a.eval(e))
	}
	return n.fn.apply(args)
}
func (n *callNode) pos() int        { return n.at }
func (n *callNode) typ() staticType { return n.fn.result }

// keyCandidates reports the only keys a record can have to match x, when x
// pins the key with eq or in (possibly combined with or, or and-ed with
// other conditions). Reads then look those keys up instead of scanning the
// set, which keeps the engine's "fetch these ids" requests cheap.
func keyCandidates(x expr, keyCol int) ([]string, bool) {
	switch n := x.(type) {
	case *cmpNode:
		if n.op != opEq {
			return nil, false
		}
		f, lit := fieldAndLiteral(n.l, n.r)
		if f == nil || f.modified || f.col != keyCol {
			return nil, false
		}
		return keyFromValues([]value{lit.v})
	case *inNode:
		f, ok := n.x.(*fieldNode)
		if !ok || f.modified || f.col != keyCol {
			return nil, false
		}
		return keyFromValues(n.list)
	case *logicNode:
		l, lok := keyCandidates(n.l, keyCol)
		r, rok := keyCandidates(n.r, keyCol)
		if n.and {
			switch {
			case lok && rok && len(r) < len(l):
				return r, true
			case lok:
				return l, true
			}
			return r, rok
		}
		if lok && rok {
			return append(l, r...), true
		}
	}
	return nil, false
}

// fieldAndLiteral returns the field and the literal of a comparison written
// either way round.
func fieldAndLiteral(a, b expr) (*fieldNode, *litNode) {
	if f, ok := a.(*fieldNode); ok {
		if l, ok := b.(*litNode); ok {
			return f, l
		}
	}
	if f, ok := b.(*fieldNode); ok {
		if l, ok := a.(*litNode); ok {
			return f, l
		}
	}
	return nil, nil
}

// keyFromValues turns key literals into normalised keys. Keys are strings,
// so a literal that is not a string or a GUID matches no key; null matches
// none either.
func keyFromValues(vs []value) ([]string, bool) {
	keys := make([]string, 0, len(vs))
	for _, v := range vs {
		if s, ok := v.asString(); ok {
			keys = append(keys, normKey(s))
		}
	}
	return keys, true
}
