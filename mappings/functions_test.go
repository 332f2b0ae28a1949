package mappings

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/expr-lang/expr"
)

// runFn compiles src as a transform with functions() and runs it with env.
func runFn(t testing.TB, src string, env ValueEnv) (any, error) {
	t.Helper()
	p, err := expr.Compile(src, append(functions(), expr.Env(ValueEnv{}))...)
	if err != nil {
		t.Fatalf("compile %s: %v", src, err)
	}
	return expr.Run(p, env)
}

// sameValue compares results exactly, type included.
func sameValue(got, want any) bool {
	return reflect.DeepEqual(got, want)
}

// TestFunctionOverridesBuiltin records how expr-lang v1.17.8 treats an
// expr.Function named like a builtin: a plain call reaches the function, but
// ::name(...) still reaches the builtin unless it is disabled, which
// functions() does.
func TestFunctionOverridesBuiltin(t *testing.T) {
	calls := map[string]string{
		"trim":    `trim(" a ")`,
		"upper":   `upper("a")`,
		"lower":   `lower("A")`,
		"replace": `replace("a", "a", "b")`,
		"round":   `round(1.5)`,
	}
	types := map[string]any{
		"trim":    new(func(string) any),
		"upper":   new(func(string) any),
		"lower":   new(func(string) any),
		"replace": new(func(string, string, string) any),
		"round":   new(func(float64) any),
	}
	ours := func(...any) (any, error) { return "ours", nil }
	for name, src := range calls {
		t.Run(name, func(t *testing.T) {
			fn := expr.Function(name, ours, types[name])

			// Plain call, builtin not disabled: the function wins.
			out, err := expr.Eval(src, nil)
			if err != nil || out == "ours" {
				t.Fatalf("builtin %s: %v, %v", src, out, err)
			}
			p, err := expr.Compile(src, fn)
			if err != nil {
				t.Fatal(err)
			}
			if out, _ := expr.Run(p, nil); out != "ours" {
				t.Errorf("%s with expr.Function only: got %v, want our function", src, out)
			}

			// ::name(...) bypasses the override...
			p, err = expr.Compile("::"+src, fn)
			if err != nil {
				t.Fatal(err)
			}
			if out, _ := expr.Run(p, nil); out == "ours" {
				t.Errorf("::%s reached our function without DisableBuiltin; the override rules changed", src)
			}
			// ...unless the builtin is disabled.
			p, err = expr.Compile("::"+src, expr.DisableBuiltin(name), fn)
			if err != nil {
				t.Fatal(err)
			}
			if out, _ := expr.Run(p, nil); out != "ours" {
				t.Errorf("::%s with DisableBuiltin: got %v, want our function", src, out)
			}
		})
	}

	// With functions(), both spellings are ours: typed and nil-safe.
	for _, src := range []string{`::upper(1)`, `upper(1)`, `::round("x")`} {
		if _, err := expr.Compile(src, append(functions(), expr.Env(ValueEnv{}))...); err == nil {
			t.Errorf("%s compiled; want a type error from our typed function", src)
		}
	}
	for _, src := range []string{`::trim(value)`, `trim(value)`, `::round(value)`} {
		out, err := runFn(t, src, ValueEnv{})
		if err != nil || out != nil {
			t.Errorf("%s with nil value: %v, %v; want nil, nil", src, out, err)
		}
	}
}

// TestFunctionDocExamples evaluates the example table at the top of
// functions.go.
func TestFunctionDocExamples(t *testing.T) {
	rows := docExamples(t)
	if len(rows) < len(funcDefs) {
		t.Fatalf("found %d examples, want at least one per function (%d)", len(rows), len(funcDefs))
	}
	seen := map[string]bool{}
	for _, r := range rows {
		got, err := runFn(t, r.example, ValueEnv{})
		if err != nil {
			t.Errorf("%s: %v", r.example, err)
			continue
		}
		want, err := expr.Eval(r.result, nil)
		if err != nil {
			t.Fatalf("result %s: %v", r.result, err)
		}
		if w, ok := want.(int); ok {
			want = int64(w) // expr literals are int; our integers are int64
		}
		if !sameValue(got, want) {
			t.Errorf("%s = %#v, the table says %#v", r.example, got, want)
		}
		seen[r.example[:strings.Index(r.example, "(")]] = true
	}
	for _, d := range funcDefs {
		if !seen[d.name] {
			t.Errorf("no example for %s in the table", d.name)
		}
	}
}

type docExample struct{ example, result string }

