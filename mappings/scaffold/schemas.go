package scaffold

import (
	"bytes"
	"path"
	"path/filepath"
	"strings"

	"github.com/couplerhq/coupler/mappings"
	"github.com/couplerhq/coupler/schemas"
)

// SchemasDir holds a copy of coupler's JSON Schemas in a project, which the
// modelines of the files init writes point at by relative paths: editors
// find them offline, and they are committed with the project (unlike
// .coupler/, which holds the state). init writes them and reset refreshes
// them.
const SchemasDir = ".coupler-schemas"

// WriteSchemas writes every embedded schema into dir/.coupler-schemas,
// replacing older copies, and returns their slash-separated paths relative
// to dir.
func WriteSchemas(dir string) ([]string, error) {
	var paths []string
	for _, s := range schemas.All {
		p := SchemasDir + "/" + s.File
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(p)), s.Data); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// SchemaFor returns the file name of the schema a project file is checked
// against, by its slash-separated path relative to the project directory:
// the project schema for coupler.yaml, the test schema for name.test.yaml,
// else the mapping schema.
func SchemaFor(p string) string {
	switch {
	case p == mappings.ProjectFile:
		return schemas.ProjectFile
	case mappings.IsTestFile(p):
		return schemas.TestFile
	}
	return schemas.MappingFile
}

// Modeline returns the modeline of the project file at p (slash-separated,
// relative to the project directory): the relative path from its directory
// to its schema in SchemasDir.
func Modeline(p string) string {
	up := strings.Repeat("../", strings.Count(path.Clean(p), "/"))
	return schemas.Modeline(up + SchemasDir + "/" + SchemaFor(p))
}

// WithModeline returns src, the content of the project file at p, with
// its first line made p's modeline when it is a modeline (a bundled file's
// points into this repository's schemas/). Other content is returned as
// it is.
func WithModeline(p string, src []byte) []byte {
	if !bytes.HasPrefix(src, []byte(schemas.ModelinePrefix)) {
		return src
	}
	rest := src[len(src):]
	if i := bytes.IndexByte(src, '\n'); i >= 0 {
		rest = src[i:]
	}
	return append([]byte(Modeline(p)), rest...)
}
