package mappings

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"
)

// allocated runs fn and returns the bytes the heap allocated meanwhile.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestExpressionMemoryBudget: one evaluation of an expression may produce
// at most maxEvalBytes of strings, counted across nested calls, loops and
// concatenations, and checked before the bytes are allocated. expr-lang's
// own budget counted repeat's result after making it, and nothing of
// repeat's argument: repeat(repeat(value, 10000), 10000) allocated a
// gigabyte per record (issue 14, finding 10). The inputs here stay small
// enough that the test is cheap without the budget too.
func TestExpressionMemoryBudget(t *testing.T) {
	const budgetMsg = "memory budget of one evaluation"
	ten := "abcdefghij"
	kb := strings.Repeat("k", 1<<10)
	tests := []struct {
		name, src string
		value     string
		want      string // "" when the evaluation succeeds
		maxAlloc  uint64 // bytes the evaluation may allocate
	}{
		{"nested repeat", `repeat(repeat(value, 2000), 1000)`, ten, budgetMsg, 1 << 20},
		{"repeat in a list", `len(join(map(1..2000, repeat(value, 1000)), ""))`, ten, budgetMsg, 40 << 20},
		{"join", `len(join(map(1..2000, value), ""))`, strings.Repeat(kb, 10), budgetMsg, 1 << 20},
		{"doubling", `let a = value + value; let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e;
			let g = f + f; let h = g + g; let i = h + h; let j = i + i; let k = j + j; let l = k + k; let m = l + l; len(m + m)`, kb, budgetMsg, 40 << 20},
		{"many results", `len(map(1..20000, upper(value)))`, kb, budgetMsg, 40 << 20},
		{"toJSON", `len(toJSON(map(1..2000, value)))`, strings.Repeat(kb, 10), budgetMsg, 1 << 20},
		{"string", `len(string(map(1..2000, value)))`, strings.Repeat(kb, 10), budgetMsg, 1 << 20},
		{"replace", `len(replace(value, "k", value))`, strings.Repeat(kb, 5), budgetMsg, 1 << 20},
		{"regex_replace", `len(regex_replace(value, "k", value))`, strings.Repeat(kb, 5), budgetMsg, 1 << 20},
		{"within the budget", `len(repeat(value, 1000) + upper(value) + join(["a", value], "-"))`, ten, "", 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, d := CompileTransform(Expr{Source: tt.src})
			if d != nil {
				t.Fatalf("compile: %v", d)
			}
			var err error
			n := allocated(func() { _, err = p.RunValue(&ValueEnv{Value: tt.value}) })
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			if n > tt.maxAlloc {
				t.Errorf("allocated %d MB, want at most %d MB", n>>20, tt.maxAlloc>>20)
			}
		})
	}
}

// TestExpressionTimeBudget: one evaluation may run at most evalTimeBudget;
// past it the record fails with an error saying so, whether the time goes
// into coupler's functions or into expr-lang's loops. The budget is cut to
// 10ms here, against work that takes some hundreds of milliseconds.
func TestExpressionTimeBudget(t *testing.T) {
	defer func(d time.Duration) { evalTimeBudget = d }(evalTimeBudget)
	evalTimeBudget = 10 * time.Millisecond
	mb := strings.Repeat("x", 1<<20)
	for _, src := range []string{
		`all(1..10000, regex_match(value, "y") == nil)`,
		`all(1..900, all(1..900, # > 0 && value != "y"))`,
	} {
		p, d := CompileFilter(Expr{Source: src})
		if d != nil {
			t.Fatalf("compile %s: %v", src, d)
		}
		start := time.Now()
		_, err := p.RunFilter(map[string]any{"value": mb})
		if err == nil || !strings.Contains(err.Error(), "time budget of one evaluation") {
			t.Errorf("%s: error %v after %s, want the time budget's", src, err, time.Since(start))
		}
	}
}

// TestBudgetKeepsMeaning: the budget's checks (+ made a call, a check in
// every loop body, builtins replaced) change no result, and no mistake
// the compiler caught before goes unnoticed now.
func TestBudgetKeepsMeaning(t *testing.T) {
	rec := map[string]any{"name": "Contoso", "tags": []any{"a", "bb", "ccc"}, "n": 3, "when": "2024-05-01T10:00:00Z"}
	for _, src := range []string{
		`name + "-" + string(n)`,
		`n + 1`,
		`n + 1.5`,
		`1 + 2`,
		`"a" + "b"`,
		`filter(tags, len(#) > 1)`,
		`map(tags, # + "!")`,
		`map(tags, len(#) * 2)`,
		`sum(map(1..4, #))`,
		`reduce(1..4, #acc + #, 0)`,
		`reduce(tags, #acc + #, "")`,
		`count(tags, len(#) > 1)`,
		`any(tags, # == "bb") && all(tags, # != "")`,
		`find(tags, # startsWith "c")`,
		`sortBy(tags, -len(#))`,
		`groupBy(tags, len(#) > 1)[true]`,
		`join(tags, ",") + repeat("x", 3)`,
		`toJSON({"a": tags})`,
		`string(tags)`,
		`date(when) + duration("1h")`,
		`upper(name) + trim(" x ")`,
		`let s = name + name; s + s`,
		`len(name + "x")`,
	} {
		want, err := expr.Eval(src, rec)
		if err != nil {
			t.Fatalf("%s: expr-lang alone: %v", src, err)
		}
		p, err := compileWithEnv(src, rec)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		got, err := p.run(rec)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, %v; want %#v", src, got, err, want)
		}
	}
	for _, src := range []string{`"a" + 1`, `filter([1], "x")`, `upper(len("x"))`} {
		if _, d := CompileTransform(Expr{Source: src}); d == nil {
			t.Errorf("%s compiles, want the error it had without the budget", src)
		}
	}
}

// compileWithEnv compiles src as a Program over env's fields, with the
// budget.
func compileWithEnv(src string, env map[string]any) (*Program, error) {
	b := &evalBudget{}
	p, err := expr.Compile(src, append(compileOptions(b), expr.Env(env))...)
	if err != nil {
		return nil, err
	}
	return &Program{program: p, source: src, budget: b}, nil
}
