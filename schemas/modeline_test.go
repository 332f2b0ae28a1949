package schemas

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// schemaOf returns the schema file a YAML file of the given name is
// checked against.
func schemaOf(name string) string {
	switch {
	case name == "coupler.yaml":
		return ProjectFile
	case strings.HasSuffix(name, ".test.yaml"):
		return TestFile
	}
	return MappingFile
}

// TestRepositoryModelines checks the modelines of the YAML files in this
// repository: the bundled default sets, the examples and the test data
// must each have one, and every modeline must be a relative path that
// reaches the schema of its file's kind here, so that an editor opened on
// a clone checks the file offline (coupler init rewrites the bundled
// files' to point at the project's copy).
func TestRepositoryModelines(t *testing.T) {
	root := ".."
	required := []string{"mappings/defaults/", "examples/", "engine/testdata/"}
	checked := map[string]int{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if e.IsDir() {
			if e.Name() == "node_modules" || strings.HasPrefix(e.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".yaml") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		first, _, _ := strings.Cut(string(src), "\n")
		first = strings.TrimRight(first, "\r")
		need := ""
		for _, r := range required {
			if strings.HasPrefix(rel, r) {
				need = r
			}
		}
		if !strings.HasPrefix(first, ModelinePrefix) {
			if need != "" {
				t.Errorf("%s: no modeline; want %q first", rel, ModelinePrefix+"<relative path to schemas/"+schemaOf(path.Base(rel))+">")
			}
			return nil
		}
		target := strings.TrimPrefix(first, ModelinePrefix)
		want := path.Join("schemas", schemaOf(path.Base(rel)))
		if got := path.Join(path.Dir(rel), target); got != want || strings.Contains(target, "://") {
			t.Errorf("%s: the modeline points at %s, want the relative path to %s", rel, target, want)
		}
		checked[need]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range required {
		if checked[r] == 0 {
			t.Errorf("no YAML file with a modeline under %s", r)
		}
	}
}
