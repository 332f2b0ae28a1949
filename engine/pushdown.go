package engine

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// pushDown splits a filter expression into the conjuncts an OData server can
// evaluate, joined as a $filter, and the source text of the rest. The engine
// still evaluates the whole expression on every record the server returns,
// so the server may return more than the filter admits, never less. That is
// why only operators whose server-side answer is a superset of coupler's are
// pushed: equality (servers may ignore case, which only returns more),
// in-lists, startswith/endswith/contains, and/or of those, and ordering
// against numbers and dates. Negations and ordering of text are not: under
// a case-insensitive collation they would return less.
func pushDown(src string) (pushed string, local []string) {
	tree, err := parser.Parse(src)
	if err != nil {
		return "", []string{src}
	}
	var parts []string
	for _, c := range conjuncts(tree.Node) {
		if q, ok := odataFilter(c); ok {
			parts = append(parts, q)
		} else {
			local = append(local, c.String())
		}
	}
	if len(parts) == 1 {
		return parts[0], local
	}
	for i, p := range parts {
		parts[i] = "(" + p + ")"
	}
	return strings.Join(parts, " and "), local
}

// conjuncts flattens a chain of && into its operands.
func conjuncts(n ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		return append(conjuncts(b.Left), conjuncts(b.Right)...)
	}
	return []ast.Node{n}
}

var odataComparisons = map[string]string{"==": "eq", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}

// flipped is the comparison with its operands swapped: 5 < x is x gt 5.
var flipped = map[string]string{"eq": "eq", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}

var odataFunctions = map[string]string{"startsWith": "startswith", "endsWith": "endswith", "contains": "contains"}

var fieldNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// odataFilter translates a boolean expression into OData, or reports that it
// cannot.
func odataFilter(n ast.Node) (string, bool) {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch op := n.Operator; {
		case op == "&&" || op == "and" || op == "||" || op == "or":
			l, lok := odataFilter(n.Left)
			r, rok := odataFilter(n.Right)
			if !lok || !rok {
				return "", false
			}
			word := "and"
			if op == "||" || op == "or" {
				word = "or"
			}
			return "(" + l + ") " + word + " (" + r + ")", true
		case odataComparisons[op] != "":
			cmp := odataComparisons[op]
			ordered := cmp != "eq"
			if f, ok := odataField(n.Left); ok {
				if lit, ok := odataLiteral(n.Right); ok && !(ordered && textual(lit)) {
					return f + " " + cmp + " " + lit, true
				}
			}
			if f, ok := odataField(n.Right); ok {
				if lit, ok := odataLiteral(n.Left); ok && !(ordered && textual(lit)) {
					return f + " " + flipped[cmp] + " " + lit, true
				}
			}
		case op == "in":
			f, ok := odataField(n.Left)
			arr, isArr := n.Right.(*ast.ArrayNode)
			if !ok || !isArr || len(arr.Nodes) == 0 {
				return "", false
			}
			// OData 4.0 has no "in" (Dataverse and Business Central speak
			// 4.0), so a list becomes a chain of "or".
			var alts []string
			for _, e := range arr.Nodes {
				lit, ok := odataLiteral(e)
				if !ok {
					return "", false
				}
				alts = append(alts, f+" eq "+lit)
			}
			if len(alts) == 1 {
				return alts[0], true
			}
			return "(" + strings.Join(alts, " or ") + ")", true
		case odataFunctions[op] != "":
			f, ok := odataField(n.Left)
			s, isStr := n.Right.(*ast.StringNode)
			if ok && isStr {
				return odataFunctions[op] + "(" + f + "," + quoteOData(s.Value) + ")", true
			}
		}
	case *ast.IdentifierNode:
		// A boolean field on its own: isdisabled.
		if fieldNameRE.MatchString(n.Value) {
			return n.Value + " eq true", true
		}
	}
	return "", false
}

func odataField(n ast.Node) (string, bool) {
	id, ok := n.(*ast.IdentifierNode)
	if !ok || !fieldNameRE.MatchString(id.Value) {
		return "", false
	}
	return id.Value, true
}

// odataLiteral renders a literal: strings quoted with ” doubling, numbers,
// booleans, null, and date("...") as a datetime.
func odataLiteral(n ast.Node) (string, bool) {
	switch n := n.(type) {
	case *ast.StringNode:
		return quoteOData(n.Value), true
	case *ast.IntegerNode:
		return strconv.Itoa(n.Value), true
	case *ast.FloatNode:
		return strconv.FormatFloat(n.Value, 'f', -1, 64), true
	case *ast.BoolNode:
		return strconv.FormatBool(n.Value), true
	case *ast.NilNode:
		return "null", true
	case *ast.UnaryNode:
		if n.Operator == "-" {
			if inner, ok := odataLiteral(n.Node); ok && !strings.HasPrefix(inner, "'") {
				return "-" + inner, true
			}
		}
	case *ast.BuiltinNode:
		if n.Name == "date" && len(n.Arguments) == 1 {
			if s, ok := n.Arguments[0].(*ast.StringNode); ok {
				if t, err := time.Parse(time.RFC3339Nano, s.Value); err == nil {
					return t.UTC().Format(time.RFC3339Nano), true
				}
			}
		}
	}
	return "", false
}

// textual reports whether a literal is text (or null), which servers order
// under their own collation.
func textual(lit string) bool {
	return strings.HasPrefix(lit, "'") || lit == "null"
}

func quoteOData(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
