package engine

import (
	"encoding/json"
	"testing"
	"time"
)

// TestParseModifiedUnixTime checks the fallback for connectors that hand
// over a Unix time: after numbersForExpressions a json.Number becomes an
// int64 or float64, and each must still read as a time.
func TestParseModifiedUnixTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 11, 24, 9, 20, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   any
		want time.Time
	}{
		{json.Number("1732440000"), at},
		{json.Number("1732440000000"), at},
		{json.Number("1732440000.25"), at.Add(250 * time.Millisecond)},
		{"2024-11-24T10:20:00+01:00", at},
		{nil, time.Time{}},
	} {
		rec := map[string]any{"updated_at": tc.in}
		numbersForExpressions(rec)
		got, err := parseModified(rec["updated_at"])
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseModified(%v as %T) = %v, %v; want %v", tc.in, rec["updated_at"], got, err, tc.want)
		}
	}
	for _, bad := range []any{"2024-11-24 09:30:00", json.Number("1e300"), true} {
		rec := map[string]any{"updated_at": bad}
		numbersForExpressions(rec)
		if _, err := parseModified(rec["updated_at"]); err == nil {
			t.Errorf("parseModified(%v) accepted a value that is no time (a zoneless layout is the connector's to convert)", bad)
		}
	}
}
