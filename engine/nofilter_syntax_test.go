package engine_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// odataFilterSyntax matches what building an OData $filter takes: the
// option's name, its comparison operators between spaces, and its
// function calls.
var odataFilterSyntax = regexp.MustCompile(`\$filter| (eq|ne|gt|ge|lt|le) |\b(startswith|endswith|contains|tolower|toupper|substring|indexof)\(`)

// TestEngineBuildsNoODataFilters keeps the engine's packages free of OData
// filter syntax: a filter is pushed down through the connector's
// connectors.FilterPusher, which alone knows its service's language and
// what the service accepts (Business Central, for one, refuses an or
// across two fields).
func TestEngineBuildsNoODataFilters(t *testing.T) {
	t.Parallel()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if m := odataFilterSyntax.FindString(line); m != "" {
				t.Errorf("%s:%d: OData filter syntax %q: push filters down with connectors.FilterPusher\n\t%s", path, i+1, m, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
