package mappings

// Transformation functions: the product's field transformation rules as
// expr-lang functions, available to every transform and filter.
//
// Examples (TestFunctionDocExamples evaluates every row of this table and
// checks that the example equals the result; keep it in sync):
//
//	| function (types as registered)                      | example                                                       | result                    |
//	|-----------------------------------------------------|---------------------------------------------------------------|---------------------------|
//	| trim(s string) any                                  | trim("  Acme Ltd  ")                                          | "Acme Ltd"                |
//	| trim(s, cutset string) any                          | trim("--42--", "-")                                           | "42"                      |
//	| upper(s string) any                                 | upper("Müller")                                               | "MÜLLER"                  |
//	| lower(s string) any                                 | lower("ÀBC")                                                  | "àbc"                     |
//	| title(s string) any                                 | title("jean-luc o'NEIL's café")                               | "Jean-Luc O'neil's Café"  |
//	| substr(s string, start, length int) any             | substr("Cronus Ltd", 1, 6)                                    | "Cronus"                  |
//	| substr(s string, start, length int) any             | substr("abc", 2, 99)                                          | "bc"                      |
//	| substr(s, startText, endText string) any            | substr("Name: Bob <bob@x.io>", "<", ">")                      | "bob@x.io"                |
//	| substr(s, startText, endText string) any            | substr("key=value", "=", "")                                  | "value"                   |
//	| substr(s, startText, endText string) any            | substr("no marker", "[", "]")                                 | nil                       |
//	| replace(s, old, new string) any                     | replace("a.b.c", ".", "-")                                    | "a-b-c"                   |
//	| regex_replace(s, pattern, repl string) any          | regex_replace("2024-05-01", `(\d+)-(\d+)-(\d+)`, "$3.$2.$1")  | "01.05.2024"              |
//	| regex_match(s, pattern string) any                  | regex_match("Order SO-1042 shipped", `SO-\d+`)                | "SO-1042"                 |
//	| regex_match(s, pattern string) any                  | regex_match("Order SO-1042 shipped", `SO-(\d+)`)              | "1042"                    |
//	| regex_match(s, pattern string) any                  | regex_match("none", `\d+`)                                    | nil                       |
//	| alnum(s string) any                                 | alnum("+49 (0) 30-1234 ü")                                    | "490301234ü"              |
//	| format_date(v string, layout string) any            | format_date("2024-05-01T23:30:00Z", "iso")                    | "2024-05-01"              |
//	| format_date(v string, layout string) any            | format_date("2024-05-01", "dd.MM.yyyy")                       | "01.05.2024"              |
//	| format_date(v time.Time, layout string) any         | format_date(date("2024-12-24"), "d/M/yy")                     | "24/12/24"                |
//	| format_datetime(v string, layout string) any        | format_datetime("2024-05-01T12:30:00+02:00", "iso")           | "2024-05-01T10:30:00Z"    |
//	| format_datetime(v string, layout string) any        | format_datetime("2024-05-01T07:08:09.5Z", "HH:mm:ss.fff")     | "07:08:09.500"            |
//	| format_datetime(v time.Time, layout string) any     | format_datetime(date("2024-05-01 07:08:09"), "H'h'mm' UTC'")  | "7h08 UTC"                |
//	| round(x float64) any                                | round(2.5)                                                    | 3                         |
//	| round(x, precision float64) any                     | round(2.675, 0.01)                                            | 2.68                      |
//	| round(x, precision float64) any                     | round(12.5, 5)                                                | 15                        |
//	| round(x, precision float64, direction string) any   | round(-2.121, 0.01, "up")                                     | -2.13                     |
//	| round(x, precision float64, direction string) any   | round(2.129, 0.01, "down")                                    | 2.12                      |
//	| unix_time(v string) any (also v time.Time)          | unix_time("2024-05-01T00:00:00Z")                             | 1714521600                |
//	| unix_time(v, unit string) any (also v time.Time)    | unix_time("1970-01-01T00:00:01.5Z", "ms")                     | 1500                      |
//	| coalesce(a any, more ...any) any                    | coalesce(nil, "", "x")                                        | ""                        |
//
// Common rules:
//
//   - Null propagates: a nil first argument (the value being transformed)
//     gives nil, so trim(value) on a missing field is nil, not an error.
//     (A literal nil, as in upper(nil), is rejected at compile time.)
//   - Arguments are typed, so misuse with literal arguments is a compile
//     error: upper(1), round("x"), substr("a"). A wrong type that only shows
//     at run time (a number reaching upper through value) is an error that
//     names the function and the type, e.g. `upper: expected a string, got
//     float64`.
//   - Every function returns any, not its concrete type, because each may
//     return nil; declaring string would let the compiler emit string-only
//     opcodes that break on nil.
//   - The expr-lang builtins trim, upper, lower, replace and round are
//     replaced by these versions (also when called as ::trim(...)).
//   - Every function is pure and safe for concurrent use.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/builtin"
)

