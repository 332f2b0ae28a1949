package mappings

import (
	"strings"
	"testing"
)

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

// TestFilterMustBeBoolean: a filter that can never give true or false is
// refused when it is compiled (validate, plan), not on every record at
// plan time. The custom functions give any (so that null passes through),
// which the checker cannot tell from a boolean.
func TestFilterMustBeBoolean(t *testing.T) {
	tests := []struct {
		src  string
		want string // "" when valid
	}{
		{`trim(blocked)`, "trim(...) gives a string"},
		{`upper(name) ?? false`, "upper(...) gives a string"},
		{`x + 1`, "+ gives a number or a string"},
		{`blocked ? "a" : "b"`, "got string"},
		{`round(balance)`, "round(...) gives a number"},
		{`blocked`, ""},
		{`trim(blocked) == ""`, ""},
		// A match is text, no match nil: never true.
		{`regex_match(name, "^A")`, `regex_match(...) gives a string; compare it, e.g. regex_match(name, "^A") != nil`},
		{`regex_match(name, "^A") != nil`, ""},
		{`coalesce(trim(a), "x")`, "coalesce(...) gives a string"},
		{`let n = trim(name); n`, "gives a string"},
		{`coalesce(blocked, false)`, ""},
		{`!(trim(x) == "")`, ""},
		{`blocked ? x > 1 : false`, ""},
		{`upper(name) in ["A", "B"]`, ""},
	}
	for _, tt := range tests {
		_, d := CompileFilter(Expr{Source: tt.src})
		switch {
		case tt.want == "" && d != nil:
			t.Errorf("%s: %v, want it valid", tt.src, d)
		case tt.want != "" && (d == nil || !strings.Contains(d.Message, tt.want)):
			t.Errorf("%s: %v, want an error saying %q", tt.src, d, tt.want)
		}
	}
}