func docExamples(t testing.TB) []docExample {
	src, err := os.ReadFile("functions.go")
	if err != nil {
		t.Fatal(err)
	}
	var rows []docExample
	for _, line := range strings.Split(string(src), "\n") {
		if !strings.HasPrefix(line, "//\t| ") || strings.HasPrefix(line, "//\t| function") {
			continue
		}
		cols := strings.Split(strings.Trim(strings.TrimPrefix(line, "//\t"), "|"), "|")
		if len(cols) != 3 {
			t.Fatalf("table row %q: want 3 columns", line)
		}
		rows = append(rows, docExample{strings.TrimSpace(cols[1]), strings.TrimSpace(cols[2])})
	}
	return rows
}

type fnCase struct {
	src     string
	value   any
	want    any
	wantErr string // substring of the error; "" = no error
}

var testRecord = map[string]any{
	"name":   "  acme ltd ",
	"amount": 2.675,
	"count":  int64(3),
	"num":    json.Number("2.675"),
	"flag":   true,
	"when":   "2024-05-01T23:30:00+02:00",
	"day":    "2024-05-01",
	"empty":  "",
	"nil":    nil,
}

var fnCases = []fnCase{
	// trim
	{`trim(value)`, "  a b \t\n", "a b", ""},
	{`trim(value)`, nil, nil, ""},
	{`trim(value)`, "", "", ""},
	{`trim(value, "*")`, "**x*", "x", ""},
	{`trim(value, "")`, " x ", " x ", ""},
	{`trim(value, "*")`, nil, nil, ""},
	{`trim(value)`, 42.0, nil, "trim: expected a string, got float64"},
	{`trim(value)`, json.Number("1"), nil, "trim: expected a string, got json.Number"},
	{`trim("x", value)`, nil, nil, "trim: cutset must be a string, got nil"},
	{`trim(record.name)`, nil, "acme ltd", ""},
	{`trim(record.missing)`, nil, nil, ""},
	{`::trim(value)`, " x ", "x", ""},
	{`value | trim()`, " x ", "x", ""},
	// upper / lower
	{`upper(value)`, "müller ß i", "MÜLLER ß I", ""},
	{`upper(value)`, nil, nil, ""},
	{`upper(value)`, int64(1), nil, "upper: expected a string, got int64"},
	{`upper(value)`, true, nil, "upper: expected a string, got bool"},
	{`lower(value)`, "ÀÉÎ İ", "àéî i", ""},
	{`lower(value)`, nil, nil, ""},
	{`lower(value)`, 1.5, nil, "lower: expected a string, got float64"},
	{`upper(trim(value))`, " x ", "X", ""},
	{`upper(trim(value))`, nil, nil, ""},
	{`upper(value) == "X"`, nil, false, ""},
	{`upper(value) == "X"`, "x", true, ""},
	{`upper(value) ?? "none"`, nil, "none", ""},
	// title
	{`title(value)`, "hello wORLD", "Hello World", ""},
	{`title(value)`, "élan ÉCOLE", "Élan École", ""},
	{`title(value)`, "don't stop", "Don't Stop", ""},
	{`title(value)`, "3rd street  /north", "3rd Street  /North", ""},
	{`title(value)`, "'quoted'", "'Quoted'", ""},
	{`title(value)`, "ǆemal", "ǅemal", ""},
	{`title(value)`, "", "", ""},
	{`title(value)`, nil, nil, ""},
	{`title(value)`, 1, nil, "title: expected a string, got int"},
	// substr by position
	{`substr(value, 1, 3)`, "abcdef", "abc", ""},
	{`substr(value, 4, 100)`, "abcdef", "def", ""},
	{`substr(value, 7, 1)`, "abcdef", "", ""},
	{`substr(value, 100, 1)`, "abcdef", "", ""},
	{`substr(value, 2, 0)`, "abcdef", "", ""},
	{`substr(value, 2, 2)`, "äöüß", "öü", ""},
	{`substr(value, 1, 1)`, nil, nil, ""},
	{`substr(value, 0, 1)`, "abc", nil, "substr: start must be 1 or more"},
	{`substr(value, -1, 1)`, "abc", nil, "substr: start must be 1 or more"},
	{`substr(value, 1, -1)`, "abc", nil, "substr: length must not be negative"},
	{`substr(value, record.count, 1)`, "abcdef", "c", ""},
	{`substr(value, 1, record.amount)`, "abcdef", nil, "substr: length must be an integer, got float64 2.675"},
	{`substr(value, 1, record.flag)`, "abcdef", nil, "substr: length must be an integer, got bool"},
	{`substr(value, 1, record.nil)`, "abcdef", nil, "substr: length must be an integer, got nil"},
	{`substr(value, 1, 2)`, 12, nil, "substr: expected a string, got int"},
	// substr by text
	{`substr(value, "<", ">")`, "Bob <bob@x.io> <b>", "bob@x.io", ""},
	{`substr(value, "", ">")`, "Bob <bob@x.io>", "Bob <bob@x.io", ""},
	{`substr(value, "<", "")`, "Bob <bob@x.io>", "bob@x.io>", ""},
	{`substr(value, "", "")`, "abc", "abc", ""},
	{`substr(value, "[", "]")`, "Bob", nil, ""},
	{`substr(value, "<", "]")`, "Bob <x", nil, ""},
	{`substr(value, "ab", "ab")`, "ab ab", " ", ""},
	{`substr(value, "ab", "b")`, "abab", "a", ""},
	{`substr(value, "<", ">")`, nil, nil, ""},
	{`substr(value, "<", record.count)`, "a<b>", nil, "substr: expected (s, start, length) with integers or (s, startText, endText) with strings, got string and int64"},
	{`substr(value, record.day, 1)`, "a", nil, "got string and int"},
	{`substr(value, record.nil, "x")`, "a", nil, "got nil and string"},
	// replace
	{`replace(value, "a", "o")`, "banana", "bonono", ""},
	{`replace(value, "", "x")`, "abc", "abc", ""},
	{`replace(value, "a", "")`, "banana", "bnn", ""},
	{`replace(value, "a", "o")`, nil, nil, ""},
	{`replace(value, "a", record.nil)`, "a", nil, "replace: new must be a string, got nil"},
	{`replace(value, record.count, "x")`, "a", nil, "replace: old must be a string, got int64"},
	// regex_replace
	{`regex_replace(value, "\\s+", " ")`, "a  b\t\nc", "a b c", ""},
	{`regex_replace(value, "(\\w+)@(\\w+)", "$2 at ${1}x")`, "bob@acme", "acme at bobx", ""},
	{`regex_replace(value, "(?P<user>\\w+)@", "${user}: ")`, "bob@acme", "bob: acme", ""},
	{`regex_replace(value, "x", "$$")`, "axb", "a$b", ""},
	{`regex_replace(value, "x", "y")`, nil, nil, ""},
	{`regex_replace(value, "(", "y")`, "a", nil, `regex_replace: invalid pattern "("`},
	{`regex_replace(value, "x", "y")`, 1.0, nil, "regex_replace: expected a string, got float64"},
	// regex_match
	{`regex_match(value, "\\d+")`, "SO-1042/7", "1042", ""},
	{`regex_match(value, "SO-(\\d+)")`, "SO-1042", "1042", ""},
	{`regex_match(value, "(a)|(b)")`, "b", nil, ""},
	{`regex_match(value, "(?:SO)-\\d+")`, "x SO-1", "SO-1", ""},
	{`regex_match(value, "^$")`, "", "", ""},
	{`regex_match(value, "\\d+")`, "none", nil, ""},
	{`regex_match(value, "\\d+")`, nil, nil, ""},
	{`regex_match(value, "[")`, "a", nil, `regex_match: invalid pattern "["`},
	{`regex_match(value, record.nil)`, "a", nil, "regex_match: pattern must be a string, got nil"},
	// alnum
	{`alnum(value)`, "A-1 b_2!ß€٣", "A1b2ß٣", ""},
	{`alnum(value)`, "", "", ""},
	{`alnum(value)`, nil, nil, ""},
	{`alnum(value)`, 5, nil, "alnum: expected a string, got int"},
	// format_date / format_datetime
	{`format_date(value, "iso")`, "2024-05-01T23:30:00+02:00", "2024-05-01", ""},
	{`format_date(value, "iso")`, "2024-05-01T23:30:00-02:00", "2024-05-02", ""},
	{`format_date(value, "iso")`, "2024-05-01", "2024-05-01", ""},
	{`format_date(value, "iso")`, "2024-05-01T10:00:00", "2024-05-01", ""},
	{`format_date(value, "iso")`, time.Date(2024, 5, 1, 23, 0, 0, 0, time.FixedZone("X", 3600)), "2024-05-01", ""},
	{`format_date(value, "iso")`, nil, nil, ""},
	{`format_date(value, "iso")`, "", nil, ""},
	{`format_date(value, "dd.MM.yyyy")`, "2024-05-01", "01.05.2024", ""},
	{`format_date(value, "d/M/yy")`, "2009-01-05", "5/1/09", ""},
	{`format_date(value, "yyyyMMdd")`, "2024-12-31", "20241231", ""},
	{`format_date(value, "'Day' d 'of' M, yyyy")`, "2024-05-01", "Day 1 of 5, 2024", ""},
	{`format_date(value, "d'' M''")`, "2024-05-01", "1' 5'", ""},
	{`format_date(value, "'it''s' d")`, "2024-05-01", "it's 1", ""},
	{`format_date(value, "YYYY-MM-DD")`, "2024-05-01", nil, `format_date: layout "YYYY-MM-DD": unknown pattern "YYYY"`},
	{`format_date(value, "dd 'open")`, "2024-05-01", nil, "unterminated quote"},
	{`format_date(value, "dddd")`, "2024-05-01", nil, `unknown pattern "dddd"`},
	{`format_date(value, "iso")`, "01/05/2024", nil, `format_date: cannot read "01/05/2024"`},
	{`format_date(value, "iso")`, 1714521600, nil, "format_date: expected a date/time string or time.Time, got int"},
	{`format_date(value, "iso")`, json.Number("1"), nil, "got json.Number"},
	{`format_date("2024-05-01", value)`, nil, nil, "format_date: layout must be a string, got nil"},
	{`format_date(date("2024-05-01"), "iso")`, nil, "2024-05-01", ""},
	{`format_datetime(value, "iso")`, "2024-05-01T12:30:00.123+02:00", "2024-05-01T10:30:00Z", ""},
	{`format_datetime(value, "iso")`, "2024-05-01", "2024-05-01T00:00:00Z", ""},
	{`format_datetime(value, "yyyy-MM-dd'T'HH:mm:ss.fff")`, "2024-05-01T07:08:09.0456Z", "2024-05-01T07:08:09.045", ""},
	{`format_datetime(value, "H:mm")`, "2024-05-01T07:08:09Z", "7:08", ""},
	{`format_datetime(value, "HH:mm")`, "2024-05-01T23:59:00-01:00", "00:59", ""},
	{`format_datetime(value, "iso")`, nil, nil, ""},
	{`format_datetime(value, "iso")`, true, nil, "format_datetime: expected a date/time string or time.Time, got bool"},
	{`format_datetime(record.when, "iso")`, nil, "2024-05-01T21:30:00Z", ""},
	// round
	{`round(value)`, 2.5, int64(3), ""},
	{`round(value)`, -2.5, int64(-3), ""},
	{`round(value)`, 2.4999, int64(2), ""},
	{`round(value)`, int64(7), int64(7), ""},
	{`round(value)`, 7, int64(7), ""},
	{`round(value)`, json.Number("2.5"), int64(3), ""},
	{`round(value)`, nil, nil, ""},
	{`round(value, 0.01)`, 2.675, 2.68, ""},
	{`round(value, 0.01)`, json.Number("2.675"), 2.68, ""},
	{`round(value, 0.01)`, 1.005, 1.01, ""},
	{`round(value, 0.01)`, -1.005, -1.01, ""},
	{`round(value, 0.01)`, 3, 3.0, ""},
	{`round(value, 0.05)`, 1.025, 1.05, ""},
	{`round(value, 0.5)`, 1.2, 1.0, ""},
	{`round(value, 5)`, 12.5, int64(15), ""},
	{`round(value, 5)`, 12.4, int64(10), ""},
	{`round(value, 1000)`, int64(123456), int64(123000), ""},
	{`round(value, 1, "up")`, 2.1, int64(3), ""},
	{`round(value, 1, "up")`, -2.1, int64(-3), ""},
	{`round(value, 1, "up")`, 2.0, int64(2), ""},
	{`round(value, 1, "down")`, 2.9, int64(2), ""},
	{`round(value, 1, "down")`, -2.9, int64(-2), ""},
	{`round(value, 0.01, "nearest")`, 0.125, 0.13, ""},
	{`round(value, 0.01, "sideways")`, 1.0, nil, `round: direction must be "nearest", "up" or "down", got "sideways"`},
	{`round(value, 0.01, "sideways")`, 1.005, nil, `round: direction must be`},
	{`round(value, 0)`, 1.0, nil, "round: precision must be greater than 0"},
	{`round(value, -1)`, 1.0, nil, "round: precision must be greater than 0"},
	{`round(value)`, "2.5", nil, "round: value must be a number, got string"},
	{`round(value)`, true, nil, "round: value must be a number, got bool"},
	{`round(value)`, math.NaN(), nil, "round: value must be a finite number"},
	{`round(value)`, math.Inf(1), nil, "round: value must be a finite number"},
	{`round(value)`, json.Number("1e999999999"), nil, `round: value "1e999999999" is not a valid number`},
	{`round(value)`, json.Number("1e-999999999"), nil, `is not a valid number`},
	{`round(value)`, json.Number("1/2"), nil, `is not a valid number`},
	{`round(value)`, 1e300, 1e300, ""},
	{`round(value, record.nil)`, 1.0, nil, "round: precision must be a number, got nil"},
	{`round(record.amount, 0.01)`, nil, 2.68, ""},
	{`round(record.num, 0.01)`, nil, 2.68, ""},
	{`round(len("abc"))`, nil, int64(3), ""},
	// unix_time
	{`unix_time(value)`, "2024-05-01T00:00:00Z", int64(1714521600), ""},
	{`unix_time(value)`, "2024-05-01T02:00:00+02:00", int64(1714521600), ""},
	{`unix_time(value)`, "2024-05-01", int64(1714521600), ""},
	{`unix_time(value)`, time.Unix(42, 0), int64(42), ""},
	{`unix_time(value, "s")`, "1970-01-01T00:00:01.999Z", int64(1), ""},
	{`unix_time(value, "ms")`, "1970-01-01T00:00:01.999Z", int64(1999), ""},
	{`unix_time(value, "ms")`, "1969-12-31T23:59:59Z", int64(-1000), ""},
	{`unix_time(value)`, nil, nil, ""},
	{`unix_time(value, "ms")`, nil, nil, ""},
	{`unix_time(value, "ns")`, "2024-05-01", nil, `unix_time: unit must be "s" or "ms", got "ns"`},
	{`unix_time(value)`, "yesterday", nil, `unix_time: cannot read "yesterday"`},
	{`unix_time(value)`, 1.0, nil, "unix_time: expected a date/time string or time.Time, got float64"},
	{`unix_time(now()) > 1700000000`, nil, true, ""},
	// coalesce
	{`coalesce(value, "default")`, nil, "default", ""},
	{`coalesce(value, "default")`, "", "", ""},
	{`coalesce(value, "default")`, false, false, ""},
	{`coalesce(value)`, nil, nil, ""},
	{`coalesce(nil, nil, 3)`, nil, 3, ""},
	{`coalesce(record.missing, record.nil, record.count)`, nil, int64(3), ""},
	{`coalesce(trim(value), "n/a")`, nil, "n/a", ""},
}

