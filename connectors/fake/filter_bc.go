package fake

// oneFieldOr checks the rule Business Central states in "Using filter
// expressions in OData URIs" (learn.microsoft.com, dynamics365/
// business-central/dev-itpro/webservices/use-filter-expressions-in-odata-uris),
// in the alert under "Or": or may join filters on the same field, but not
// filters on two different fields. Its filters become AL field filters, one
// per field, and only a field's own filter can hold alternatives. The
// first or whose operands name two different fields is an error, which
// the server answers with 400 like any invalid $filter.
func oneFieldOr(x expr) error {
	switch n := x.(type) {
	case *logicNode:
		if !n.and {
			fields := map[string]bool{}
			filterFields(n, fields)
			if len(fields) > 1 {
				return errAt(n.at, "or joins filters on %d different fields; Business Central allows or only between filters on the same field (Using filter expressions in OData URIs)", len(fields))
			}
		}
		if err := oneFieldOr(n.l); err != nil {
			return err
		}
		return oneFieldOr(n.r)
	case *notNode:
		return oneFieldOr(n.x)
	}
	return nil
}

// filterFields adds the names of the fields x reads to into.
func filterFields(x expr, into map[string]bool) {
	switch n := x.(type) {
	case *fieldNode:
		into[n.name] = true
	case *notNode:
		filterFields(n.x, into)
	case *logicNode:
		filterFields(n.l, into)
		filterFields(n.r, into)
	case *cmpNode:
		filterFields(n.l, into)
		filterFields(n.r, into)
	case *inNode:
		filterFields(n.x, into)
	case *callNode:
		for _, a := range n.args {
			filterFields(a, into)
		}
	}
}
