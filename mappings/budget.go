package mappings

// The budgets of one evaluation of an expression: the time it may run and
// the bytes of strings it may make. A hostile or mistaken expression
// (repeat(repeat(value, 10000), 10000)) fails its record with an error
// saying which budget ran out, instead of taking the process's memory or
// holding up the run.
//
// expr-lang has a memory budget of its own (vm.MemoryBudget, 1e6 units by
// default), which this keeps: it counts the items of lists, maps and
// ranges and every loop's iterations, so a loop runs at most about a
// million times. It does not count the strings an expression makes, except
// repeat's, and counts those after making them. So coupler counts every
// string its functions, a concatenation and the string-making builtins
// (repeat, join, toJSON, string) produce, before making it, across nested
// calls; and checks the time at each of those calls and at every loop
// iteration. A single call of another expr-lang builtin is bounded by its
// arguments (a record's values, or strings this budget counted).

import (
	"fmt"
	"reflect"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/vm/runtime"
)

// Budgets of one evaluation.
const (
	// maxEvalBytes bounds the bytes of the strings one evaluation makes,
	// so that a field's transform can copy and change a value of several
	// megabytes (Dataverse's longest text holds a million characters),
	// while a runaway one is stopped at a size any machine can hold.
	maxEvalBytes = 16 << 20
)

// evalTimeBudget bounds how long one evaluation runs; a transform or
// filter takes microseconds. A variable for tests.
var evalTimeBudget = time.Second

// evalBudget is what is left of the budgets of the evaluation under way
// of one Program. A nil *evalBudget checks nothing (functions used
// outside a Program, in tests).
type evalBudget struct {
	deadline time.Time
	left     int
	ticks    uint
}

// clockEvery is how many ticks go by between readings of the clock,
// which costs as much as a call of a function (some 100ns on a virtual
// machine); each tick is a call or a loop iteration bounded by its
// arguments, so sixteen of them overrun the deadline by little.
const clockEvery = 16

// start resets the budgets for a new evaluation.
func (b *evalBudget) start() {
	b.deadline = time.Now().Add(evalTimeBudget)
	b.left = maxEvalBytes
	b.ticks = 0
}

// tick fails once the evaluation has run out of time.
func (b *evalBudget) tick() error {
	if b == nil {
		return nil
	}
	b.ticks++
	if b.ticks%clockEvery == 0 && time.Now().After(b.deadline) {
		return fmt.Errorf("stopped after %s, the time budget of one evaluation", evalTimeBudget)
	}
	return nil
}

// reserve takes n bytes from the budget, before fn makes them, and
// checks the time.
func (b *evalBudget) reserve(fn string, n int) error {
	if b == nil {
		return nil
	}
	if err := b.tick(); err != nil {
		return fmt.Errorf("%s: %w", fn, err)
	}
	if n < 0 || n > b.left {
		return fmt.Errorf("%s: the result would take more than the %d bytes left of the memory budget of one evaluation (%d MiB)", fn, b.left, maxEvalBytes>>20)
	}
	b.left -= n
	return nil
}

// charge counts a string fn made; the functions whose result is no larger
// than a small multiple of their arguments are counted after the fact.
func (b *evalBudget) charge(fn string, out any) error {
	if s, ok := out.(string); ok {
		return b.reserve(fn, len(s))
	}
	return b.tick()
}

// budgetOptions are the options that put one evaluation of a Program
// under b: the string-making builtins replaced by checked ones, + on
// strings made a checked call, and a time check in every loop.
func budgetOptions(b *evalBudget) []expr.Option {
	opts := []expr.Option{
		expr.Patch(budgetPatcher{}),
		expr.Function(addFunc, func(args ...any) (any, error) { return budgetedAdd(b, args[0], args[1]) },
			new(func(string, string) string), new(func(any, any) any)),
		expr.Function(tickFunc, func(...any) (any, error) { return false, b.tick() }, new(func() bool)),
	}
	for name, size := range builtinSizes {
		f := builtin.Builtins[builtin.Index[name]]
		call := f.Func
		switch {
		case f.Fast != nil:
			call = func(args ...any) (any, error) { return f.Fast(args[0]), nil }
		case f.Safe != nil:
			call = func(args ...any) (any, error) { out, _, err := f.Safe(args...); return out, err }
		}
		opts = append(opts, expr.DisableBuiltin(name), func(c *conf.Config) {
			c.Functions[name] = &builtin.Function{Name: name, Types: f.Types, Func: func(args ...any) (any, error) {
				n, err := size(args, b.limit())
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				if err := b.reserve(name, n); err != nil {
					return nil, err
				}
				return call(args...)
			}}
		})
	}
	return opts
}

// limit is the bytes left, past which a size estimate may stop counting.
func (b *evalBudget) limit() int {
	if b == nil {
		return maxEvalBytes
	}
	return b.left
}