// funcDef is one expression function: its implementation and the Go
// function types (overloads) the expr-lang checker verifies calls against.
type funcDef struct {
	name  string
	fn    func(args ...any) (any, error)
	types []any
	// gives is what the function gives when not null; 0 for anything.
	// The types above all give any, so that null passes through, which
	// leaves the checker unable to tell a filter that can never be true
	// or false, or a transform giving text to a number field (Gives).
	gives Kinds
}

// Overloads are listed longest first, so that when no overload matches the
// checker reports the mismatch against the shortest form (expr-lang reports
// the error of the last overload it tried): round("x") says "cannot use
// string as argument (type float64)" rather than "not enough arguments".
var funcDefs = []funcDef{
	{"trim", fnTrim, []any{new(func(string, string) any), new(func(string) any)}, KindString},
	{"upper", fnUpper, []any{new(func(string) any)}, KindString},
	{"lower", fnLower, []any{new(func(string) any)}, KindString},
	{"title", fnTitle, []any{new(func(string) any)}, KindString},
	{"substr", fnSubstr, []any{new(func(string, string, string) any), new(func(string, int, int) any)}, KindString},
	{"replace", fnReplace, []any{new(func(string, string, string) any)}, KindString},
	{"regex_replace", fnRegexReplace, []any{new(func(string, string, string) any)}, KindString},
	{"regex_match", fnRegexMatch, []any{new(func(string, string) any)}, KindString},
	{"alnum", fnAlnum, []any{new(func(string) any)}, KindString},
	{"format_date", fnFormatDate, []any{new(func(time.Time, string) any), new(func(string, string) any)}, KindString},
	{"format_datetime", fnFormatDatetime, []any{new(func(time.Time, string) any), new(func(string, string) any)}, KindString},
	{"round", fnRound, []any{new(func(float64, float64, string) any), new(func(float64, float64) any), new(func(float64) any)}, KindNumber},
	{"unix_time", fnUnixTime, []any{new(func(time.Time, string) any), new(func(string, string) any), new(func(time.Time) any), new(func(string) any)}, KindNumber},
	{"coalesce", fnCoalesce, []any{new(func(any, ...any) any)}, 0},
}

// functions are the helper functions every expression can call, on top of
// expr-lang's builtins, outside any budget. See the table at the top of
// this file.
func functions() []expr.Option {
	return buildFunctions(nil, nil)
}

// growingFuncs are the functions whose result can be far larger than
// their arguments, each with a function giving the result's size (at
// most, and more than limit when it is over limit), counted against the
// evaluation's budget before the result is made.
var growingFuncs = map[string]func(args []any, limit int) (int, error){
	"replace":       replaceSize,
	"regex_replace": regexReplaceSize,
}

// buildFunctions returns the options registering funcDefs, counting each
// call against b (see evalBudget; nil counts nothing); wrap, when not
// nil, wraps each implementation (tests use it to catch panics, which the
// expr-lang VM would otherwise turn into ordinary errors).
func buildFunctions(b *evalBudget, wrap func(name string, fn func(...any) (any, error)) func(...any) (any, error)) []expr.Option {
	opts := make([]expr.Option, 0, 2*len(funcDefs))
	for _, d := range funcDefs {
		// expr.Function already takes precedence over a builtin of the same
		// name in a plain call, but ::name(...) still reaches the builtin;
		// disabling it makes ours the only one.
		if _, ok := builtin.Index[d.name]; ok {
			opts = append(opts, expr.DisableBuiltin(d.name))
		}
		fn := d.fn
		if wrap != nil {
			fn = wrap(d.name, fn)
		}
		if b != nil {
			fn = budgeted(b, d.name, fn)
		}
		opts = append(opts, expr.Function(d.name, fn, d.types...))
	}
	return opts
}