func TestFunctions(t *testing.T) {
	for _, c := range fnCases {
		name := fmt.Sprintf("%s/%#v", c.src, c.value)
		t.Run(name, func(t *testing.T) {
			got, err := runFn(t, c.src, ValueEnv{Value: c.value, Record: testRecord})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %#v, %v; want error containing %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !sameValue(got, c.want) {
				t.Fatalf("got %#v (%T), want %#v (%T)", got, got, c.want, c.want)
			}
		})
	}
}

// TestFunctionsInFilter runs the functions with the filter environment: a
// record map with undefined variables allowed (a missing field is nil).
func TestFunctionsInFilter(t *testing.T) {
	cases := []struct {
		src  string
		want bool
	}{
		{`upper(trim(name)) == "ACME LTD"`, true},
		{`upper(missing) == "X"`, false},
		{`upper(missing) == nil`, true},
		{`round(amount, 0.01) == 2.68`, true},
		{`regex_match(when, "^(\\d{4})") == "2024"`, true},
		{`coalesce(missing, count) == 3`, true},
	}
	opts := append(functions(), expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.AsBool())
	for _, c := range cases {
		p, err := expr.Compile(c.src, opts...)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		got, err := expr.Run(p, testRecord)
		if err != nil || got != c.want {
			t.Errorf("%s = %v, %v; want %v", c.src, got, err, c.want)
		}
	}
}

