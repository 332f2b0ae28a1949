package fake

import (
	"cmp"
	"strconv"
	"strings"
	"time"

	"github.com/couplerhq/coupler/internal/guid"
)

// kind is the type of a value seen by $filter and $orderby.
type kind uint8

// The kinds in their $orderby rank: values of different kinds sort by kind,
// with null (and missing) first, as SQL-backed servers sort nulls.
const (
	kindNull   kind = iota // missing field or JSON null
	kindBool               // true, false
	kindNumber             // s is the text, f its value
	kindTime               // a datetime literal or a server-stamped field
	kindGUID               // an unquoted GUID literal, s lower-case
	kindString             // s
	kindRaw                // a JSON object or array, s its text; only null tests apply
)

// value is one operand or result of a filter, or one $orderby key.
type value struct {
	k kind
	b bool
	f float64
	s string
	t time.Time
}

var (
	nullValue  = value{}
	trueValue  = value{k: kindBool, b: true}
	falseValue = value{k: kindBool}
)

func boolValue(b bool) value {
	if b {
		return trueValue
	}
	return falseValue
}

// numberValue parses a JSON or OData number. Overflowing numbers become
// infinities, which still order correctly.
func numberValue(text string) value {
	f, _ := strconv.ParseFloat(text, 64)
	return value{k: kindNumber, s: text, f: f}
}

// literalValue interprets a stored JSON literal. Strings without escapes
// are sliced, not copied.
func literalValue(lit string) value {
	if lit == "" {
		return nullValue
	}
	switch lit[0] {
	case '"':
		s, _ := unquote(lit)
		return value{k: kindString, s: s}
	case 't':
		return trueValue
	case 'f':
		return falseValue
	case 'n':
		return nullValue
	case '{', '[':
		return value{k: kindRaw, s: lit}
	}
	return numberValue(lit)
}

// field returns column col of e as a value; the modified column comes from
// the stamp rather than the blob.
func (t *table) field(e *entry, col int) value {
	if col == t.modCol && col >= 0 {
		return value{k: kindTime, t: time.Unix(0, e.modified).UTC()}
	}
	return literalValue(e.literal(col))
}

// asString returns v's text when v is a string or a GUID.
func (v value) asString() (string, bool) {
	if v.k == kindString || v.k == kindGUID {
		return v.s, true
	}
	return "", false
}

// compareValues orders two non-null values the way $filter comparisons do.
// ok is false when the two cannot be compared (a number and a string, or an
// object). A string compares with a datetime as the time it spells, and with
// a GUID ignoring case.
func compareValues(a, b value) (c int, ok bool) {
	if a.k == b.k {
		switch a.k {
		case kindBool:
			return cmpBool(a.b, b.b), true
		case kindNumber:
			return cmp.Compare(a.f, b.f), true
		case kindTime:
			return a.t.Compare(b.t), true
		case kindString, kindGUID:
			return strings.Compare(a.s, b.s), true
		}
		return 0, false
	}
	if a.k > b.k {
		c, ok := compareValues(b, a)
		return -c, ok
	}
	switch {
	case a.k == kindTime && b.k == kindString:
		bt, ok := parseTime(b.s)
		if !ok {
			return 0, false
		}
		return a.t.Compare(bt), true
	case a.k == kindGUID && b.k == kindString:
		return compareFold(a.s, b.s), true
	}
	return 0, false
}

// sortCompare is the total order $orderby and paging use: comparable values
// by compareValues (strings and times without coercion, so the order stays
// transitive), everything else by kind.
func sortCompare(a, b value) int {
	if a.k != b.k {
		return cmp.Compare(a.k, b.k)
	}
	c, _ := compareValues(a, b)
	return c
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// compareFold compares ASCII case-insensitively, without allocating.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := lowerASCII(a[i]), lowerASCII(b[i])
		if ca != cb {
			return cmp.Compare(ca, cb)
		}
	}
	return cmp.Compare(len(a), len(b))
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// timeLayouts are the datetime spellings accepted in filters and in string
// fields compared with datetimes: RFC 3339 with or without fractional
// seconds, without a zone (taken as UTC), and a bare date (midnight UTC).
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseTime parses s in one of timeLayouts.
func parseTime(s string) (time.Time, bool) {
	if len(s) < 10 || s[4] != '-' {
		return time.Time{}, false // cheap reject for ordinary strings
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// isGUID reports whether s is spelled like a GUID: 8-4-4-4-12 hex digits.
func isGUID(s string) bool { return guid.Is(s) }

// normKey normalises a key: GUIDs are case-insensitive, so they are kept
// lower-case; other keys are kept as given.
func normKey(key string) string {
	if isGUID(key) {
		return strings.ToLower(key)
	}
	return key
}
