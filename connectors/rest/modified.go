package rest

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/couplerhq/coupler/connectors"
)

// modifiedParser reads a record's modified field as the API writes it, in
// the entity's since.format: RFC 3339 text, Unix seconds or milliseconds
// (as a number or numeric text), or text in a Go layout.
type modifiedParser func(v any) (time.Time, bool)

// newModifiedParser returns the parser for since.format. Whatever the
// format, RFC 3339 text and numbers are accepted too, so that an API that
// filters in one format and answers in another still works.
func newModifiedParser(format string) modifiedParser {
	unit := int64(0) // 0: guess seconds or milliseconds by magnitude
	layout := ""
	switch format {
	case "", "rfc3339", "rfc3339ms":
	case "unix":
		unit = 1
	case "unix_ms":
		unit = 1000
	default:
		layout = format
	}
	return func(v any) (time.Time, bool) {
		switch x := v.(type) {
		case string:
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return t, true
			}
			if layout != "" {
				if t, err := time.Parse(layout, x); err == nil {
					return t, true // a layout without a zone reads as UTC, as since renders it
				}
			}
			if n := json.Number(strings.TrimSpace(x)); n != "" {
				if _, err := n.Float64(); err == nil {
					return unixTime(n, unit)
				}
			}
		case json.Number:
			return unixTime(x, unit)
		case float64:
			return unixTime(json.Number(strconv.FormatFloat(x, 'f', -1, 64)), unit)
		case int64:
			return unixTime(json.Number(strconv.FormatInt(x, 10)), unit)
		}
		return time.Time{}, false
	}
}

// unixTime reads n as seconds (unit 1), milliseconds (1000) or, for unit 0,
// milliseconds when it is too large to be seconds (after year 5138).
func unixTime(n json.Number, unit int64) (time.Time, bool) {
	if i, err := n.Int64(); err == nil {
		if unit == 1000 || (unit == 0 && (i > 1e11 || i < -1e11)) {
			return time.UnixMilli(i), true
		}
		return time.Unix(i, 0), true
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e16 {
		return time.Time{}, false
	}
	if unit == 1000 || (unit == 0 && (f > 1e11 || f < -1e11)) {
		f /= 1000
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)).Round(time.Microsecond), true
}

// normalizeModified rewrites rec's modified field, when it reads as a time,
// to RFC 3339 in UTC, the one form the engine stores watermarks in and
// compares; the API's own form (Unix time, a custom layout) stays inside
// the connector. A value that does not read is left for the engine to
// report. It returns the time and whether the field read as one.
func (p modifiedParser) normalize(rec connectors.Record, field string) (time.Time, bool) {
	if field == "" || p == nil {
		return time.Time{}, false
	}
	v, ok := rec[field]
	if !ok || v == nil {
		return time.Time{}, false
	}
	t, ok := p(v)
	if !ok || t.Year() < 0 || t.Year() > 9999 { // no RFC 3339 form
		return time.Time{}, false
	}
	rec[field] = t.UTC().Format(time.RFC3339Nano)
	return t, true
}
