package mappings

import (
	"os"
	"strings"
	"testing"
)

// TestExpressionLimitsAtLoad: an expression nested deeper than
// maxExprDepth, or longer than maxExprLen, is refused by the loader at its
// file:line:col before expr-lang's parser sees it. The parser recurses once
// per bracket or prefix operator, so a million parentheses (finding 9 of
// issue 14) overflowed the goroutine stack: a fatal error that no recover
// catches, killing validate and serve. Expressions that only look deep (in
// strings and comments) are accepted.
func TestExpressionLimitsAtLoad(t *testing.T) {
	parens := func(n int, inner string) string {
		return strings.Repeat("(", n) + inner + strings.Repeat(")", n)
	}
	tests := []struct {
		name, filter string
		want         string // "" when valid; else the diagnostic, after "mappings/customer.yaml:"
	}{
		{"parentheses at the limit", parens(maxExprDepth, "blocked"), ""},
		{"parentheses past the limit", parens(maxExprDepth+1, "blocked"),
			"6:109: mapping CUSTOMER: filter: expression: nested more than 100 levels deep (brackets and prefix operators such as ! and -); simplify it, e.g. with let"},
		{"prefix operators", strings.Repeat("!", 150) + "blocked",
			"6:110: mapping CUSTOMER: filter: expression: nested more than 100 levels deep (brackets and prefix operators such as ! and -); simplify it, e.g. with let"},
		{"not", strings.Repeat("not ", 150) + "blocked",
			"6:409: mapping CUSTOMER: filter: expression: nested more than 100 levels deep (brackets and prefix operators such as ! and -); simplify it, e.g. with let"},
		{"prefix operators inside brackets", strings.Repeat("-(", 60) + "x" + strings.Repeat(")", 60) + " > 0",
			"6:109: mapping CUSTOMER: filter: expression: nested more than 100 levels deep (brackets and prefix operators such as ! and -); simplify it, e.g. with let"},
		{"lists and maps", strings.Repeat("[{a: ", 60) + "1" + strings.Repeat("}]", 60) + " != nil",
			"6:260: mapping CUSTOMER: filter: expression: nested more than 100 levels deep (brackets and prefix operators such as ! and -); simplify it, e.g. with let"},
		{"many prefix operators side by side", strings.Repeat("-x + ", 200) + "1 > 0", ""},
		{"brackets in a string", `name == "` + strings.Repeat("(", 500) + `"`, ""},
		{"brackets in a raw string", "name == `" + strings.Repeat("[", 500) + "`", ""},
		{"brackets in a comment", "blocked /* " + strings.Repeat(")", 500) + " */", ""},
		// Closing brackets in a comment must not hide the depth after it.
		{"comments do not close brackets", strings.Repeat("((/*))*/", 60) + "blocked" + strings.Repeat("))", 60),
			"6:409: mapping CUSTOMER: filter: expression: nested more than 100 levels deep (brackets and prefix operators such as ! and -); simplify it, e.g. with let"},
		{"too long", "name == '" + strings.Repeat("x", maxExprLen) + "'",
			"6:9: mapping CUSTOMER: filter: expression: 65546 bytes long, more than the limit of 65536"},
		// Finding 9's file: 2 MB of parentheses.
		{"a million parentheses", parens(1_000_000, "blocked"),
			"6:9: mapping CUSTOMER: filter: expression: 2000007 bytes long, more than the limit of 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extract(t, "testdata/valid.txtar")
			yaml, err := os.ReadFile("mappings/customer.yaml")
			if err != nil {
				t.Fatal(err)
			}
			scalar := tt.filter
			if strings.ContainsAny(scalar[:1], "![{") {
				scalar = "'" + scalar + "'" // YAML's tag and flow collections
			}
			hostile := strings.Replace(string(yaml), `filter: blocked == " "`, "filter: "+scalar, 1)
			if err := os.WriteFile("mappings/customer.yaml", []byte(hostile), 0o644); err != nil {
				t.Fatal(err)
			}
			p, diags := Load(".", LoadOptions{Getenv: testEnv})
			var got []string
			for _, d := range diags {
				got = append(got, d.String())
			}
			if tt.want == "" {
				if len(got) > 0 {
					t.Fatalf("refused a valid expression: %v", got)
				}
				if p.Mapping("CUSTOMER").Filter.Source != tt.filter {
					t.Errorf("filter not kept")
				}
				return
			}
			want := "mappings/customer.yaml:" + tt.want
			if len(got) != 1 || got[0] != want {
				t.Errorf("diagnostics %q,\nwant [%q]", got, want)
			}
		})
	}
}

// TestExpressionLimitsAtCompile: CompileFilter and CompileTransform check
// the limits too, whoever made the Expr, so that no path reaches the
// parser with a hostile text.
func TestExpressionLimitsAtCompile(t *testing.T) {
	deep := strings.Repeat("(", 5000) + "value" + strings.Repeat(")", 5000)
	if _, d := CompileTransform(Expr{Source: deep}); d == nil || !strings.Contains(d.Message, "nested more than 100 levels deep") {
		t.Errorf("transform: %v, want the nesting limit", d)
	}
	if _, d := CompileFilter(Expr{Source: "!" + deep}); d == nil || !strings.Contains(d.Message, "nested more than 100 levels deep") {
		t.Errorf("filter: %v, want the nesting limit", d)
	}
	if _, d := CompileTransform(Expr{Source: strings.Repeat("(", 10) + "value" + strings.Repeat(")", 10)}); d != nil {
		t.Errorf("a shallow transform refused: %v", d)
	}
}