// budgeted counts the calls of fn against b: a growing function's result
// before it is made, any other's after.
func budgeted(b *evalBudget, name string, fn func(...any) (any, error)) func(...any) (any, error) {
	size := growingFuncs[name]
	return func(args ...any) (any, error) {
		if size != nil {
			n, err := size(args, b.left)
			if err != nil {
				return nil, err
			}
			if err := b.reserve(name, n); err != nil {
				return nil, err
			}
			return fn(args...)
		}
		if err := b.tick(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out, err := fn(args...)
		if err != nil {
			return nil, err
		}
		return out, b.charge(name, out)
	}
}

// replaceSize is the length of replace(s, old, new)'s result.
func replaceSize(args []any, _ int) (int, error) {
	s, _ := args[0].(string)
	old, _ := args[1].(string)
	repl, _ := args[2].(string)
	if old == "" || len(repl) <= len(old) {
		return len(s), nil
	}
	return len(s) + strings.Count(s, old)*(len(repl)-len(old)), nil
}

// regexReplaceSize bounds the length of regex_replace(s, pattern, repl)'s
// result: s, plus repl's text for each match, plus, for each $ in repl (a
// group, at most as long as its match, and matches do not overlap), s
// again. When that is over limit the matches are counted.
func regexReplaceSize(args []any, limit int) (int, error) {
	s, _ := args[0].(string)
	pattern, _ := args[1].(string)
	repl, _ := args[2].(string)
	groups := strings.Count(repl, "$") * len(s)
	n := len(s) + groups + (len(s)+1)*len(repl)
	if n <= limit || len(repl) == 0 {
		return n, nil
	}
	re, err := compileRegex("regex_replace", pattern)
	if err != nil {
		return 0, nil // regex_replace reports it
	}
	matches := 0
	re.ReplaceAllStringFunc(s, func(string) string { matches++; return "" })
	return len(s) + groups + matches*len(repl), nil
}

// ---------------------------------------------------------------------------
// Argument helpers.

// subject returns args[0] as the string being transformed; ok is false when
// it is nil (the result is then nil).
func subject(fn string, args []any) (s string, ok bool, err error) {
	if len(args) == 0 {
		return "", false, fmt.Errorf("%s: missing argument", fn)
	}
	switch v := args[0].(type) {
	case nil:
		return "", false, nil
	case string:
		return v, true, nil
	default:
		return "", false, fmt.Errorf("%s: expected a string, got %s", fn, typeName(v))
	}
}

// stringArg returns args[i], which must be a string (nil is an error: only
// the subject propagates null).
func stringArg(fn, what string, args []any, i int) (string, error) {
	if i >= len(args) {
		return "", fmt.Errorf("%s: missing %s", fn, what)
	}
	s, ok := args[i].(string)
	if !ok {
		return "", fmt.Errorf("%s: %s must be a string, got %s", fn, what, typeName(args[i]))
	}
	return s, nil
}

func typeName(v any) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprintf("%T", v)
}

func checkArity(fn string, args []any, min, max int) error {
	if len(args) < min || len(args) > max {
		if min == max {
			return fmt.Errorf("%s: expected %d arguments, got %d", fn, min, len(args))
		}
		return fmt.Errorf("%s: expected %d to %d arguments, got %d", fn, min, max, len(args))
	}
	return nil
}

// intArg returns args[i] as an int: any Go integer, or a float64 or
// json.Number with an integral value.
func intArg(fn, what string, args []any, i int) (int, error) {
	bad := func() (int, error) {
		return 0, fmt.Errorf("%s: %s must be an integer, got %s %v", fn, what, typeName(args[i]), args[i])
	}
	const limit = math.MaxInt32
	switch v := args[i].(type) {
	case int:
		if v > limit || v < -limit {
			return bad()
		}
		return v, nil
	case int64:
		if v > limit || v < -limit {
			return bad()
		}
		return int(v), nil
	case float64:
		if v != math.Trunc(v) || v > limit || v < -limit {
			return bad()
		}
		return int(v), nil
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			f, ferr := v.Float64()
			if ferr != nil || f != math.Trunc(f) {
				return bad()
			}
			n = int64(f)
		}
		if n > limit || n < -limit {
			return bad()
		}
		return int(n), nil
	}
	rv := reflect.ValueOf(args[i])
	switch {
	case rv.CanInt():
		if n := rv.Int(); n <= limit && n >= -limit {
			return int(n), nil
		}
	case rv.CanUint():
		if n := rv.Uint(); n <= limit {
			return int(n), nil
		}
	}
	return bad()
}

// ---------------------------------------------------------------------------
// String functions.

// fnTrim implements trim(s) (removes leading and trailing Unicode white
// space) and trim(s, cutset) (removes leading and trailing characters that
// are in cutset).
//
//	trim("  Acme Ltd  ")   -> "Acme Ltd"
//	trim("--42--", "-")    -> "42"
func fnTrim(args ...any) (any, error) {
	if err := checkArity("trim", args, 1, 2); err != nil {
		return nil, err
	}
	s, ok, err := subject("trim", args)
	if !ok || err != nil {
		return nil, err
	}
	if len(args) == 1 {
		return strings.TrimSpace(s), nil
	}
	cutset, err := stringArg("trim", "cutset", args, 1)
	if err != nil {
		return nil, err
	}
	return strings.Trim(s, cutset), nil
}

