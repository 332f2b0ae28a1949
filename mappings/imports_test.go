package mappings

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLoaderKnowsNoConnectorType keeps the loader free of any one
// connector type: each type decodes its own settings (connectors.Spec),
// so the loader's code imports none of them.
func TestLoaderKnowsNoConnectorType(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/couplerhq/coupler/connectors/") && path != "github.com/couplerhq/coupler/connectors/config" {
				t.Errorf("%s imports %s: the loader speaks to connector types through connectors.Spec only", fset.Position(imp.Pos()), path)
			}
		}
	}
}
