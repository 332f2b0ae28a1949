package scaffold

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/couplerhq/coupler/mappings"
	"github.com/couplerhq/coupler/schemas"
)

func TestModeline(t *testing.T) {
	tests := []struct{ path, want string }{
		{"coupler.yaml", "# yaml-language-server: $schema=.coupler-schemas/coupler.schema.json"},
		{"mappings/customer.yaml", "# yaml-language-server: $schema=../.coupler-schemas/mapping.schema.json"},
		{"mappings/customer.test.yaml", "# yaml-language-server: $schema=../.coupler-schemas/test.schema.json"},
		{"mappings/erp/vendor.yaml", "# yaml-language-server: $schema=../../.coupler-schemas/mapping.schema.json"},
	}
	for _, tt := range tests {
		if got := Modeline(tt.path); got != tt.want {
			t.Errorf("Modeline(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	for _, tt := range []struct{ src, want string }{
		{"# yaml-language-server: $schema=../../../schemas/mapping.schema.json\nname: X\n", "# yaml-language-server: $schema=../.coupler-schemas/mapping.schema.json\nname: X\n"},
		{"# yaml-language-server: $schema=x", "# yaml-language-server: $schema=../.coupler-schemas/mapping.schema.json"},
		{"name: X\n", "name: X\n"},
		{"# a comment\n# yaml-language-server: $schema=x\n", "# a comment\n# yaml-language-server: $schema=x\n"},
	} {
		if got := string(WithModeline("mappings/x.yaml", []byte(tt.src))); got != tt.want {
			t.Errorf("WithModeline(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}

// TestInitWritesSchemas checks that every YAML file init writes starts
// with a modeline whose relative path reaches the schema of its kind, a
// copy of the embedded one, so that editors check it offline; and that
// reset refreshes a stale copy.
func TestInitWritesSchemas(t *testing.T) {
	dir := t.TempDir()
	res, err := Init(dir, InitOptions{Set: "bc-dataverse"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Schemas) != len(schemas.All) {
		t.Errorf("wrote schemas %q, want all %d", res.Schemas, len(schemas.All))
	}
	files := []string{mappings.ProjectFile}
	for _, f := range res.Files {
		files = append(files, f.Target())
	}
	tests := 0
	for _, p := range files {
		src, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(src), "\n")
		if first != Modeline(p) {
			t.Errorf("%s: first line %q, want %q", p, first, Modeline(p))
			continue
		}
		target := path.Join(path.Dir(p), strings.TrimPrefix(first, schemas.ModelinePrefix))
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(target)))
		if err != nil {
			t.Errorf("%s: the modeline's schema: %v", p, err)
			continue
		}
		for _, s := range schemas.All {
			if s.File == SchemaFor(p) && !bytes.Equal(got, s.Data) {
				t.Errorf("%s: %s is not the embedded %s schema", p, target, s.Name)
			}
		}
		if mappings.IsTestFile(p) {
			tests++
		}
	}
	if tests == 0 {
		t.Error("init wrote no test file")
	}

	stale := filepath.Join(dir, SchemasDir, schemas.MappingFile)
	if err := os.WriteFile(stale, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := PlanReset(dir, ResetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Apply(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(stale); !bytes.Equal(got, schemas.Mapping) {
		t.Error("reset left a stale schema")
	}
}