// fnUpper implements upper(s): s in upper case (Unicode simple case
// mapping, locale independent: ß stays ß, i becomes I).
//
//	upper("Müller") -> "MÜLLER"
func fnUpper(args ...any) (any, error) {
	if err := checkArity("upper", args, 1, 1); err != nil {
		return nil, err
	}
	s, ok, err := subject("upper", args)
	if !ok || err != nil {
		return nil, err
	}
	return strings.ToUpper(s), nil
}

// fnLower implements lower(s): s in lower case (Unicode, locale
// independent).
//
//	lower("ÀBC") -> "àbc"
func fnLower(args ...any) (any, error) {
	if err := checkArity("lower", args, 1, 1); err != nil {
		return nil, err
	}
	s, ok, err := subject("lower", args)
	if !ok || err != nil {
		return nil, err
	}
	return strings.ToLower(s), nil
}

// fnTitle implements title(s): the first letter of each word in title case,
// the rest of the word in lower case. A word is a run of letters, digits and
// combining marks; an apostrophe (' or ’) inside a word does not end it, so
// "don't" becomes "Don't" (and "o'neil" becomes "O'neil"). Any other
// character (space, hyphen, slash, ...) separates words.
//
//	title("jean-luc o'NEIL's café") -> "Jean-Luc O'neil's Café"
func fnTitle(args ...any) (any, error) {
	if err := checkArity("title", args, 1, 1); err != nil {
		return nil, err
	}
	s, ok, err := subject("title", args)
	if !ok || err != nil {
		return nil, err
	}
	var b strings.Builder
	b.Grow(len(s))
	inWord := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			if inWord {
				b.WriteRune(unicode.ToLower(r))
			} else {
				b.WriteRune(unicode.ToTitle(r))
			}
			inWord = true
		case inWord && (r == '\'' || r == '’'):
			b.WriteRune(r)
		default:
			b.WriteRune(r)
			inWord = false
		}
	}
	return b.String(), nil
}

// fnSubstr implements both forms of substr.
//
// substr(s, start, length): length characters (Unicode code points) of s
// from the 1-based position start, as the product's Substring rule. A length
// beyond the end is cut at the end; a start beyond the end gives "". start < 1
// or length < 0 is an error.
//
//	substr("Cronus Ltd", 1, 6) -> "Cronus"
//	substr("abc", 2, 99)       -> "bc"
//
// substr(s, startText, endText): the text between the first occurrence of
// startText and the next occurrence of endText after it. An empty startText
// means from the beginning, an empty endText to the end. The result is nil
// when startText, or endText after it, is not found.
//
//	substr("Name: Bob <bob@x.io>", "<", ">") -> "bob@x.io"
//	substr("key=value", "=", "")             -> "value"
//	substr("no marker", "[", "]")            -> nil
func fnSubstr(args ...any) (any, error) {
	if err := checkArity("substr", args, 3, 3); err != nil {
		return nil, err
	}
	s, ok, err := subject("substr", args)
	if !ok || err != nil {
		return nil, err
	}
	startText, text1 := args[1].(string)
	endText, text2 := args[2].(string)
	if text1 != text2 {
		return nil, fmt.Errorf("substr: expected (s, start, length) with integers or (s, startText, endText) with strings, got %s and %s",
			typeName(args[1]), typeName(args[2]))
	}
	if text1 {
		from := 0
		if startText != "" {
			i := strings.Index(s, startText)
			if i < 0 {
				return nil, nil
			}
			from = i + len(startText)
		}
		rest := s[from:]
		if endText == "" {
			return rest, nil
		}
		j := strings.Index(rest, endText)
		if j < 0 {
			return nil, nil
		}
		return rest[:j], nil
	}
	start, err := intArg("substr", "start", args, 1)
	if err != nil {
		return nil, err
	}
	length, err := intArg("substr", "length", args, 2)
	if err != nil {
		return nil, err
	}
	if start < 1 {
		return nil, fmt.Errorf("substr: start must be 1 or more (positions are 1-based), got %d", start)
	}
	if length < 0 {
		return nil, fmt.Errorf("substr: length must not be negative, got %d", length)
	}
	// Walk to the byte offsets of the start and end runes.
	i, pos := 0, 1
	for i < len(s) && pos < start {
		_, n := utf8.DecodeRuneInString(s[i:])
		i += n
		pos++
	}
	j := i
	for k := 0; j < len(s) && k < length; k++ {
		_, n := utf8.DecodeRuneInString(s[j:])
		j += n
	}
	return s[i:j], nil
}

