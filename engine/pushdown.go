package engine

import (
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"

	"github.com/couplerhq/coupler/connectors"
)

// Conjunct is one operand of the && chain a filter is made of: the unit
// that is either sent to the server or evaluated by coupler alone.
type Conjunct struct {
	// Source is the conjunct in the mapping language, as shown to users.
	Source string
	// Cond is the conjunct as offered to a connectors.FilterPusher; nil
	// when it cannot be offered safely, and coupler alone evaluates it.
	Cond connectors.Condition
}

// splitFilter splits a filter expression into its conjuncts, each
// translated into a connectors.Condition where the server's answer to it
// is a superset of coupler's. The engine still evaluates the whole
// expression on every record the server returns, so the server may
// return more than the filter admits, never less. That is why only
// operators whose server-side answer is a superset of coupler's are
// offered: equality (servers may ignore case, which only returns more),
// in-lists, startsWith/endsWith/contains, and/or of those, and ordering
// against numbers and dates. Negations and ordering of text are not: under
// a case-insensitive collation they would return less. Which of the
// offered conditions the server can evaluate is the connector's decision
// (pushDown).
func splitFilter(src string) []Conjunct {
	tree, err := parser.Parse(src)
	if err != nil {
		return []Conjunct{{Source: src}}
	}
	var out []Conjunct
	for _, n := range conjuncts(tree.Node) {
		c := Conjunct{Source: n.String()}
		if cond, ok := condition(n); ok {
			c.Cond = cond
		}
		out = append(out, c)
	}
	return out
}

// pushDown asks the connector of side s which conjuncts of its filter the
// server evaluates: pushed is the connector's own filter for
// connectors.Query.Filter (empty when nothing is pushed, or the connector
// filters nothing), and local the source of the conjuncts coupler alone
// evaluates, in their order.
func (e *Engine) pushDown(s Side) (pushed string, local []string) {
	c := e.conns[s.Connector]
	isLocal := make([]bool, len(s.Conjuncts))
	var offered []connectors.Condition
	var at []int // at[i] is the conjunct offered as offered[i]
	for i, cj := range s.Conjuncts {
		if cj.Cond == nil {
			isLocal[i] = true
			continue
		}
		offered = append(offered, cj.Cond)
		at = append(at, i)
	}
	if fp, ok := c.(connectors.FilterPusher); ok && len(offered) > 0 {
		var kept []int
		pushed, kept = fp.PushFilter(s.Entity, offered)
		for _, k := range kept {
			if k >= 0 && k < len(at) {
				isLocal[at[k]] = true
			}
		}
	}
	for i, cj := range s.Conjuncts {
		if isLocal[i] || pushed == "" {
			local = append(local, cj.Source)
		}
	}
	return pushed, local
}

// conjuncts flattens a chain of && into its operands.
func conjuncts(n ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		return append(conjuncts(b.Left), conjuncts(b.Right)...)
	}
	return []ast.Node{n}
}

var compareOps = map[string]connectors.CompareOp{
	"==": connectors.Eq, "<": connectors.Lt, "<=": connectors.Le, ">": connectors.Gt, ">=": connectors.Ge,
}

// flipped is the comparison with its operands swapped: 5 < x is x > 5.
var flipped = map[connectors.CompareOp]connectors.CompareOp{
	connectors.Eq: connectors.Eq, connectors.Lt: connectors.Gt, connectors.Le: connectors.Ge,
	connectors.Gt: connectors.Lt, connectors.Ge: connectors.Le,
}

var matchOps = map[string]connectors.MatchOp{
	"startsWith": connectors.StartsWith, "endsWith": connectors.EndsWith, "contains": connectors.Contains,
}

// condition translates a boolean expression into a condition that may be
// offered to a server, or reports that it cannot.
func condition(n ast.Node) (connectors.Condition, bool) {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch op := n.Operator; {
		case op == "&&" || op == "and" || op == "||" || op == "or":
			l, lok := condition(n.Left)
			r, rok := condition(n.Right)
			if !lok || !rok {
				return nil, false
			}
			if op == "||" || op == "or" {
				return &connectors.Or{Left: l, Right: r}, true
			}
			return &connectors.And{Left: l, Right: r}, true
		case compareOps[op] != "":
			cmp := compareOps[op]
			if f, ok := field(n.Left); ok {
				if v, ok := literal(n.Right); ok && (cmp == connectors.Eq || !textual(v)) {
					return &connectors.Compare{Field: f, Op: cmp, Value: v}, true
				}
			}
			if f, ok := field(n.Right); ok {
				if v, ok := literal(n.Left); ok && (cmp == connectors.Eq || !textual(v)) {
					return &connectors.Compare{Field: f, Op: flipped[cmp], Value: v}, true
				}
			}
		case op == "in":
			f, ok := field(n.Left)
			arr, isArr := n.Right.(*ast.ArrayNode)
			if !ok || !isArr || len(arr.Nodes) == 0 {
				return nil, false
			}
			in := &connectors.In{Field: f}
			for _, e := range arr.Nodes {
				v, ok := literal(e)
				if !ok {
					return nil, false
				}
				in.Values = append(in.Values, v)
			}
			return in, true
		case matchOps[op] != "":
			f, ok := field(n.Left)
			s, isStr := n.Right.(*ast.StringNode)
			if ok && isStr {
				return &connectors.Match{Field: f, Op: matchOps[op], Text: s.Value}, true
			}
		}
	case *ast.IdentifierNode:
		// A boolean field on its own: isdisabled.
		return &connectors.Compare{Field: n.Value, Op: connectors.Eq, Value: true}, true
	}
	return nil, false
}

// field is the field an expression reads when it is a bare name.
func field(n ast.Node) (string, bool) {
	id, ok := n.(*ast.IdentifierNode)
	if !ok {
		return "", false
	}
	return id.Value, true
}

// literal is the value of a literal: a string, number, boolean, nil, a
// negated number, or date("...") with an RFC 3339 time.
func literal(n ast.Node) (any, bool) {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.IntegerNode:
		return n.Value, true
	case *ast.FloatNode:
		return n.Value, true
	case *ast.BoolNode:
		return n.Value, true
	case *ast.NilNode:
		return nil, true
	case *ast.UnaryNode:
		if n.Operator == "-" {
			switch v, _ := literal(n.Node); v := v.(type) {
			case int:
				return -v, true
			case float64:
				return -v, true
			}
		}
	case *ast.BuiltinNode:
		if n.Name == "date" && len(n.Arguments) == 1 {
			if s, ok := n.Arguments[0].(*ast.StringNode); ok {
				if t, err := time.Parse(time.RFC3339Nano, s.Value); err == nil {
					return t.UTC(), true
				}
			}
		}
	}
	return nil, false
}

// textual reports whether a literal is text or null, which servers order
// under their own collation.
func textual(v any) bool {
	_, isString := v.(string)
	return isString || v == nil
}
