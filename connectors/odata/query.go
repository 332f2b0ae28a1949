package odata

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// readParams returns the query options of a Read: $select, $filter and,
// for an incremental read, $orderby on the modified field.
func readParams(q connectors.Query) ([]param, error) {
	e := q.Entity
	filter := q.Filter
	var orderby string
	if !q.Since.IsZero() {
		if e.Modified == "" {
			return nil, fmt.Errorf("entity %s has no modified field to read changes since %s", e.Name, q.Since.Format(time.RFC3339))
		}
		since := e.Modified + " gt " + timeLiteral(q.Since)
		if filter != "" {
			// Parenthesised so that a user "a or b" cannot swallow ours.
			filter = "(" + filter + ") and " + since
		} else {
			filter = since
		}
		orderby = e.Modified + " asc"
	}
	return []param{
		{"$select", selectList(q.Fields, e)},
		{"$filter", filter},
		{"$orderby", orderby},
	}, nil
}

// selectList is the $select value: fields plus the key and modified fields
// the engine always needs, without duplicates. Empty fields means all, so
// no $select at all.
func selectList(fields []string, e connectors.Entity) string {
	if len(fields) == 0 {
		return ""
	}
	seen := make(map[string]bool, len(fields)+2)
	out := make([]string, 0, len(fields)+2)
	for _, f := range append(append([]string{}, fields...), e.Key, e.Modified) {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return strings.Join(out, ",")
}

// timeLiteral formats t as an OData DateTimeOffset literal: RFC 3339 in UTC,
// with fractional seconds only when they are not zero.
func timeLiteral(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// guidRE matches an OData Guid literal.
var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// keyLiteral writes key as an OData literal: a GUID bare, anything else as
// a string in single quotes with quotes doubled. Keys of other types (such
// as integers) are not supported: ids travel as strings and their type is
// unknown here.
func keyLiteral(key string) string {
	if guidRE.MatchString(key) {
		return key
	}
	return "'" + strings.ReplaceAll(key, "'", "''") + "'"
}

// idFilter is the $filter selecting the records whose keyField is one of ids.
func idFilter(keyField string, ids []string) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString(keyField)
		b.WriteString(" eq ")
		b.WriteString(keyLiteral(id))
	}
	return b.String()
}