// fnReplace implements replace(s, old, new): s with every occurrence of old
// replaced by new. An empty old leaves s unchanged.
//
//	replace("a.b.c", ".", "-") -> "a-b-c"
func fnReplace(args ...any) (any, error) {
	if err := checkArity("replace", args, 3, 3); err != nil {
		return nil, err
	}
	s, ok, err := subject("replace", args)
	if !ok || err != nil {
		return nil, err
	}
	old, err := stringArg("replace", "old", args, 1)
	if err != nil {
		return nil, err
	}
	repl, err := stringArg("replace", "new", args, 2)
	if err != nil {
		return nil, err
	}
	if old == "" {
		return s, nil
	}
	return strings.ReplaceAll(s, old, repl), nil
}

// fnRegexReplace implements regex_replace(s, pattern, repl): s with every
// match of pattern (Go regexp syntax, RE2) replaced by repl, in which $1,
// ${1} and ${name} expand to capture groups (write ${1}x, not $1x, when a
// letter or digit follows; $$ is a literal $).
//
//	regex_replace("2024-05-01", `(\d+)-(\d+)-(\d+)`, "$3.$2.$1") -> "01.05.2024"
func fnRegexReplace(args ...any) (any, error) {
	if err := checkArity("regex_replace", args, 3, 3); err != nil {
		return nil, err
	}
	s, ok, err := subject("regex_replace", args)
	if !ok || err != nil {
		return nil, err
	}
	pattern, err := stringArg("regex_replace", "pattern", args, 1)
	if err != nil {
		return nil, err
	}
	repl, err := stringArg("regex_replace", "replacement", args, 2)
	if err != nil {
		return nil, err
	}
	re, err := compileRegex("regex_replace", pattern)
	if err != nil {
		return nil, err
	}
	return re.ReplaceAllString(s, repl), nil
}

// fnRegexMatch implements regex_match(s, pattern): the first match of
// pattern (Go regexp syntax) in s or, when the pattern has a capture group,
// the text of its first group. The result is nil when nothing matches (or
// the first group did not take part in the match).
//
//	regex_match("Order SO-1042 shipped", `SO-\d+`)   -> "SO-1042"
//	regex_match("Order SO-1042 shipped", `SO-(\d+)`) -> "1042"
//	regex_match("none", `\d+`)                        -> nil
func fnRegexMatch(args ...any) (any, error) {
	if err := checkArity("regex_match", args, 2, 2); err != nil {
		return nil, err
	}
	s, ok, err := subject("regex_match", args)
	if !ok || err != nil {
		return nil, err
	}
	pattern, err := stringArg("regex_match", "pattern", args, 1)
	if err != nil {
		return nil, err
	}
	re, err := compileRegex("regex_match", pattern)
	if err != nil {
		return nil, err
	}
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil {
		return nil, nil
	}
	if re.NumSubexp() > 0 {
		loc = loc[2:4]
	}
	if loc[0] < 0 {
		return nil, nil
	}
	return s[loc[0]:loc[1]], nil
}

// fnAlnum implements alnum(s): s without every character that is not a
// Unicode letter or digit (spaces, punctuation, symbols and combining marks
// are removed).
//
//	alnum("+49 (0) 30-1234 ü") -> "490301234ü"
func fnAlnum(args ...any) (any, error) {
	if err := checkArity("alnum", args, 1, 1); err != nil {
		return nil, err
	}
	s, ok, err := subject("alnum", args)
	if !ok || err != nil {
		return nil, err
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, s), nil
}

// ---------------------------------------------------------------------------
// Regular expression cache.

// maxCachedPatterns bounds the regexp cache, in case patterns are built from
// record data; past it, patterns are compiled on every call.
const maxCachedPatterns = 1024

type cachedRegex struct {
	re  *regexp.Regexp
	err error
}

var (
	regexCache      sync.Map // pattern text -> *cachedRegex
	regexCacheCount atomic.Int64
)

// compileRegex returns the compiled pattern, compiling each pattern text
// once. It is safe for concurrent use.
func compileRegex(fn, pattern string) (*regexp.Regexp, error) {
	var c *cachedRegex
	if v, ok := regexCache.Load(pattern); ok {
		c = v.(*cachedRegex)
	} else {
		re, err := regexp.Compile(pattern)
		c = &cachedRegex{re: re, err: err}
		if regexCacheCount.Load() < maxCachedPatterns {
			if v, loaded := regexCache.LoadOrStore(pattern, c); loaded {
				c = v.(*cachedRegex)
			} else {
				regexCacheCount.Add(1)
			}
		}
	}
	if c.err != nil {
		return nil, fmt.Errorf("%s: invalid pattern %q: %w", fn, pattern, c.err)
	}
	return c.re, nil
}

// ---------------------------------------------------------------------------
// Dates.

