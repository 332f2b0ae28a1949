package connectors

import "slices"

// FilterPusher is implemented by connectors whose service can filter the
// records of a read itself, so that fewer records travel. The engine
// checks for it with a type assertion, as database/sql does for a
// driver's optional interfaces; a connector without it reads every record
// and the engine filters them.
//
// The engine offers a mapping's filter as the conditions that its &&
// chain joins, each translated into a Condition where that is safe (see
// Condition). The connector translates those its service can evaluate into
// a filter in its own language and names the others, which the engine
// evaluates alone. Whatever is pushed, the engine still evaluates the whole
// filter on every record read: the service may return more records than
// the filter admits, never fewer.
type FilterPusher interface {
	// PushFilter returns the filter in the connector's own language that
	// selects the records of e meeting every condition of conds it could
	// translate (empty when none), for Query.Filter, and the indexes in
	// conds of the conditions it left out, in increasing order. It sends
	// nothing.
	PushFilter(e Entity, conds []Condition) (filter string, kept []int)
}

// Condition is one condition of a filter, in a form that any connector can
// translate into its service's language. It is one of *Compare, *In,
// *Match, *And and *Or.
//
// A mapping's filter is written in coupler's expression language, but a
// connector gets this small tree rather than the expression's syntax tree,
// so that connectors depend on nothing of that language and a condition
// the engine cannot safely offer cannot be expressed at all. Safe means
// that a service comparing text under its own collation, which may ignore
// case, returns at least the records coupler's evaluation admits: equality,
// in-lists and the text matches may then only return more; ordering and
// negations could return fewer, so a Compare orders only numbers, times
// and booleans, and there is no Not.
type Condition interface {
	condition()
}

// CompareOp is the operator of a Compare.
type CompareOp string

// Comparison operators.
const (
	Eq CompareOp = "=="
	Lt CompareOp = "<"
	Le CompareOp = "<="
	Gt CompareOp = ">"
	Ge CompareOp = ">="
)

// Compare holds when the value of Field compares to Value as Op says.
type Compare struct {
	Field string
	Op    CompareOp
	// Value is a string, int, float64, bool, time.Time or nil (null). Only
	// Eq compares with a string or nil.
	Value any
}

// In holds when the value of Field equals one of Values, each of which is
// a value as in Compare. Values is never empty.
type In struct {
	Field  string
	Values []any
}

// MatchOp is the operator of a Match.
type MatchOp string

// Text matching operators.
const (
	StartsWith MatchOp = "startsWith"
	EndsWith   MatchOp = "endsWith"
	Contains   MatchOp = "contains"
)

// Match holds when the text of Field starts with, ends with or contains
// Text.
type Match struct {
	Field string
	Op    MatchOp
	Text  string
}

// And holds when both Left and Right hold.
type And struct{ Left, Right Condition }

// Or holds when Left or Right holds.
type Or struct{ Left, Right Condition }

func (*Compare) condition() {}
func (*In) condition()      {}
func (*Match) condition()   {}
func (*And) condition()     {}
func (*Or) condition()      {}

// ConditionFields returns the fields that c reads, each once, in the order
// they first appear.
func ConditionFields(c Condition) []string {
	var out []string
	add := func(f string) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	var walk func(Condition)
	walk = func(c Condition) {
		switch c := c.(type) {
		case *Compare:
			add(c.Field)
		case *In:
			add(c.Field)
		case *Match:
			add(c.Field)
		case *And:
			walk(c.Left)
			walk(c.Right)
		case *Or:
			walk(c.Left)
			walk(c.Right)
		}
	}
	walk(c)
	return out
}