// TestFunctionCompileErrors: misuse with literal arguments is rejected by the
// type checker.
func TestFunctionCompileErrors(t *testing.T) {
	cases := []struct{ src, wantErr string }{
		{`trim(1)`, "cannot use int as argument (type string) to call trim"},
		{`trim("a", 1)`, "trim"},
		{`trim()`, "not enough arguments to call trim"},
		{`trim("a", "b", "c")`, "too many arguments to call trim"},
		{`trim(nil)`, "cannot use nil as argument (type string) to call trim"},
		{`upper(1)`, "cannot use int as argument (type string) to call upper"},
		{`upper(1.5)`, "cannot use float64 as argument"},
		{`upper(true)`, "cannot use bool as argument"},
		{`upper("a", "b")`, "too many arguments to call upper"},
		{`upper()`, "not enough arguments to call upper"},
		{`::upper(1)`, "cannot use int as argument"},
		{`1 | upper()`, "cannot use int as argument"},
		{`lower([1])`, "call lower"},
		{`lower({"a": 1})`, "call lower"},
		{`title(2)`, "call title"},
		{`substr("a")`, "not enough arguments to call substr"},
		{`substr("a", 1)`, "not enough arguments to call substr"},
		{`substr(1, 1, 1)`, "cannot use int as argument (type string) to call substr"},
		{`substr("abc", 1.5, 1)`, "call substr"},
		{`substr("abc", 1, "x")`, "call substr"},
		{`substr("abc", "x", 1)`, "call substr"},
		{`substr("abc", 1, 2, 3)`, "too many arguments to call substr"},
		{`replace("a", "b")`, "not enough arguments to call replace"},
		{`replace("a", 1, "c")`, "call replace"},
		{`regex_replace("a", "b")`, "not enough arguments to call regex_replace"},
		{`regex_replace(1, "b", "c")`, "call regex_replace"},
		{`regex_match("a")`, "not enough arguments to call regex_match"},
		{`regex_match("a", 1)`, "call regex_match"},
		{`alnum(1)`, "call alnum"},
		{`format_date("2024-05-01")`, "not enough arguments to call format_date"},
		{`format_date(1, "iso")`, "call format_date"},
		{`format_date("2024-05-01", 1)`, "call format_date"},
		{`format_datetime(now())`, "not enough arguments to call format_datetime"},
		{`format_datetime(true, "iso")`, "call format_datetime"},
		{`round("x")`, "cannot use string as argument (type float64) to call round"},
		{`round()`, "not enough arguments to call round"},
		{`round(1, "x")`, "call round"},
		{`round(1, 0.01, 1)`, "call round"},
		{`round(1, 0.01, "up", 4)`, "too many arguments to call round"},
		{`round(true)`, "call round"},
		{`unix_time(1)`, "call unix_time"},
		{`unix_time("2024-05-01", 1)`, "call unix_time"},
		{`unix_time()`, "not enough arguments to call unix_time"},
		{`coalesce()`, "not enough arguments to call coalesce"},
		{`unknown_fn(value)`, "unknown_fn"},
	}
	for _, c := range cases {
		_, err := expr.Compile(c.src, append(functions(), expr.Env(ValueEnv{}))...)
		if err == nil {
			t.Errorf("%s compiled, want a compile error", c.src)
			continue
		}
		if !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: error %q does not contain %q", c.src, err, c.wantErr)
		}
	}
}