// fnFormatDate implements format_date(v, layout). v is an RFC 3339
// date-time string, a date string ("2024-05-01"), a date-time string without
// zone (taken as UTC), a time.Time, or nil (the result is nil; so is an empty
// string). A date-time is converted to UTC before its date is taken. layout
// is "iso" (2006-01-02) or a pattern (see formatPattern).
//
//	format_date("2024-05-01T23:30:00Z", "iso")   -> "2024-05-01"
//	format_date("2024-05-01", "dd.MM.yyyy")      -> "01.05.2024"
//	format_date(date("2024-12-24"), "d/M/yy")    -> "24/12/24"
func fnFormatDate(args ...any) (any, error) {
	return formatTime("format_date", "2006-01-02", args)
}

// fnFormatDatetime implements format_datetime(v, layout), as format_date,
// but "iso" is RFC 3339 in UTC with Z and whole seconds
// (2024-05-01T10:30:00Z); use a pattern with fff for milliseconds.
//
//	format_datetime("2024-05-01T12:30:00+02:00", "iso") -> "2024-05-01T10:30:00Z"
//	format_datetime("2024-05-01T07:08:09.5Z", "yyyy-MM-dd'T'HH:mm:ss.fff") -> "2024-05-01T07:08:09.500"
//	format_datetime("2024-05-01T07:08:09.5Z", "HH:mm:ss.fff' UTC'")       -> "07:08:09.500 UTC"
func fnFormatDatetime(args ...any) (any, error) {
	return formatTime("format_datetime", "2006-01-02T15:04:05Z", args)
}

func formatTime(fn, isoLayout string, args []any) (any, error) {
	if err := checkArity(fn, args, 2, 2); err != nil {
		return nil, err
	}
	t, ok, err := timeArg(fn, args[0])
	if !ok || err != nil {
		return nil, err
	}
	layout, err := stringArg(fn, "layout", args, 1)
	if err != nil {
		return nil, err
	}
	if layout == "iso" {
		return t.Format(isoLayout), nil
	}
	p, err := parsePattern(layout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return p.format(t), nil
}

// timeArg converts a date or date-time value to a UTC time; ok is false for
// nil or an empty string.
func timeArg(fn string, v any) (t time.Time, ok bool, err error) {
	switch v := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return v.UTC(), true, nil
	case *time.Time:
		if v == nil {
			return time.Time{}, false, nil
		}
		return v.UTC(), true, nil
	case string:
		if v == "" {
			return time.Time{}, false, nil
		}
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UTC(), true, nil
			}
		}
		return time.Time{}, false, fmt.Errorf("%s: cannot read %q as an RFC 3339 date-time (2024-05-01T10:30:00Z) or a date (2024-05-01)", fn, v)
	default:
		return time.Time{}, false, fmt.Errorf("%s: expected a date/time string or time.Time, got %s", fn, typeName(v))
	}
}

// timeLayouts are the accepted input forms. time.Parse reads a value
// without zone as UTC, whatever the machine's zone.
var timeLayouts = []string{
	time.RFC3339Nano, // also matches without fractional seconds
	"2006-01-02",
	"2006-01-02T15:04:05.999999999",
}

// A datePattern is a parsed, culture-independent date layout. Tokens:
//
//	yyyy  4-digit year      2024
//	yy    2-digit year      24
//	MM    month, 2 digits   05
//	M     month             5
//	dd    day, 2 digits     01
//	d     day               1
//	HH    hour 00-23        07
//	H     hour 0-23         7
//	mm    minute, 2 digits  08
//	ss    second, 2 digits  09
//	fff   milliseconds      500
//
// Tokens are case-sensitive (MM is the month, mm the minute). Characters
// that are not ASCII letters (- . / : space, digits, ...) are copied as they
// are. Literal letters must be quoted in single quotes; two single quotes in
// a row are a literal quote, inside or outside a quoted part:
//
//	yyyy-MM-dd'T'HH:mm   2024-05-01T07:08
//	d.M.yyyy' at 'H:mm   1.5.2024 at 7:08
//	HH'h'mm''ss          07h08'09
//
// Any other unquoted letter is an error, so typos such as YYYY or DD are
// caught.
type datePattern []patternPart

type patternPart struct {
	token   string // "" for literal text
	literal string
}

var (
	patternCache      sync.Map // layout -> datePattern or error
	patternCacheCount atomic.Int64
)

func parsePattern(layout string) (datePattern, error) {
	if v, ok := patternCache.Load(layout); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.(datePattern), nil
	}
	p, err := parsePatternUncached(layout)
	var v any = p
	if err != nil {
		v = err
	}
	if patternCacheCount.Load() < maxCachedPatterns {
		if _, loaded := patternCache.LoadOrStore(layout, v); !loaded {
			patternCacheCount.Add(1)
		}
	}
	return p, err
}

var patternTokens = map[string]bool{
	"yyyy": true, "yy": true, "MM": true, "M": true, "dd": true, "d": true,
	"HH": true, "H": true, "mm": true, "ss": true, "fff": true,
}

