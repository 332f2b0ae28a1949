package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/couplerhq/coupler/internal/jsontext"
)

// canonical renders a value as the JSON text the diff compares, so that the
// same value read from two systems compares equal however each spelled it:
// numbers lose insignificant zeros ("5000.00" and 5000 agree), times become
// RFC 3339 in UTC. Null and absent are both nil.
func canonical(v any) (*string, error) {
	var s string
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		s = quoteJSON(v)
	case bool:
		s = strconv.FormatBool(v)
	case json.Number:
		s = canonicalNumber(string(v))
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%v is not a number JSON can carry", v)
		}
		s = canonicalNumber(strconv.FormatFloat(v, 'f', -1, 64))
	case float32:
		return canonical(float64(v))
	case int:
		s = strconv.Itoa(v)
	case int64:
		s = strconv.FormatInt(v, 10)
	case int32:
		s = strconv.FormatInt(int64(v), 10)
	case time.Time:
		s = `"` + v.UTC().Format(time.RFC3339Nano) + `"`
	default:
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return nil, fmt.Errorf("value of type %T: %w", v, err)
		}
		s = strings.TrimSuffix(b.String(), "\n")
	}
	return &s, nil
}

// quoteJSON renders a string as JSON without escaping HTML characters: the
// text is compared and shown to people, never embedded in HTML unescaped.
func quoteJSON(s string) string {
	// 0xE2 starts U+2028 and U+2029, which JSON encoders escape.
	if jsontext.PlainString(s) && strings.IndexByte(s, 0xE2) < 0 {
		return `"` + s + `"`
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

// canonicalNumber trims a decimal's insignificant zeros. Numbers with an
// exponent, or too long to be decimals from a business system, are kept as
// they are rather than rounded through float64.
func canonicalNumber(n string) string {
	if strings.ContainsAny(n, "eE") || len(n) > 40 {
		return n
	}
	neg := strings.HasPrefix(n, "-")
	n = strings.TrimPrefix(n, "-")
	intPart, frac, _ := strings.Cut(n, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	frac = strings.TrimRight(frac, "0")
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg && out != "0" {
		out = "-" + out
	}
	return out
}

// decodeValue turns canonical JSON text back into a value to write (a
// number as json.Number, as UseNumber gives). Apply decodes every changed
// value of every write, so the common texts are read directly
// (jsontext.Decode).
func decodeValue(raw []byte) (any, error) { return jsontext.Decode(raw) }

// parseModified reads a last-modified value as the wire carries it.
func parseModified(v any) (time.Time, error) {
	switch v := v.(type) {
	case nil:
		return time.Time{}, nil
	case string:
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return time.Time{}, fmt.Errorf("modified-on %q is not an RFC 3339 time", v)
		}
		return t.UTC(), nil
	case time.Time:
		return v.UTC(), nil
	case json.Number, int64, int, float64:
		// Unix time, as some REST APIs stamp records; connectors normally
		// hand over RFC 3339, so this is a fallback for one that does not.
		return unixModified(v)
	}
	return time.Time{}, fmt.Errorf("modified-on has type %T, want a timestamp string", v)
}

// unixModified reads a number as Unix seconds, or as milliseconds when it
// is too large to be seconds (later than the year 5138). A number with a
// fraction keeps it, to the microsecond.
func unixModified(v any) (time.Time, error) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return unixInt(i), nil
		}
		var err error
		if f, err = x.Float64(); err != nil {
			return time.Time{}, fmt.Errorf("modified-on %s is not a Unix time", x)
		}
	case int64:
		return unixInt(x), nil
	case int:
		return unixInt(int64(x)), nil
	case float64:
		f = x
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e16 {
		return time.Time{}, fmt.Errorf("modified-on %v is not a Unix time", f)
	}
	if math.Abs(f) > 1e11 {
		f /= 1000
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)).Round(time.Microsecond).UTC(), nil
}

func unixInt(i int64) time.Time {
	if i > 1e11 || i < -1e11 {
		return time.UnixMilli(i).UTC()
	}
	return time.Unix(i, 0).UTC()
}

// numbersForExpressions replaces, in place, each top-level json.Number of a
// record with an int64 or float64 when that represents it exactly, so that
// filters and transforms compare numbers as numbers (statecode == 0). A
// number no Go numeric type holds exactly stays a json.Number, keeping its
// digits; the diff's canonical form is the same either way.
func numbersForExpressions(rec map[string]any) {
	for k, v := range rec {
		if n, ok := v.(json.Number); ok {
			rec[k] = exprNumber(n)
		}
	}
}

// exprNumber is a number as numbersForExpressions leaves it.
func exprNumber(n json.Number) any {
	if i, err := n.Int64(); err == nil {
		return i
	}
	f, err := n.Float64()
	if err == nil && canonicalNumber(strconv.FormatFloat(f, 'f', -1, 64)) == canonicalNumber(string(n)) {
		return f
	}
	return n
}
