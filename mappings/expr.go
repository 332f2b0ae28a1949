package mappings

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// ValueEnv is what a field transform (to_integration, from_integration) sees:
// the mapped field's source value and the whole source record.
type ValueEnv struct {
	// Value is the source field's value; nil when missing or null.
	Value any `expr:"value"`
	// Record is the whole source record.
	Record map[string]any `expr:"record"`
}

// Program is a compiled expression, ready to run once per record. It is
// safe for concurrent use; its evaluations run one at a time, each under
// its own budget (see evalBudget).
type Program struct {
	program *vm.Program
	source  string

	mu     sync.Mutex
	budget *evalBudget // its functions' budget, reset by each run
}

// Source returns the expression as written.
func (p *Program) Source() string { return p.source }

// run evaluates the program with env under a fresh budget.
func (p *Program) run(env any) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.budget.start()
	return expr.Run(p.program, env)
}

// RunValue runs a transform with env.
func (p *Program) RunValue(env *ValueEnv) (any, error) {
	return p.run(env)
}

// RunFilter runs a filter against a record, whose fields are the filter's
// variables.
func (p *Program) RunFilter(rec map[string]any) (bool, error) {
	out, err := p.run(rec)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("filter returned %T, not a boolean", out)
	}
	return b, nil
}

// CompileTransform compiles a field transform against ValueEnv.
func CompileTransform(e Expr) (*Program, *Diagnostic) {
	if d := e.checkLimits(); d != nil {
		return nil, d
	}
	b := &evalBudget{}
	p, err := expr.Compile(e.Source, append(compileOptions(b), expr.Env(ValueEnv{}))...)
	if err != nil {
		return nil, e.diagnostic(err)
	}
	return &Program{program: p, source: e.Source, budget: b}, nil
}

// compileOptions are the options of every expression, with its functions
// counted against b.
func compileOptions(b *evalBudget) []expr.Option {
	// UTC, so that now() and date() do not depend on the machine's zone.
	// "type" is a builtin of expr-lang and a field of many entities (a BC
	// contact's type); in a filter the field wins.
	return append(append(buildFunctions(b, nil), budgetOptions(b)...), expr.Timezone("UTC"), expr.DisableBuiltin("type"))
}

// CompileFilter compiles a boolean filter over a record. Field names are
// variables; a field the record lacks is null.
func CompileFilter(e Expr) (*Program, *Diagnostic) {
	if d := e.checkLimits(); d != nil {
		return nil, d
	}
	b := &evalBudget{}
	opts := append(compileOptions(b), expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.AsBool())
	p, err := expr.Compile(e.Source, opts...)
	if err != nil {
		return nil, e.diagnostic(err)
	}
	if gives := notBoolean(p.Node(), nil); gives != "" {
		example := e.Source + ` != ""`
		switch {
		case strings.HasPrefix(gives, "regex_match("):
			example = e.Source + " != nil" // nil when nothing matches
		case strings.Contains(gives, "number"):
			example = e.Source + " > 0"
		}
		return nil, &Diagnostic{Severity: Error, Pos: e.Pos, Message: "expression: a filter must give true or false, and " + gives + "; compare it, e.g. " + example}
	}
	return &Program{program: p, source: e.Source, budget: b}, nil
}

// notBoolean says what n gives when it can never be true ("trim(...)
// gives a string"), "" when it may be. It covers what the checker cannot
// see: coupler's functions give any, so that null passes through, and
// arithmetic on fields of unknown type gives any too. ref gives the kinds
// of the filter's fields where their types are known.
func notBoolean(n ast.Node, ref func(string) Kinds) string {
	switch n := n.(type) {
	case *ast.BinaryNode:
		if n.Operator == "??" {
			// The right side counts only when the left is null: a left
			// side that is never a boolean fails every other record.
			if g := notBoolean(n.Left, ref); g != "" {
				return g
			}
			return notBoolean(n.Right, ref)
		}
	case *ast.ConditionalNode:
		if g := notBoolean(n.Exp1, ref); g != "" {
			return g
		}
		return notBoolean(n.Exp2, ref)
	}
	k := gives(n, ref) &^ KindNull
	if k == 0 || k&KindBool != 0 {
		return ""
	}
	what := "it"
	switch n := n.(type) {
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok {
			what = id.Value + "(...)"
			if id.Value == addFunc {
				what = "+" // as budgetPatcher rewrote it
			}
		}
	case *ast.BuiltinNode:
		what = n.Name + "(...)"
	case *ast.BinaryNode:
		what = n.Operator
	case *ast.UnaryNode:
		what = n.Operator
	case *ast.IdentifierNode:
		what = n.Value
	}
	return what + " gives " + k.String()
}

// diagnostic turns an expr-lang error into a diagnostic that points at the
// offending character in the YAML file.
func (e Expr) diagnostic(err error) *Diagnostic {
	d := &Diagnostic{Severity: Error, Pos: e.Pos, Message: "expression: " + err.Error()}
	var fe *file.Error
	if !errors.As(err, &fe) {
		return d
	}
	d.Message = "expression: " + fe.Message
	switch {
	case e.block:
		// A block scalar's content starts on the next line; its indentation
		// is not kept by yaml.v3, so the column is approximate.
		d.Line = e.Pos.Line + fe.Line
		d.Col = e.Pos.Col + fe.Column
	case fe.Line <= 1:
		d.Col = e.Pos.Col + fe.Column
		if e.quoted {
			d.Col++
		}
	default:
		// A flow scalar folded over several lines: point at the line.
		d.Line = e.Pos.Line + fe.Line - 1
		d.Col = 1
	}
	return d
}

// Node returns the compiled expression's syntax tree, for finding the fields
// it reads.
func (p *Program) Node() ast.Node { return p.program.Node() }
