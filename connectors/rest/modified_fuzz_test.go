package rest

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzModifiedNormalize checks that reading an API's modified value never
// panics and that what it hands the engine is RFC 3339 text that reads
// back as the same time.
func FuzzModifiedNormalize(f *testing.F) {
	for _, s := range []string{"1732440000", "1732440000123", "1732440000.5", "2024-11-24 09:30:00",
		"2024-11-24T09:30:00Z", "-1e300", "NaN", "", "9999999999999999999999"} {
		f.Add(s, "", false)
		f.Add(s, "2006-01-02 15:04:05", true)
		f.Add(s, "unix_ms", true)
	}
	f.Fuzz(func(t *testing.T, raw, format string, number bool) {
		var v any = raw
		if number {
			v = json.Number(raw)
		}
		rec := map[string]any{"m": v}
		tm, ok := newModifiedParser(format).normalize(rec, "m")
		if !ok {
			return
		}
		s, isText := rec["m"].(string)
		back, err := time.Parse(time.RFC3339Nano, s)
		if !isText || err != nil {
			t.Fatalf("%q (%s) became %#v, not RFC 3339: %v", raw, format, rec["m"], err)
		}
		if !back.Equal(tm) {
			t.Fatalf("%q (%s) became %s, which reads as %v, not %v", raw, format, s, back, tm)
		}
	})
}
