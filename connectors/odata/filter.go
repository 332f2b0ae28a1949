package odata

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

var _ connectors.FilterPusher = (*Client)(nil)

// PushFilter implements connectors.FilterPusher: the conditions it can
// write in OData 4.0 $filter syntax, joined with and. Against Business
// Central (see isBusinessCentral) a condition whose or joins two different
// fields is kept for coupler: "Using filter expressions in OData URIs"
// says that or may only join filters on the same field, and the service
// refuses the request otherwise.
func (c *Client) PushFilter(_ connectors.Entity, conds []connectors.Condition) (string, []int) {
	var parts []string
	var kept []int
	for i, cond := range conds {
		if q, ok := c.filterText(cond); ok {
			parts = append(parts, q)
		} else {
			kept = append(kept, i)
		}
	}
	if len(parts) == 1 {
		return parts[0], kept
	}
	for i, p := range parts {
		parts[i] = "(" + p + ")"
	}
	return strings.Join(parts, " and "), kept
}

var filterComparisons = map[connectors.CompareOp]string{
	connectors.Eq: "eq", connectors.Lt: "lt", connectors.Le: "le", connectors.Gt: "gt", connectors.Ge: "ge",
}

var filterFunctions = map[connectors.MatchOp]string{
	connectors.StartsWith: "startswith", connectors.EndsWith: "endswith", connectors.Contains: "contains",
}

// fieldNameRE matches the property names written bare in a $filter: an
// OData simple identifier, limited to ASCII.
var fieldNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// filterText writes a condition in $filter syntax, or reports that it
// cannot or that the service would refuse it.
func (c *Client) filterText(cond connectors.Condition) (string, bool) {
	switch n := cond.(type) {
	case *connectors.And, *connectors.Or:
		var l, r connectors.Condition
		word := "and"
		if or, isOr := n.(*connectors.Or); isOr {
			if c.oneFieldOr && len(connectors.ConditionFields(or)) > 1 {
				return "", false
			}
			l, r, word = or.Left, or.Right, "or"
		} else {
			and := n.(*connectors.And)
			l, r = and.Left, and.Right
		}
		lq, lok := c.filterText(l)
		rq, rok := c.filterText(r)
		if !lok || !rok {
			return "", false
		}
		return "(" + lq + ") " + word + " (" + rq + ")", true
	case *connectors.Compare:
		op, lit := filterComparisons[n.Op], filterLiteral(n.Value)
		if !fieldNameRE.MatchString(n.Field) || op == "" || lit == "" {
			return "", false
		}
		return n.Field + " " + op + " " + lit, true
	case *connectors.In:
		if !fieldNameRE.MatchString(n.Field) || len(n.Values) == 0 {
			return "", false
		}
		// OData 4.0 has no "in" (Dataverse and Business Central speak
		// 4.0; BC takes it only with $schemaversion=2.1), so a list
		// becomes a chain of "or" on one field, which BC accepts.
		alts := make([]string, len(n.Values))
		for i, v := range n.Values {
			lit := filterLiteral(v)
			if lit == "" {
				return "", false
			}
			alts[i] = n.Field + " eq " + lit
		}
		if len(alts) == 1 {
			return alts[0], true
		}
		return "(" + strings.Join(alts, " or ") + ")", true
	case *connectors.Match:
		fn := filterFunctions[n.Op]
		if !fieldNameRE.MatchString(n.Field) || fn == "" {
			return "", false
		}
		return fn + "(" + n.Field + "," + stringLiteral(n.Text) + ")", true
	}
	return "", false
}

// filterLiteral writes a value of a condition as an OData literal, or ""
// when it has no literal.
func filterLiteral(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return stringLiteral(v)
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return timeLiteral(v)
	}
	return ""
}

// stringLiteral writes s as an OData string literal: in single quotes,
// with quotes doubled.
func stringLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
