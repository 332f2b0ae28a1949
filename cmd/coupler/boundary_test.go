package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIGoesThroughTheEngine: no code of cmd/ calls a State() method
// (engine.Engine's, which hands out the state database): a command that
// reads or writes the state around the engine skips its rules, as couple
// once skipped id normalisation. The engine has a method for each.
func TestCLIGoesThroughTheEngine(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok && len(call.Args) == 0 {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "State" {
					t.Errorf("%s: %s.State() reaches into the state database around the engine; add an engine method", fset.Position(call.Pos()), receiver(sel.X))
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// receiver names the receiver of a call for the message.
func receiver(x ast.Expr) string {
	if id, ok := x.(*ast.Ident); ok {
		return id.Name
	}
	return "…"
}