// TestFunctionRoundMoney checks the typical money cases that binary floating
// point gets wrong with math.Round(x*100)/100.
func TestFunctionRoundMoney(t *testing.T) {
	cases := []struct {
		x, precision float64
		direction    string
		want         float64
	}{
		{2.675, 0.01, "nearest", 2.68},
		{1.005, 0.01, "nearest", 1.01},
		{1.015, 0.01, "nearest", 1.02},
		{1.025, 0.01, "nearest", 1.03},
		{0.285, 0.01, "nearest", 0.29},
		{1.255, 0.01, "nearest", 1.26},
		{-2.675, 0.01, "nearest", -2.68},
		{8.345, 0.01, "nearest", 8.35},
		{10.005, 0.01, "nearest", 10.01},
		{1234567.885, 0.01, "nearest", 1234567.89},
		{0.1 + 0.2, 0.01, "nearest", 0.3},
		{19.99 * 3, 0.01, "nearest", 59.97},
		{2.671, 0.01, "up", 2.68},
		{2.679, 0.01, "down", 2.67},
		{2.67, 0.01, "up", 2.67},
		{2.67, 0.01, "down", 2.67},
		{0.0449, 0.001, "nearest", 0.045},
		{1.2345, 0.0001, "nearest", 1.2345},
		{1.23456789, 0.00001, "nearest", 1.23457},
		{7.125, 0.25, "nearest", 7.25},
		{7.1, 0.25, "down", 7.0},
		{0.5, 0.01, "nearest", 0.5},
	}
	for _, c := range cases {
		got, err := fnRound(c.x, c.precision, c.direction)
		if err != nil || got != c.want {
			t.Errorf("round(%v, %v, %q) = %#v, %v; want %v", c.x, c.precision, c.direction, got, err, c.want)
		}
	}
	// Integral results with precision >= 1 are int64; with precision < 1
	// they stay float64.
	if got, _ := fnRound(2.5, 1.0); got != int64(3) {
		t.Errorf("round(2.5, 1) = %#v, want int64(3)", got)
	}
	if got, _ := fnRound(2.999, 0.01); got != 3.0 {
		t.Errorf("round(2.999, 0.01) = %#v, want float64(3)", got)
	}
	// Huge integers beyond int64 fall back to float64.
	if got, _ := fnRound(1e20); got != 1e20 {
		t.Errorf("round(1e20) = %#v, want float64(1e20)", got)
	}
}

