package mappings

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzExpressionEnvironment compiles arbitrary text as a transform and as
// a filter, exactly as mappings are compiled, and runs what compiles on a
// record: no panic, and every rejection is a diagnostic with a message at a
// position inside the expression.
func FuzzExpressionEnvironment(f *testing.F) {
	for _, s := range []string{
		`trim(value)`, `upper(value) + "-" + record.number`, `value == nil ? "" : string(value)`,
		`blocked == " "`, `statecode == 0 && customertypecode == 3`, `len(value) > 3`,
		`lookup("SALESPEOPLE", value)`, `round(record.amount, 0.01)`, `date(value)`, `now()`,
		`record.nested.deeper[0]`, `value[1:]`, `1/0`, `"a" * 3`, `type`, `((((`, `"unterminated`,
		`map(record.list, # * 2)`, `record["weird key"]`, "value\n+\n1", `value ?? "x"`,
	} {
		f.Add(s, "Contoso")
	}
	f.Fuzz(func(t *testing.T, src, value string) {
		if len(src) > 400 || len(value) > 400 {
			return
		}
		e := Expr{Source: src, Pos: Pos{File: "m.yaml", Line: 7, Col: 12}}
		rec := map[string]any{
			"number": "C001", "amount": json.Number("12.5"), "blocked": " ", "statecode": json.Number("0"),
			"list": []any{1, "x", nil}, "nested": map[string]any{"deeper": []any{"y"}}, "t": time.Unix(0, 0).UTC(),
			"weird key": value, "value": value,
		}
		check := func(kind string, d *Diagnostic) {
			if d == nil {
				return
			}
			if strings.TrimSpace(d.Message) == "" || d.Severity != Error {
				t.Fatalf("%s %q: rejected without a message: %+v", kind, src, d)
			}
			if d.File != "m.yaml" || d.Line < 7 || d.Col < 1 {
				t.Fatalf("%s %q: diagnostic at %s, outside the expression", kind, src, d.Pos)
			}
		}
		if p, d := CompileTransform(e); d != nil {
			check("transform", d)
		} else {
			_, _ = p.RunValue(&ValueEnv{Value: value, Record: rec})
			_, _ = p.RunValue(&ValueEnv{})
		}
		if p, d := CompileFilter(e); d != nil {
			check("filter", d)
		} else {
			_, _ = p.RunFilter(rec)
			_, _ = p.RunFilter(map[string]any{})
		}
	})
}
