package mappings

import "testing"

// TestFilterFieldNamedLikeABuiltin: a BC contact's "type" field must be
// usable in a filter although expr-lang has a builtin of that name.
func TestFilterFieldNamedLikeABuiltin(t *testing.T) {
	p, d := CompileFilter(Expr{Source: `type == "Person"`})
	if d != nil {
		t.Fatalf("compile: %v", d)
	}
	for rec, want := range map[string]bool{"Person": true, "Company": false} {
		got, err := p.RunFilter(map[string]any{"type": rec})
		if err != nil || got != want {
			t.Errorf("type %q: got %v, %v; want %v", rec, got, err, want)
		}
	}
}