// TestFunctionDatesTZ: date output does not depend on the machine's zone.
// time.Local is read from TZ once per process, so each zone runs this test's
// child in a fresh process with TZ set.
func TestFunctionDatesTZ(t *testing.T) {
	if os.Getenv("COUPLER_TZ_CHILD") != "" {
		checkDates(t)
		return
	}
	checkDates(t) // in this process's zone, whatever it is
	for _, zone := range []string{"Pacific/Kiritimati", "America/St_Johns", "Asia/Kolkata", "Europe/Berlin"} {
		t.Run(zone, func(t *testing.T) {
			if _, err := time.LoadLocation(zone); err != nil {
				t.Skipf("no zone data for %s: %v", zone, err)
			}
			t.Setenv("TZ", zone)
			t.Setenv("COUPLER_TZ_CHILD", "1")
			cmd := exec.Command(os.Args[0], "-test.run=^TestFunctionDatesTZ$", "-test.v")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child in TZ=%s: %v\n%s", zone, err, out)
			}
			if !strings.Contains(string(out), "local zone: "+zone) {
				t.Fatalf("child did not run in %s:\n%s", zone, out)
			}
		})
	}
}

func checkDates(t *testing.T) {
	zone, offset := time.Now().Zone()
	t.Logf("local zone: %s (%s, %+ds)", time.Local, zone, offset)
	now := time.Now()
	cases := []fnCase{
		{`format_date(value, "iso")`, "2024-05-01", "2024-05-01", ""},
		{`format_date(value, "iso")`, "2024-05-01T00:30:00Z", "2024-05-01", ""},
		{`format_date(value, "iso")`, "2024-05-01T23:30:00Z", "2024-05-01", ""},
		{`format_date(value, "iso")`, "2024-05-01T23:30:00", "2024-05-01", ""},
		{`format_date(date("2024-05-01"), "iso")`, nil, "2024-05-01", ""},
		{`format_datetime(date("2024-05-01 23:30:00"), "iso")`, nil, "2024-05-01T23:30:00Z", ""},
		{`format_datetime(value, "iso")`, "2024-05-01T00:30:00", "2024-05-01T00:30:00Z", ""},
		{`format_datetime(value, "dd.MM.yyyy HH:mm")`, "2024-03-31T01:30:00+00:00", "31.03.2024 01:30", ""},
		{`format_datetime(value, "iso")`, time.Date(2024, 5, 1, 12, 0, 0, 0, time.Local), time.Date(2024, 5, 1, 12, 0, 0, 0, time.Local).UTC().Format("2006-01-02T15:04:05Z"), ""},
		{`format_datetime(value, "iso")`, now, now.UTC().Format("2006-01-02T15:04:05Z"), ""},
		{`unix_time(value)`, "2024-05-01", int64(1714521600), ""},
		{`unix_time(value)`, "2024-05-01T00:00:00", int64(1714521600), ""},
	}
	for _, c := range cases {
		got, err := runFn(t, c.src, ValueEnv{Value: c.value})
		if err != nil || !sameValue(got, c.want) {
			t.Errorf("TZ=%s: %s with %v = %#v, %v; want %#v", os.Getenv("TZ"), c.src, c.value, got, err, c.want)
		}
	}
}