// Names of the functions budgetPatcher inserts, spelt like expr-lang's
// $env so that no field or function of a mapping is named so (calling
// them by hand is harmless: they are + and a check).
const (
	addFunc  = "$add"
	tickFunc = "$tick"
)

// budgetedAdd is a + b, with a concatenation of strings counted first.
func budgetedAdd(bud *evalBudget, a, b any) (any, error) {
	sa, ok1 := a.(string)
	sb, ok2 := b.(string)
	if ok1 && ok2 {
		if err := bud.reserve("+", len(sa)+len(sb)); err != nil {
			return nil, err
		}
		return sa + sb, nil
	}
	return runtime.Add(a, b), nil // panics on mismatched types, as + does
}

// builtinSizes are the expr-lang builtins whose result can be far larger
// than their arguments, each with a function giving the result's size (at
// most, and more than limit when it is over limit) before it is made.
var builtinSizes = map[string]func(args []any, limit int) (int, error){
	"repeat": func(args []any, _ int) (int, error) {
		s, _ := args[0].(string)
		n := runtime.ToInt(args[1])
		if n > 0 && len(s) > (1<<62)/n {
			return -1, nil
		}
		return len(s) * max(n, 0), nil
	},
	"join": func(args []any, _ int) (int, error) {
		glue := ""
		if len(args) == 2 {
			glue, _ = args[1].(string)
		}
		n := 0
		add := func(s string) { n += len(s) + len(glue) }
		switch v := args[0].(type) {
		case []string:
			for _, s := range v {
				add(s)
			}
		case []any:
			for _, s := range v {
				str, _ := s.(string)
				add(str)
			}
		}
		return n, nil
	},
	// toJSON indents by two spaces per level, and may escape a character
	// in six (\u0000).
	"toJSON": func(args []any, limit int) (int, error) { return textSize(args[0], 6, 8, limit), nil },
	"string": func(args []any, limit int) (int, error) { return textSize(args[0], 1, 2, limit), nil },
}

// textSize estimates, from above, the length of v written as text: a
// string's bytes times perByte, 32 for any other scalar, and perItem plus
// two per level of nesting for each item of a list or map (separators,
// indentation, quotes). It stops counting past limit.
func textSize(v any, perByte, perItem, limit int) int {
	n := 0
	var walk func(v reflect.Value, depth int)
	walk = func(v reflect.Value, depth int) {
		if n > limit {
			return
		}
		switch v.Kind() {
		case reflect.Interface, reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), depth)
				return
			}
			n += 4
		case reflect.String:
			n += 2 + perByte*v.Len()
		case reflect.Slice, reflect.Array:
			n += 2
			for i := 0; i < v.Len() && n <= limit; i++ {
				n += perItem + 2*depth
				walk(v.Index(i), depth+1)
			}
		case reflect.Map:
			n += 2
			for it := v.MapRange(); it.Next() && n <= limit; {
				n += perItem + 2*depth
				walk(it.Key(), depth+1)
				walk(it.Value(), depth+1)
			}
		case reflect.Struct:
			if _, ok := v.Interface().(time.Time); ok {
				n += 40
				return
			}
			n += 2
			for i := 0; i < v.NumField() && n <= limit; i++ {
				n += perItem + len(v.Type().Field(i).Name) + 2*depth
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i), depth+1)
				}
			}
		default:
			n += 32
		}
	}
	walk(reflect.ValueOf(v), 0)
	return n
}

// budgetPatcher makes + a call of addFunc wherever it may join strings
// (both sides strings or of a type known only when it runs), and puts a
// call of tickFunc in every loop's body, so that both check the budget.
type budgetPatcher struct{}

// Visit implements ast.Visitor.
func (budgetPatcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator == "+" && mayBeString(n.Left.Type()) && mayBeString(n.Right.Type()) {
			call := &ast.CallNode{Callee: &ast.IdentifierNode{Value: addFunc}, Arguments: []ast.Node{n.Left, n.Right}}
			ast.Patch(node, call)
		}
	case *ast.PredicateNode:
		// tick() || body for a predicate giving true or false, tick() ?
		// nil : body for any other (tick gives false or fails).
		tick := &ast.CallNode{Callee: &ast.IdentifierNode{Value: tickFunc}}
		if t := n.Node.Type(); t != nil && t.Kind() == reflect.Bool {
			n.Node = &ast.BinaryNode{Operator: "||", Left: tick, Right: n.Node}
		} else {
			n.Node = &ast.ConditionalNode{Cond: tick, Exp1: &ast.NilNode{}, Exp2: n.Node}
		}
	}
}

// mayBeString reports whether a value of type t may be a string when the
// expression runs.
func mayBeString(t reflect.Type) bool {
	return t == nil || t.Kind() == reflect.String || t.Kind() == reflect.Interface
}
