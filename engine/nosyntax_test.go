package engine

import (
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// protocolSyntax is what the engine must not spell: OData syntax belongs
// to the connectors, reached through connectors.Connector and its opt-in
// capabilities (connectors.Reference, LookupReader, ReadBacker,
// FilterPusher, FoldingGetter). Each is looked for in the string literals
// of the engine's code; TestEngineBuildsNoODataFilters looks for filter
// syntax in every line of the engine's packages.
var protocolSyntax = []struct{ text, why string }{
	{"@odata", "OData annotations (@odata.bind, @odata.etag): use connectors.Reference, connectors.ETagField"},
	{"odata.", "OData preferences and annotation names"},
	{"_value", "a lookup's read name (_x_value): ask connectors.LookupReader"},
	{"lookuplogicalname", "the lookup target annotation: ask connectors.LookupReader.LookupTarget"},
	{"Microsoft.Dynamics", "Dataverse's annotation namespace"},
	{"$filter=", "OData query options"},
	{"$select=", "OData query options"},
	{"$orderby=", "OData query options"},
	{"$expand", "OData query options"},
}

// TestEngineSpeaksNoProtocol fails when the engine's code (not its
// tests) spells OData syntax in a string literal.
func TestEngineSpeaksNoProtocol(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		fset := token.NewFileSet()
		var s scanner.Scanner
		s.Init(fset.AddFile(name, -1, len(src)), src, nil, 0)
		for {
			pos, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			if tok != token.STRING && tok != token.CHAR {
				continue
			}
			for _, f := range protocolSyntax {
				if strings.Contains(lit, f.text) {
					t.Errorf("%s: %s spells %q: %s", fset.Position(pos), lit, f.text, f.why)
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d files: run from the engine package", checked)
	}
}