// TestFunctionRegexCacheConcurrent runs regex functions from many goroutines
// (under -race) with shared and distinct patterns.
func TestFunctionRegexCacheConcurrent(t *testing.T) {
	p1, err := expr.Compile(`regex_match(value, "SO-(\\d+)")`, append(functions(), expr.Env(ValueEnv{}))...)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := expr.Compile(`regex_replace(value, record.pattern, "#")`, append(functions(), expr.Env(ValueEnv{}))...)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				v := fmt.Sprintf("SO-%d", i)
				out, err := expr.Run(p1, ValueEnv{Value: v})
				if err != nil || out != fmt.Sprint(i) {
					errs <- fmt.Errorf("regex_match(%q) = %v, %v", v, out, err)
					return
				}
				pattern := fmt.Sprintf("x{%d}", i%20+1) // 20 patterns shared by all goroutines
				rec := map[string]any{"pattern": pattern}
				out, err = expr.Run(p2, ValueEnv{Value: strings.Repeat("x", i%20+1), Record: rec})
				if err != nil || out != "#" {
					errs <- fmt.Errorf("regex_replace with %q = %v, %v", pattern, out, err)
					return
				}
				bad := map[string]any{"pattern": "(" + pattern}
				if _, err := expr.Run(p2, ValueEnv{Value: "x", Record: bad}); err == nil || !strings.Contains(err.Error(), "invalid pattern") {
					errs <- fmt.Errorf("invalid pattern %q: %v", bad["pattern"], err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A cached pattern is the same compiled regexp.
	a, _ := compileRegex("t", `SO-(\d+)`)
	b, _ := compileRegex("t", `SO-(\d+)`)
	if a != b {
		t.Error("pattern compiled twice")
	}
	// The error names the calling function even when cached by another.
	_, err = compileRegex("first_fn", "(")
	_, err2 := compileRegex("second_fn", "(")
	if err == nil || err2 == nil || !strings.HasPrefix(err2.Error(), "second_fn:") {
		t.Errorf("errors: %v / %v", err, err2)
	}
}

// FuzzFunctions compiles and runs random expressions with the functions
// over a fixed environment, in which value is the fuzzed string s and
// record.x the fuzzed number x; it also calls every function directly with
// combinations of s, s2 and x. Nothing may panic (expr-lang's VM turns panics
// into errors, so the functions are wrapped to catch them first).
func FuzzFunctions(f *testing.F) {
	values := []string{fuzzValue, "", "2024-05-01", "SO-(\\d+)", "yyyy-MM-dd'T'HH:mm"}
	for i, r := range docExamples(f) {
		f.Add(r.example, values[i%len(values)], "x", 2.675)
	}
	for i, c := range fnCases {
		f.Add(c.src, values[i%len(values)], "'", float64(i)-3)
	}
	for _, src := range []string{
		`substr(value, "", "")`, `round(record.n, record.f, "up")`, `format_date(record.t, "yyyy'y'")`,
		`unix_time(record.d, "ms")`, `coalesce(record.list, 1)`, `title(record.empty)`,
		`regex_match(value, record.s)`, `round(record.i, 0.0000001)`, `substr(value, record.i, 2)`,
		`round(record.x, 0.01)`, `substr(value, record.x, record.x)`, `format_datetime(value, value)`,
	} {
		f.Add(src, fuzzValue, "(", 1e-300)
	}
	var panicked []string
	var mu sync.Mutex
	wrap := func(name string, fn func(...any) (any, error)) func(...any) (any, error) {
		return func(args ...any) (out any, err error) {
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					panicked = append(panicked, fmt.Sprintf("%s%#v panicked: %v\n%s", name, args, r, debug.Stack()))
					mu.Unlock()
					err = fmt.Errorf("panic")
				}
			}()
			return fn(args...)
		}
	}
	transformOpts := append(buildFunctions(nil, wrap), expr.Env(ValueEnv{}))
	filterOpts := append(buildFunctions(nil, wrap), expr.Env(map[string]any{}), expr.AllowUndefinedVariables())
	f.Fuzz(func(t *testing.T, src, s, s2 string, x float64) {
		if len(src) > 300 || len(s) > 1000 || len(s2) > 1000 {
			return
		}
		mu.Lock()
		panicked = nil
		mu.Unlock()
		rec := make(map[string]any, len(fuzzRecord)+1)
		for k, v := range fuzzRecord {
			rec[k] = v
		}
		rec["x"] = x
		if p, err := expr.Compile(src, transformOpts...); err == nil {
			_, _ = expr.Run(p, ValueEnv{Value: s, Record: rec})
		}
		if p, err := expr.Compile(src, filterOpts...); err == nil {
			_, _ = expr.Run(p, rec)
		}
		// Direct calls with argument combinations the checker would not
		// let through with literals.
		argSets := [][]any{
			{s}, {s, s2}, {s, x}, {s, s2, s2}, {s, x, x}, {s, int64(x), x}, {s, s2, x},
			{x}, {x, x}, {x, x, s2}, {json.Number(s)}, {json.Number(s), json.Number(s2)},
			{nil}, {nil, s2}, {nil, x, x}, {s, nil}, {s, nil, s2}, {}, {s, s2, s2, s2},
			{fuzzRecord["t"], s2}, {true, s2},
		}
		for _, d := range funcDefs {
			fn := wrap(d.name, d.fn)
			for _, args := range argSets {
				_, _ = fn(args...)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, p := range panicked {
			t.Error(p)
		}
	})
}

const fuzzValue = "  Hello, Wörld 2024-05-01 SO-1042  "

// fuzzRecord is the fixed record of FuzzFunctions.
var fuzzRecord = map[string]any{
	"s":     "2024-05-01T10:30:00+02:00",
	"d":     "2024-05-01",
	"f":     2.675,
	"i":     int64(-7),
	"n":     json.Number("12.345"),
	"b":     true,
	"nil":   nil,
	"empty": "",
	"t":     time.Date(2024, 5, 1, 10, 30, 0, 0, time.UTC),
	"list":  []any{"a", 1.0, nil},
	"map":   map[string]any{"k": "v"},
}
