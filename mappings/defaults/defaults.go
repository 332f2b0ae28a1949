// Package defaults holds the bundled default mapping sets, embedded in the
// binary so that a project can use them (defaults: bc-dataverse) or reset
// its own copies to them.
package defaults

import (
	"embed"
	"io/fs"
	"sort"
)

// FS holds one directory per default set, each with one YAML file per
// table mapping.
//
//go:embed bc-dataverse/*.yaml
var FS embed.FS

// Sets lists the default sets in fsys, sorted.
func Sets(fsys fs.FS) []string {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}