func parsePatternUncached(layout string) (datePattern, error) {
	var p datePattern
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p = append(p, patternPart{literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(layout); {
		c := layout[i]
		switch {
		case c == '\'':
			if i+1 < len(layout) && layout[i+1] == '\'' {
				lit.WriteByte('\'')
				i += 2
				continue
			}
			// Quoted literal up to the closing quote; '' inside is a quote.
			j := i + 1
			closed := false
			for j < len(layout) {
				if layout[j] == '\'' {
					if j+1 < len(layout) && layout[j+1] == '\'' {
						lit.WriteByte('\'')
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				lit.WriteByte(layout[j])
				j++
			}
			if !closed {
				return nil, fmt.Errorf("layout %q: unterminated quote", layout)
			}
			i = j
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(layout) && layout[j] == c {
				j++
			}
			tok := layout[i:j]
			if !patternTokens[tok] {
				return nil, fmt.Errorf("layout %q: unknown pattern %q (use yyyy yy MM M dd d HH H mm ss fff, or \"iso\"; quote literal letters, e.g. 'T')", layout, tok)
			}
			flush()
			p = append(p, patternPart{token: tok})
			i = j
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return p, nil
}

func (p datePattern) format(t time.Time) string {
	var b []byte
	for _, part := range p {
		switch part.token {
		case "":
			b = append(b, part.literal...)
		case "yyyy":
			b = appendPadded(b, t.Year(), 4)
		case "yy":
			y := t.Year() % 100
			if y < 0 {
				y = -y
			}
			b = appendPadded(b, y, 2)
		case "MM":
			b = appendPadded(b, int(t.Month()), 2)
		case "M":
			b = strconv.AppendInt(b, int64(t.Month()), 10)
		case "dd":
			b = appendPadded(b, t.Day(), 2)
		case "d":
			b = strconv.AppendInt(b, int64(t.Day()), 10)
		case "HH":
			b = appendPadded(b, t.Hour(), 2)
		case "H":
			b = strconv.AppendInt(b, int64(t.Hour()), 10)
		case "mm":
			b = appendPadded(b, t.Minute(), 2)
		case "ss":
			b = appendPadded(b, t.Second(), 2)
		case "fff":
			b = appendPadded(b, t.Nanosecond()/1e6, 3)
		}
	}
	return string(b)
}

func appendPadded(b []byte, n, width int) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	s := strconv.Itoa(n)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// fnUnixTime implements unix_time(v) and unix_time(v, unit): the seconds
// (unit "s", the default) or milliseconds (unit "ms") since 1970-01-01 UTC,
// as int64, of an RFC 3339 date-time string, a date string or a time.Time;
// nil for nil or "".
//
//	unix_time("2024-05-01T00:00:00Z")             -> 1714521600
//	unix_time("1970-01-01T00:00:01.5Z", "ms")     -> 1500
func fnUnixTime(args ...any) (any, error) {
	if err := checkArity("unix_time", args, 1, 2); err != nil {
		return nil, err
	}
	unit := "s"
	if len(args) == 2 {
		var err error
		if unit, err = stringArg("unix_time", "unit", args, 1); err != nil {
			return nil, err
		}
		if unit != "s" && unit != "ms" {
			return nil, fmt.Errorf(`unix_time: unit must be "s" or "ms", got %q`, unit)
		}
	}
	t, ok, err := timeArg("unix_time", args[0])
	if !ok || err != nil {
		return nil, err
	}
	if unit == "ms" {
		return t.UnixMilli(), nil
	}
	return t.Unix(), nil
}

// ---------------------------------------------------------------------------
// Numbers.

// fnRound implements round(x), round(x, precision) and round(x, precision,
// direction), like the product's ROUND: x rounded to a multiple of precision
// (default 1): 0.01 rounds to cents, 1 to integers, 5 to fives. direction is
// "nearest" (default; halves away from zero), "up" (away from zero) or
// "down" (toward zero). x and precision are numbers (Go integers, float64,
// json.Number); a string is an error, nil gives nil. The arithmetic is
// decimal on the number's shortest decimal text, so round(2.675, 0.01) is
// 2.68 although the float64 2.675 is slightly below it.
//
// The result is an int64 when it is integral and precision >= 1, otherwise
// a float64.
//
//	round(2.5)                   -> 3
//	round(2.675, 0.01)           -> 2.68
//	round(12.5, 5)               -> 15
//	round(-2.121, 0.01, "up")    -> -2.13
//	round(2.129, 0.01, "down")   -> 2.12
func fnRound(args ...any) (any, error) {
	if err := checkArity("round", args, 1, 3); err != nil {
		return nil, err
	}
	if args[0] == nil {
		return nil, nil
	}
	x, err := ratArg("round", "value", args[0])
	if err != nil {
		return nil, err
	}
	precision := big.NewRat(1, 1)
	if len(args) >= 2 {
		if precision, err = ratArg("round", "precision", args[1]); err != nil {
			return nil, err
		}
		if precision.Sign() <= 0 {
			return nil, fmt.Errorf("round: precision must be greater than 0, got %s", precision.FloatString(6))
		}
	}
	direction := "nearest"
	if len(args) == 3 {
		if direction, err = stringArg("round", "direction", args, 2); err != nil {
			return nil, err
		}
		if direction != "nearest" && direction != "up" && direction != "down" {
			return nil, fmt.Errorf(`round: direction must be "nearest", "up" or "down", got %q`, direction)
		}
	}

	// q = x / precision, split into an integer part and a remainder
	// (truncated toward zero), then moved one step away from zero if the
	// direction asks for it.
	q := new(big.Rat).Quo(x, precision)
	quo, rem := new(big.Int).QuoRem(q.Num(), q.Denom(), new(big.Int))
	if rem.Sign() != 0 {
		away := false
		switch direction {
		case "nearest":
			twice := new(big.Int).Abs(rem)
			twice.Lsh(twice, 1)
			away = twice.Cmp(q.Denom()) >= 0
		case "up":
			away = true
		}
		if away {
			quo.Add(quo, big.NewInt(int64(q.Sign())))
		}
	}
	r := new(big.Rat).Mul(new(big.Rat).SetInt(quo), precision)
	if r.IsInt() && precision.Cmp(big.NewRat(1, 1)) >= 0 && r.Num().IsInt64() {
		return r.Num().Int64(), nil
	}
	f, _ := r.Float64()
	if math.IsInf(f, 0) {
		return nil, fmt.Errorf("round: result out of range")
	}
	return f, nil
}

// maxDecimalExponent bounds the exponent of a json.Number read exactly, so
// that "1e-999999999" cannot make the decimal arithmetic allocate gigabytes.
const maxDecimalExponent = 400

var errNotNumber = errors.New("not a number")

// ratArg converts a number to its exact decimal value.
func ratArg(fn, what string, v any) (*big.Rat, error) {
	bad := func() (*big.Rat, error) {
		return nil, fmt.Errorf("%s: %s must be a number, got %s", fn, what, typeName(v))
	}
	switch n := v.(type) {
	case int:
		return new(big.Rat).SetInt64(int64(n)), nil
	case int64:
		return new(big.Rat).SetInt64(n), nil
	case float64:
		return floatRat(fn, what, n, 64)
	case float32:
		return floatRat(fn, what, float64(n), 32)
	case json.Number:
		r, err := decimalRat(string(n))
		if err != nil {
			return nil, fmt.Errorf("%s: %s %q is not a valid number", fn, what, string(n))
		}
		return r, nil
	case string, bool, nil:
		return bad()
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return new(big.Rat).SetInt64(rv.Int()), nil
	case rv.CanUint():
		return new(big.Rat).SetInt(new(big.Int).SetUint64(rv.Uint())), nil
	case rv.CanFloat():
		return floatRat(fn, what, rv.Float(), rv.Type().Bits())
	}
	return bad()
}

func floatRat(fn, what string, f float64, bits int) (*big.Rat, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%s: %s must be a finite number, got %v", fn, what, f)
	}
	// The shortest decimal text that reads back as f: 2.675, not
	// 2.67499999999999982236431605997495353221893310546875.
	r, err := decimalRat(strconv.FormatFloat(f, 'g', -1, bits))
	if err != nil {
		return nil, fmt.Errorf("%s: %s %v: %w", fn, what, f, err)
	}
	return r, nil
}

// decimalRat reads a decimal number (JSON number syntax, with an optional
// leading + and surrounding space not allowed) exactly.
func decimalRat(s string) (*big.Rat, error) {
	if s == "" || strings.ContainsAny(s, "/_xXpP") {
		return nil, errNotNumber
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return nil, errNotNumber // also rejects out-of-range values
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp, err := strconv.Atoi(s[i+1:])
		if err != nil || exp > maxDecimalExponent || exp < -maxDecimalExponent {
			return nil, errNotNumber
		}
	}
	if len(s) > 1000 {
		return nil, errNotNumber
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, errNotNumber
	}
	return r, nil
}

// ---------------------------------------------------------------------------
// Misc.

// fnCoalesce implements coalesce(a, b, ...): the first argument that is not
// nil, or nil when all are. Arguments may be of any type.
//
//	coalesce(nil, "", "x") -> ""
func fnCoalesce(args ...any) (any, error) {
	for _, a := range args {
		if a != nil {
			return a, nil
		}
	}
	return nil, nil
}
